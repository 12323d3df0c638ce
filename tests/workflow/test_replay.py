"""Saved histories replay against the current workflow code: a deploy never breaks running workspaces.

One history per branch a change could break (see `record_histories.py`): provision → Ready → delete,
suspend and resume, a failed resume, a deadline failure with cleanup, a refused pool, delete during the
GPU wait, spec changes, both runs of a continue-as-new, and a scale-to-zero sweep. All but one were
recorded before the `recounts-run-to-end` patch (`workflows/workspace_steps.py`), so they show the patched
code replaying old runs; `delete-during-recount` was recorded with it. `capacity-wait` was recorded with
the `capacity-aware` patch (`workflows/workspace_capacity.py`), which every older history replays without.
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.sweep_workflow import ScaleToZeroSweep
from workflows.workspace_workflow import WorkspaceWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
BRANCHES = {
    "provision-ready-delete",
    "suspend-resume-delete",
    "failed-resume",
    "suspend-wake-delete",
    "failed-wake",
    "failure-with-cleanup",
    "pool-refused",
    "delete-during-gpu-wait",
    "delete-during-recount",
    "spec-changes",
    "continue-as-new-first-run",
    "continue-as-new-second-run",
    "sweep-suspends-idle",
    "capacity-wait",
    "spot-eviction-and-pod-health",
}


def test_every_branch_has_a_saved_history() -> None:
    missing = BRANCHES - {path.stem for path in HISTORIES}
    assert not missing, f"record them with: python -m tests.workflow.record_histories {' '.join(missing)}"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_saved_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    workflows = [WorkspaceWorkflow, ScaleToZeroSweep]
    replayer = Replayer(workflows=workflows, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"
