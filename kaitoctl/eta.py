"""How long each phase takes for a SKU: the p50 of the last N provisionings on that SKU.

The samples are the phase timings of earlier workspaces' workflows (found through visibility by the
`KaitoInstanceType` search attribute, read with their status query), so the estimate follows what this
cluster and region really do: a GPU pool in one region can take twice as long as in another.
"""

import asyncio
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from workflows import search_attributes as sa
from workflows.workspace_contracts import STATUS_QUERY, WORKSPACE_WORKFLOW, WorkspaceStatus

LAST_N = 10
QUERY_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class PhaseEstimate:
    """The median duration of a phase and how many earlier provisionings it comes from."""

    seconds: float
    samples: int


def estimates_from(statuses: Sequence[WorkspaceStatus]) -> dict[str, PhaseEstimate]:
    """Per phase, the median of the finished timings (an unfinished phase is no sample)."""
    durations: dict[str, list[float]] = {}
    for status in statuses:
        for phase, timing in status.timings.items():
            if timing.finished is not None:
                durations.setdefault(phase, []).append((timing.finished - timing.started).total_seconds())
    return {phase: PhaseEstimate(statistics.median(d), len(d)) for phase, d in durations.items()}


def same_sku_query(instance_type: str) -> str:
    quoted = instance_type.replace("\\", "\\\\").replace('"', '\\"')
    return f'WorkflowType = "{WORKSPACE_WORKFLOW}" AND {sa.INSTANCE_TYPE.name} = "{quoted}"'


async def _status(client: Client, workflow_id: str, run_id: str | None) -> WorkspaceStatus | None:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    try:
        status: WorkspaceStatus = await asyncio.wait_for(
            handle.query(STATUS_QUERY, result_type=WorkspaceStatus), QUERY_TIMEOUT_SECONDS
        )
        return status
    except (RPCError, WorkflowQueryFailedError, TimeoutError):
        return None  # no worker to answer for an old run, or it ended: no sample


async def phase_estimates(
    client: Client, instance_type: str, *, exclude: str, last_n: int = LAST_N
) -> dict[str, PhaseEstimate]:
    """The p50 per phase over the last `last_n` other workflows on `instance_type` (newest first)."""
    runs: list[tuple[str, str | None]] = []
    async for execution in client.list_workflows(same_sku_query(instance_type), limit=last_n + 1):
        if execution.id != exclude and len(runs) < last_n:
            runs.append((execution.id, execution.run_id))
    statuses = await asyncio.gather(*(_status(client, wid, rid) for wid, rid in runs))
    return estimates_from([s for s in statuses if s is not None])
