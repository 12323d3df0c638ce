"""Fixtures: the shared Azure emulator and SDK clients (tests/azure_fixtures.py), the activities bound to
them with short waits, the falcon-7b plan, a runner of single attempts that records heartbeats, and the
time-skipping Temporal server for the "retried by Temporal" cases (tests/azure_activities/run_activity.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.msi.aio import ManagedServiceIdentityClient

from activities.agent_pools import AgentPoolActivities
from activities.azure_identity import IdentityActivities
from activities.azure_waits import Waits
from activities.config import ActivityConfig, ClusterTarget
from localcloud.azure import AzureEmulator
from tests.azure_activities.run_activity import Activities
from tests.azure_fixtures import *  # noqa: F403 (the shared fixtures, see its __all__)
from tests.conftest import load_example
from tests.temporal_fixtures import temporal_env  # noqa: F401 (fixture)
from workflows.workspace_contracts import ProvisioningPlan
from workflows.workspace_plan import build_plan
from workflows.workspace_spec import Workspace

RG = "kaito-rg"
CLUSTER = "kaito-aks"
# A busy resource is retried after 50 ms instead of 10 s; heartbeats every 20 ms, so that a 0.2 s
# operation shows several.
FAST = Waits(busy_retry=timedelta(milliseconds=50), heartbeat_every=timedelta(milliseconds=20))


def activity_config(emulator: AzureEmulator) -> ActivityConfig:
    return ActivityConfig(
        cluster=ClusterTarget(
            subscription_id=emulator.config.subscription_id, resource_group=RG, cluster_name=CLUSTER
        )
    )


@pytest.fixture
def pools(emulator: AzureEmulator, aks: ContainerServiceClient) -> AgentPoolActivities:
    return AgentPoolActivities(activity_config(emulator), aks, waits=FAST)


@pytest.fixture
def identities(
    aks: ContainerServiceClient, msi: ManagedServiceIdentityClient, authz: AuthorizationManagementClient
) -> IdentityActivities:
    return IdentityActivities(aks, msi, authz, waits=FAST)


@pytest.fixture
def plan(emulator: AzureEmulator) -> ProvisioningPlan:
    """falcon-7b on Standard_NC12s_v3 (the KAITO walkthrough), as the validate activity plans it."""
    ws = Workspace.model_validate(load_example("workspace-falcon-7b.yaml"))
    return build_plan(ws, activity_config(emulator))


@pytest.fixture
def act() -> Activities:
    return Activities()
