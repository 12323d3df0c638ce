"""The saved bootstrap history (recorded by `record_histories.py`) replays against the current code."""

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.bootstrap_workflow import BootstrapWorkflow

HISTORY = Path(__file__).parent / "histories" / "bootstrap-principal-not-found-twice.json"


async def test_the_saved_history_replays() -> None:
    history = WorkflowHistory.from_json("bootstrap/sub/rg/aks", HISTORY.read_text())
    await Replayer(workflows=[BootstrapWorkflow], data_converter=pydantic_data_converter).replay_workflow(
        history
    )
