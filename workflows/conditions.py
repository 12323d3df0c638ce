"""KAITO's status vocabulary, and the one place that says which state and conditions each step sets.

Keeping KAITO's types and reasons means `kubectl get workspace` columns (ResourceReady, InferenceReady,
WorkspaceSucceeded) read the same as under KAITO; `message` carries our extra detail. The workspace
workflow and the controllers change a Workspace's status only through `KaitoStatus`'s transitions.
"""

from collections.abc import Callable
from datetime import datetime

from temporalio.exceptions import ApplicationError

from workflows.workspace_contracts import AgentPoolState, CapacityReport, Condition, NodeReadiness, Phase

NODE_CLAIM_READY = "NodeClaimReady"
NODES_READY = "NodesReady"
RESOURCE_READY = "ResourceReady"
INFERENCE_READY = "InferenceReady"
WORKSPACE_SUCCEEDED = "WorkspaceSucceeded"
WORKSPACE_DELETING = "WorkspaceDeleting"
SUSPENDED = "Suspended"
SKU_SELECTED = "InstanceTypeSelected"  # ours: which VM size the pool uses, and why

STATE_PENDING = "Pending"
STATE_READY = "Ready"
STATE_FAILED = "Failed"
STATE_DELETING = "Deleting"
STATE_SUSPENDED = "Suspended"
SKU_SELECTED = "InstanceTypeSelected"  # ours: which VM size the pool uses, and why

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"

# KAITO's reasons (their odd capitalisation included); Suspended and spec updates are ours.
REASON_PENDING = "workspacePending"
REASON_NODE_CLAIMS_READY = "NodeClaimsReady"
REASON_NODES_READY = "NodesReady"
REASON_RESOURCE_READY = "workspaceResourceStatusSuccess"
REASON_RESOURCE_NOT_READY = "workspaceResourceStatusNotReady"
REASON_INFERENCE_READY = "WorkspaceInferenceStatusSuccess"
REASON_INFERENCE_FAILED = "WorkspaceInferenceStatusFailed"
REASON_SUCCEEDED = "workspaceSucceeded"
REASON_FAILED = "workspaceFailed"  # when the failure names no type of its own
REASON_INVALID = "WorkspaceInvalid"
REASON_DELETED = "workspaceDeleted"
REASON_SCALED_TO_ZERO = "ScaledToZero"
REASON_SUSPENDED = "WorkspaceSuspended"
REASON_RESUMED = "Resumed"
REASON_UPDATE_REJECTED = "SpecUpdateRejected"
REASON_WAITING_FOR_CAPACITY = "WaitingForCapacity"
REASON_PREFERRED_SKU = "InstanceType"
REASON_FALLBACK_SKU = "FallbackInstanceType"

# metav1.Condition's (and the CRD's) limit. A message is never cut short of its numbers: ours are a few
# sentences, and only a runaway text reaches this.
MAX_MESSAGE = 32768

_WAITING_FOR_INFERENCE = (Phase.WAITING_FOR_INFERENCE, Phase.HEALTH_CHECKING)


class KaitoStatus:
    """A Workspace's KAITO `state` and conditions, changed only by the transitions below.

    A condition keeps its lastTransitionTime while its status stays the same, as Kubernetes expects.
    """

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.state = STATE_PENDING
        self._clock = clock
        self._by_type: dict[str, Condition] = {}

    def conditions(self) -> list[Condition]:
        return list(self._by_type.values())

    def provisioning_started(self) -> None:
        for type_ in (NODE_CLAIM_READY, RESOURCE_READY, INFERENCE_READY, WORKSPACE_SUCCEEDED):
            self._set(type_, UNKNOWN, REASON_PENDING, "provisioning has started")

    def waiting_for_capacity(self, text: str) -> None:
        """No GPU quota (or capacity) free yet: the workspace waits in its family's queue, saying for what."""
        self._set(RESOURCE_READY, FALSE, REASON_WAITING_FOR_CAPACITY, text)
        self._set(NODE_CLAIM_READY, FALSE, REASON_WAITING_FOR_CAPACITY, text)

    def sku_selected(self, instance_type: str, why: str, *, fallback: bool) -> None:
        reason = REASON_FALLBACK_SKU if fallback else REASON_PREFERRED_SKU
        self._set(SKU_SELECTED, TRUE, reason, f"{instance_type}: {why}")

    def pool_created(self, pool: AgentPoolState) -> None:
        text = f"agent pool {pool.name}: {pool.count} × {pool.vm_size} {pool.provisioning_state}"
        self._set(NODE_CLAIM_READY, TRUE, REASON_NODE_CLAIMS_READY, text)

    def nodes_ready(self, nodes: NodeReadiness) -> None:
        text = f"{nodes.ready} node(s) Ready: {', '.join(nodes.nodes)}"
        self._set(NODES_READY, TRUE, REASON_NODES_READY, text)
        self._set(RESOURCE_READY, TRUE, REASON_RESOURCE_READY, text)

    def serving(self, model: str, service: str, endpoint: str) -> None:
        """The health check answered: the workspace is Ready."""
        self._set(INFERENCE_READY, TRUE, REASON_INFERENCE_READY, f"{model} answered through {service}")
        self._set(WORKSPACE_SUCCEEDED, TRUE, REASON_SUCCEEDED, f"serving at {endpoint}")
        self.state = STATE_READY

    def inference_failing(self, reason: str, text: str) -> None:
        """After Ready, a pod stopped serving (CrashLoopBackOff, OOMKilled, …): say so, with KAITO's types."""
        self._set(INFERENCE_READY, FALSE, reason, text)
        self._set(WORKSPACE_SUCCEEDED, FALSE, reason, text)

    def suspended(self, since: datetime, reason: str) -> None:
        text = (
            f"since {since.isoformat(timespec='seconds')}: {reason}; "
            "the first request to its Service wakes it (or `kaitoctl workspace resume`)"
        )
        self._set(SUSPENDED, TRUE, REASON_SCALED_TO_ZERO, text)
        self._set(RESOURCE_READY, FALSE, REASON_SUSPENDED, "the GPU pool is at 0")
        self._set(INFERENCE_READY, FALSE, REASON_SUSPENDED, "0 replicas")
        self.state = STATE_SUSPENDED

    def resumed(self) -> None:
        self._set(SUSPENDED, FALSE, REASON_RESUMED, "serving again")

    def update_refused(self, text: str) -> None:
        """The previous spec keeps serving, so WorkspaceSucceeded stays True; the message says why."""
        message = f"update refused, still serving the previous spec: {text}"
        self._set(WORKSPACE_SUCCEEDED, TRUE, REASON_UPDATE_REJECTED, message)

    def failed(self, phase: Phase, failure: ApplicationError) -> None:
        """The failure's type is the reason; the condition of the step that failed goes False too."""
        text = failure.message  # str() would repeat the type, which is the reason already
        self._set(WORKSPACE_SUCCEEDED, FALSE, failure.type or REASON_FAILED, text)
        if phase == Phase.WAITING_FOR_NODES:
            self._set(RESOURCE_READY, FALSE, REASON_RESOURCE_NOT_READY, text)
        if phase in _WAITING_FOR_INFERENCE:
            self._set(INFERENCE_READY, FALSE, REASON_INFERENCE_FAILED, text)
        self.state = STATE_FAILED

    def invalid(self, text: str) -> None:
        """Refused as KAITO's admission webhook would refuse it (the controller's answer to a bad spec)."""
        self._set(WORKSPACE_SUCCEEDED, FALSE, REASON_INVALID, text)
        self.state = STATE_FAILED

    def deleting(self) -> None:
        self._set(WORKSPACE_DELETING, TRUE, REASON_DELETED, "tearing down")
        self.state = STATE_DELETING

    def _set(self, type_: str, status: str, reason: str, message: str) -> None:
        previous = self._by_type.get(type_)
        now = self._clock()
        since = previous.last_transition_time if previous and previous.status == status else now
        self._by_type[type_] = Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message[:MAX_MESSAGE],
            last_transition_time=since,
        )


def capacity_text(report: CapacityReport, model: str, *, queued: bool) -> str:
    """Why a pool waits, in two sentences: the numbers (and the place in the queue), then the fix."""
    r = report
    cause = (
        f"{r.instance_type} needs {r.needed} vCPUs of the {r.family} quota in {r.location}: the limit is "
        f"{r.limit}, {r.usage} are in use and {r.free} are free"
    )
    if queued or r.ahead:
        cause += f"; place {r.ahead + 1} in the {r.family} queue, {r.ahead_cores} vCPUs wanted ahead of it"
    fix = (
        f"Fix: request a {r.family} quota of at least {r.usage + r.ahead_cores + r.needed} vCPUs in "
        f"{r.location}"
    )
    alt = r.alternative
    if alt is not None:
        fix += (
            f", or use {alt.instance_type}, the cheapest other size that fits {model} with quota free "
            f"({alt.free} vCPUs of {alt.family} free, {alt.cores} needed), "
            "in kaito.sh/fallback-instance-types"
        )
    else:
        fix += f"; no other size that fits {model} has quota free"
    return f"{cause}. {fix}."
