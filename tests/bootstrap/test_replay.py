"""The saved bootstrap histories (recorded by `record_histories.py`) replay against the current code."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.bootstrap_workflow import BootstrapWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_saved_histories() -> None:
    assert HISTORIES, "record them with: python -m tests.bootstrap.record_histories"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_saved_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json("bootstrap/sub/rg/aks", path.read_text())
    await Replayer(workflows=[BootstrapWorkflow], data_converter=pydantic_data_converter).replay_workflow(
        history
    )
