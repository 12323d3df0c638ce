"""Why `workflow.patched`: a change to the commands a workflow issues breaks the replay of a run that
started before the deploy, unless the change is guarded. Shown on a saved bootstrap history: the same
new step (a timer before the first activity) fails the replay unguarded and replays guarded."""

from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, WorkflowReplayResult
from temporalio.workflow import NondeterminismError

from workflows.bootstrap_contracts import BootstrapRequest, BootstrapResult
from workflows.bootstrap_workflow import BootstrapWorkflow

OLD_RUN = Path(__file__).parent / "histories" / "bootstrap-principal-not-found-twice.json"
PATCH = "settle-before-enabling"


@workflow.defn(name="BootstrapWorkflow", sandboxed=False)
class UnguardedChange(BootstrapWorkflow):
    """A deploy that adds a step and forgets the runs already in flight."""

    @workflow.run
    async def run(self, req: BootstrapRequest) -> BootstrapResult:
        await workflow.sleep(timedelta(seconds=5))
        return await super().run(req)


@workflow.defn(name="BootstrapWorkflow", sandboxed=False)
class GuardedChange(BootstrapWorkflow):
    """The same step, taken only by runs that start after the deploy."""

    @workflow.run
    async def run(self, req: BootstrapRequest) -> BootstrapResult:
        if workflow.patched(PATCH):
            await workflow.sleep(timedelta(seconds=5))
        return await super().run(req)


async def replay(workflow_class: type) -> WorkflowReplayResult:
    history = WorkflowHistory.from_json("bootstrap/sub/rg/aks", OLD_RUN.read_text())
    replayer = Replayer(workflows=[workflow_class], data_converter=pydantic_data_converter)
    return await replayer.replay_workflow(history, raise_on_replay_failure=False)


async def test_an_unguarded_change_fails_the_replay_of_an_old_run() -> None:
    result = await replay(UnguardedChange)
    assert isinstance(result.replay_failure, NondeterminismError), result.replay_failure
    assert "Timer machine does not handle" in str(result.replay_failure), "a new timer meets the old activity"


async def test_the_change_guarded_by_patched_replays_the_old_run() -> None:
    result = await replay(GuardedChange)
    assert result.replay_failure is None, result.replay_failure


async def test_the_current_code_replays_the_old_run() -> None:
    result = await replay(BootstrapWorkflow)
    assert result.replay_failure is None, result.replay_failure
