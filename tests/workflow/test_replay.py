"""Saved histories replay against the current workflow code: a deploy never breaks running workspaces."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.workspace import WorkspaceWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_saved_histories() -> None:
    assert HISTORIES, "record them with: python -m tests.workflow.record_histories"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_saved_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json("workspace/default/workspace-falcon-7b", path.read_text())
    replayer = Replayer(workflows=[WorkspaceWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
