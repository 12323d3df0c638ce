"""Delete a workspace while its GPU pool is still being created: the workflow abandons the wait,
the pool create settles and is deleted, and nothing of the workspace is left anywhere."""

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import STEP_TIMEOUT, Stack, example
from tests.e2e.test_seed_walkthrough import gone
from tests.waiting import wait_for
from workflows.naming import agent_pool_name

pytestmark = pytest.mark.controlplane


@pytest.fixture
def slow_pool_creates(stack: Stack) -> Iterator[object]:
    before = stack.azure("/_emulator/settings")["durations"]
    stack.azure("/_emulator/settings", patch={"durations": {"pool_create": 20}})
    yield before
    stack.azure("/_emulator/settings", patch={"durations": before})


def test_delete_while_the_pool_is_being_created(stack: Stack, slow_pool_creates: object) -> None:
    stack.apply(example("workspace-phi-3-mini.yaml", name="early-exit", namespace="default"))
    wait_for(
        lambda: stack.phase("early-exit") == "CreatingNodePool", "the pool create to be under way",
        timeout=STEP_TIMEOUT,
    )  # fmt: skip
    stack.kubectl("delete", "workspace", "early-exit", "--timeout=120s")
    wait_for(lambda: gone(stack, "early-exit"), "everything of early-exit to be gone", timeout=STEP_TIMEOUT)
    described = stack.temporal(
        "workflow", "describe", "--workflow-id", "workspace/default/early-exit", "-o", "json"
    )
    assert '"WORKFLOW_EXECUTION_STATUS_COMPLETED"' in described.stdout
    pool = agent_pool_name("default", "early-exit")
    puts = [r for r in stack.requests("agentPools.put") if r["path"].endswith(f"/agentPools/{pool}")]
    deletes = [r for r in stack.requests("agentPools.delete") if r["path"].endswith(f"/agentPools/{pool}")]
    assert len(puts) == 1 and deletes, "the pool that was being created was deleted, and created once only"
