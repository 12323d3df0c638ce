"""The saved bootstrap histories (recorded by `record_histories.py`, one per branch: a principal not yet
replicated, nothing to change, a refused role assignment) replay against the current code."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.bootstrap.record_histories import BRANCHES
from workflows.bootstrap_workflow import BootstrapWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_every_branch_has_a_saved_history() -> None:
    missing = set(BRANCHES) - {path.stem for path in HISTORIES}
    assert not missing, f"record them with: python -m tests.bootstrap.record_histories {' '.join(missing)}"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_saved_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json("bootstrap/sub/rg/aks", path.read_text())
    await Replayer(workflows=[BootstrapWorkflow], data_converter=pydantic_data_converter).replay_workflow(
        history
    )
