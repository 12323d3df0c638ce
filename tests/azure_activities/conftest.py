"""Fixtures: the Azure emulator (second-scale operations) and the real async SDK clients over HTTPS, the
activities bound to them, an ActivityEnvironment that records heartbeats, and a Temporal worker on the
time-skipping test server for the "retried by Temporal" cases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.msi.aio import ManagedServiceIdentityClient
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities.agent_pools import AgentPoolActivities
from activities.azure_identity import IdentityActivities
from activities.azure_waits import Waits
from activities.config import ActivityConfig, ClusterTarget
from localcloud.azure import AzureEmulator, EmulatorConfig, OperationDurations
from tests.azure_activities.run_activity import ActivityCall, RunOneActivity
from tests.azure_emulator.oidc_issuer import TestIssuer
from tests.conftest import load_example, venv_binary
from workflows.workspace_contracts import ProvisioningPlan
from workflows.workspace_plan import build_plan
from workflows.workspace_spec import Workspace

RG = "kaito-rg"
CLUSTER = "kaito-aks"
# Polls every 20 ms instead of 10 s; heartbeats every 20 ms so a 0.3 s operation shows several.
FAST = Waits(poll_seconds=0.02, heartbeat_seconds=0.02, busy_rounds=200)
T = TypeVar("T")


@pytest.fixture
async def issuer(tmp_path: Path) -> AsyncIterator[TestIssuer]:
    iss = TestIssuer(tmp_path)
    await iss.start()
    yield iss
    await iss.stop()


@pytest.fixture
async def emulator(tmp_path: Path, issuer: TestIssuer) -> AsyncIterator[AzureEmulator]:
    config = EmulatorConfig(
        state_file=tmp_path / "azure-state.json",
        oidc_issuer_url=issuer.url,
        issuer_ca_files=[issuer.ca_file],
        durations=OperationDurations.uniform(0.3),
        send_retry_after=False,  # like AKS: the client's polling decides ...
        poll_hint_ms=20,  # ... and the emulator's retry-after-ms hint keeps polls at 20 ms
    )
    async with AzureEmulator(config) as emu:
        yield emu


@pytest.fixture
async def operator_credential(emulator: AzureEmulator) -> AsyncIterator[ClientSecretCredential]:
    cfg = emulator.config
    async with ClientSecretCredential(
        cfg.tenant_id, cfg.operator_client_id, cfg.operator_client_secret, **emulator.credential_kwargs()
    ) as cred:
        yield cred


ClientFactory = Callable[..., ContainerServiceClient]


@pytest.fixture
async def make_aks(
    emulator: AzureEmulator, operator_credential: ClientSecretCredential
) -> AsyncIterator[ClientFactory]:
    """ContainerServiceClient with extra pipeline settings (e.g. retry_total, read_timeout), closed after."""
    made: list[ContainerServiceClient] = []

    def make(**overrides: Any) -> ContainerServiceClient:
        client = ContainerServiceClient(
            operator_credential, emulator.config.subscription_id, **{**emulator.client_kwargs(), **overrides}
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
def aks(make_aks: ClientFactory) -> ContainerServiceClient:
    return make_aks()


@pytest.fixture
async def msi(
    emulator: AzureEmulator, operator_credential: ClientSecretCredential
) -> AsyncIterator[ManagedServiceIdentityClient]:
    async with ManagedServiceIdentityClient(
        operator_credential, emulator.config.subscription_id, **emulator.client_kwargs()
    ) as client:
        yield client


@pytest.fixture
async def authz(
    emulator: AzureEmulator, operator_credential: ClientSecretCredential
) -> AsyncIterator[AuthorizationManagementClient]:
    async with AuthorizationManagementClient(
        operator_credential, emulator.config.subscription_id, **emulator.client_kwargs()
    ) as client:
        yield client


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


@dataclass
class Activities:
    """Runs activities as Temporal would run one attempt, recording every heartbeat."""

    heartbeats: list[Any] = field(default_factory=list)

    async def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        env = ActivityEnvironment()
        env.on_heartbeat = lambda *details: self.heartbeats.extend(details)
        return await env.run(fn, *args)

    async def fails(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> ApplicationError:
        with pytest.raises(ApplicationError) as err:
            await self.run(fn, *args)
        return err.value


@pytest.fixture
def act() -> Activities:
    return Activities()


@pytest.fixture
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(venv_binary("temporal-test-server")),
        data_converter=pydantic_data_converter,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@dataclass
class Outcome:
    result: dict[str, Any] | None
    error: BaseException | None
    attempts: int  # the attempt that finished (Temporal records only the last attempt's start)
    history: WorkflowHistory


@asynccontextmanager
async def worker(client: Client, activities: list[Callable[..., Any]]) -> AsyncIterator[str]:
    queue = f"azure-activities-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[RunOneActivity], activities=activities):
        yield queue


async def run_in_temporal(
    env: WorkflowEnvironment,
    activities: list[Callable[..., Any]],
    name: str,
    arg: Any,
    *,
    maximum_attempts: int = 5,
) -> Outcome:
    """Run one activity through a real worker, its retry policy enforced by the Temporal server."""
    payload = arg.model_dump(mode="json")
    async with worker(env.client, activities) as queue:
        handle = await env.client.start_workflow(
            RunOneActivity.run,
            ActivityCall(activity=name, arg=payload, maximum_attempts=maximum_attempts),
            id=f"run-{name}-{uuid.uuid4()}",
            task_queue=queue,
            execution_timeout=timedelta(minutes=2),
        )
        result: dict[str, Any] | None = None
        error: BaseException | None = None
        try:
            result = await handle.result()
        except Exception as exc:
            error = exc
        history = await handle.fetch_history()
    starts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    return Outcome(result, error, starts[-1] if starts else 0, history)
