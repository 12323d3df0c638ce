"""Phase durations of the workspace workflow, recorded by a workflow interceptor (the workflow is untouched).

Each phase change writes the Workspace's status (the `write_workspace_status` activity); when that
activity starts, the interceptor reads the workflow's own status (the query handler, a pure read) and,
if the phase moved, records how long the previous phase took, by phase and SKU. The workflow metric
meter records nothing while a history replays, so a worker restart or a cache eviction counts nothing
twice. Sandbox-safe: only temporalio and our workflow contracts.
"""

from typing import Any

from temporalio import workflow
from temporalio.worker import (
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from worker.metrics_names import PHASE_DURATION, PHASE_TRANSITIONS
from workflows.workspace_contracts import WORKSPACE_WORKFLOW, ActivityName, Phase, WorkspaceStatus

# A phase a workspace rests in is a lifetime, not a step of provisioning: no duration for those.
RESTING = frozenset({Phase.READY, Phase.SUSPENDED, Phase.FAILED, Phase.DELETED})


class PhaseMetricsInterceptor(Interceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _Inbound


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_PhaseObserver(outbound))


class _PhaseObserver(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor) -> None:
        super().__init__(next)
        self._seen: Phase | None = None

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        if (
            input.activity == ActivityName.WRITE_STATUS
            and workflow.info().workflow_type == WORKSPACE_WORKFLOW
        ):
            self._observe()
        return super().start_activity(input)

    def _observe(self) -> None:
        if workflow.info().workflow_type != WORKSPACE_WORKFLOW:
            return
        status = getattr(workflow.instance(), "status", None)
        if status is None:
            return
        current: WorkspaceStatus = status()
        previous, self._seen = self._seen, current.phase
        if previous is None or previous == current.phase:
            return  # the first write a run makes, or a status write within one phase
        meter = workflow.metric_meter()
        sku = current.instance_type or "unknown"
        meter.create_counter(PHASE_TRANSITIONS, "phase changes of workspaces, by the phase entered").add(
            1, {"phase": current.phase.value, "instance_type": sku}
        )
        timing = current.timings.get(previous.value)
        if previous in RESTING or timing is None or timing.finished is None:
            return
        meter.create_histogram_float(
            PHASE_DURATION, "how long each provisioning phase took, by phase and VM size", "s"
        ).record(
            (timing.finished - timing.started).total_seconds(),
            {"phase": previous.value, "instance_type": sku},
        )
