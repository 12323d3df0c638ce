"""KAITO's status vocabulary, and the one place that says which state and conditions each step sets.

Keeping KAITO's types and reasons means `kubectl get workspace` columns (ResourceReady, InferenceReady,
WorkspaceSucceeded) read the same as under KAITO; `message` carries our extra detail. The workspace
workflow and the controllers change a Workspace's status only through `KaitoStatus`'s transitions.
"""

from collections.abc import Callable
from datetime import datetime

from temporalio.exceptions import ApplicationError

from workflows.workspace_contracts import AgentPoolState, Condition, NodeReadiness, Phase

NODE_CLAIM_READY = "NodeClaimReady"
NODES_READY = "NodesReady"
RESOURCE_READY = "ResourceReady"
INFERENCE_READY = "InferenceReady"
WORKSPACE_SUCCEEDED = "WorkspaceSucceeded"
WORKSPACE_DELETING = "WorkspaceDeleting"
SUSPENDED = "Suspended"

STATE_PENDING = "Pending"
STATE_READY = "Ready"
STATE_FAILED = "Failed"
STATE_DELETING = "Deleting"
STATE_SUSPENDED = "Suspended"

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

MAX_MESSAGE = 256  # KAITO truncates detailed messages to 256 characters

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

    def suspended(self, since: datetime, reason: str) -> None:
        text = (
            f"since {since.isoformat(timespec='seconds')}: {reason}; resume with `kaitoctl workspace resume`"
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
        text = str(failure)
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
