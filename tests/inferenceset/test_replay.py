"""Saved InferenceSet histories replay against the current workflow code (see `record_histories.py`)."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.inferenceset.record_histories import RECORDED
from workflows.inferenceset_workflow import InferenceSetWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_every_scenario_has_a_saved_history() -> None:
    missing = set(RECORDED) - {path.stem for path in HISTORIES}
    assert not missing, f"record them with: python -m tests.inferenceset.record_histories ({missing})"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_saved_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=[InferenceSetWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"
