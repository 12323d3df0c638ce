"""The workers' interceptors (phase metrics, ARM errors, tracing) leave every saved history replayable:
they observe, they never add or reorder a command."""

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from temporalio.client import WorkflowHistory
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.workflow.test_replay import HISTORIES
from worker.metrics import ArmErrorMetricsInterceptor
from worker.metrics_workflow import PhaseMetricsInterceptor
from workflows.sweep_workflow import ScaleToZeroSweep
from workflows.workspace_workflow import WorkspaceWorkflow


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_saved_history_replays_with_the_workers_interceptors(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    tracing = TracingInterceptor(TracerProvider().get_tracer("replay"), always_create_workflow_spans=True)
    replayer = Replayer(
        workflows=[WorkspaceWorkflow, ScaleToZeroSweep],
        data_converter=pydantic_data_converter,
        interceptors=[PhaseMetricsInterceptor(), ArmErrorMetricsInterceptor(), tracing],
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} does not replay with them: {result.replay_failure}"
