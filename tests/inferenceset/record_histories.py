"""Record the InferenceSet workflow's histories for its replay test:
`python -m tests.inferenceset.record_histories [NAME ...]`.

Re-record only on purpose: a saved history is the contract that running InferenceSets keep replaying
after a deploy; a change that cannot replay one needs `workflow.patched`. Each scenario is one of the
time-skipping tests, run to its end; the set's own history is saved (its replicas' are the workspace
workflow's, replayed by tests/workflow/test_replay.py).
"""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.inferenceset import test_inferenceset_workflow as scenarios
from tests.temporal_fixtures import time_skipping_server
from tests.workflow.conftest import register_search_attributes
from tests.workflow.fakes import FakeCloud
from workflows.inferenceset_spec import workflow_id_for

HISTORIES = Path(__file__).parent / "histories"
Scenario = Callable[[WorkflowEnvironment, FakeCloud], Awaitable[None]]
RECORDED: dict[str, tuple[Scenario, str]] = {
    "scale-zero-and-back-delete": (
        scenarios.test_replicas_come_up_one_at_a_time_then_zero_suspends_and_scaling_up_resumes,
        "phi-4-mini",
    ),
    "remove-not-ready-first": (
        scenarios.test_scaling_down_removes_the_replica_that_is_not_ready_first,
        "scaled",
    ),
    "node-count-limit": (scenarios.test_node_count_limit_caps_the_replicas_and_says_so, "capped"),
    "failed-replica-removed-first": (scenarios.test_a_failed_replica_is_reported_and_removed_first, "short"),
}


async def record(name: str) -> None:
    scenario, set_name = RECORDED[name]
    async with time_skipping_server() as env:
        await register_search_attributes(env.client)
        await scenario(env, FakeCloud())
        history = await env.client.get_workflow_handle(workflow_id_for("default", set_name)).fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
    print(f"recorded {name}: {len(history.events)} events")


async def main(names: list[str]) -> None:
    HISTORIES.mkdir(exist_ok=True)
    for name in names or list(RECORDED):
        await record(name)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
