"""Timeouts sized to the work, so that a killed worker's attempt is retried within about 30 s: every
activity that heartbeats does so well within its heartbeat timeout, every other one has a start-to-close
of at most 30 s; and the agent-pool PUT heartbeats on each HTTP try of its ARM client, so an attempt
blocked in the SDK (throttled, retried, polling) still shows Temporal that its worker lives."""

from datetime import timedelta
from typing import Any

import pytest
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.containerservice.aio import ContainerServiceClient

from activities.agent_pools import AgentPoolActivities
from activities.azure_waits import Waits
from localcloud.azure import AzureEmulator
from tests.azure_activities.conftest import activity_config
from tests.azure_activities.run_activity import Activities
from tests.azure_fixtures import *  # noqa: F403 (the shared emulator fixtures)
from tests.conftest import load_example
from worker.clients import arm_client
from worker.settings import WorkerSettings
from workflows.activity_options import OPTIONS, RETRY_AFTER_WORKER_LOSS
from workflows.workspace_plan import build_plan
from workflows.workspace_spec import Workspace


@pytest.mark.parametrize("name", sorted(OPTIONS), ids=str)
def test_a_killed_workers_attempt_is_retried_within_about_30_seconds(name: str) -> None:
    options = OPTIONS[name]
    if options.heartbeat is None:
        assert options.start_to_close <= RETRY_AFTER_WORKER_LOSS, f"{name} waits {options.start_to_close}"
        return
    assert options.heartbeat <= RETRY_AFTER_WORKER_LOSS, f"{name}: heartbeat timeout {options.heartbeat}"
    beat = Waits().heartbeat_every  # the SDK sends at most one per 0.8 × the timeout: half leaves room
    assert beat * 2 <= options.heartbeat, f"{name} beats every {beat}, its timeout is {options.heartbeat}"


@pytest.fixture
def worker_settings(emulator: AzureEmulator) -> WorkerSettings:
    return WorkerSettings(
        subscription_id=emulator.config.subscription_id, resource_group="kaito-rg", cluster_name="kaito-aks",
        arm_endpoint=emulator.base_url, azure_ca_bundle=emulator.ca_file,
    )  # fmt: skip


async def test_the_pool_put_heartbeats_on_every_http_try_of_its_arm_client(
    emulator: AzureEmulator, operator_credential: ClientSecretCredential, worker_settings: WorkerSettings
) -> None:
    """The worker's own ARM client (`worker.clients.arm_client`), with no poller heartbeat at all (a wait
    far longer than the test): every heartbeat seen comes from the client's per-try policy."""
    aks = arm_client(ContainerServiceClient, worker_settings, operator_credential)  # type: ignore[arg-type]
    act = Activities()
    try:
        pools = AgentPoolActivities(
            activity_config(emulator), aks, waits=Waits(heartbeat_every=timedelta(hours=1))
        )
        plan = build_plan(
            Workspace.model_validate(load_example("workspace-falcon-7b.yaml")), activity_config(emulator)
        )
        await act.run(pools.ensure_agent_pool, plan)
    finally:
        await aks.close()
    beats: list[Any] = act.heartbeats
    assert any(str(b).startswith("PUT ") and "/agentPools/" in str(b) for b in beats), beats
    assert sum(str(b).startswith("GET ") for b in beats) >= 2, "the read, and the poller's polls"
