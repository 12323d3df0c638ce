"""KAITO's condition types, reasons and states, and a small book-keeper that sets them.

Keeping KAITO's vocabulary means `kubectl get workspace` columns (ResourceReady, InferenceReady,
WorkspaceSucceeded) read the same as under KAITO; `message` carries our extra detail.
"""

from datetime import datetime

from workflows.workspace_contracts import Condition

NODE_CLAIM_READY = "NodeClaimReady"
NODES_READY = "NodesReady"
RESOURCE_READY = "ResourceReady"
INFERENCE_READY = "InferenceReady"
WORKSPACE_SUCCEEDED = "WorkspaceSucceeded"
WORKSPACE_DELETING = "WorkspaceDeleting"
SUSPENDED = "Suspended"

STATE_PENDING = "Pending"
STATE_READY = "Ready"
STATE_NOT_READY = "NotReady"
STATE_FAILED = "Failed"
STATE_DELETING = "Deleting"
STATE_SUSPENDED = "Suspended"

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"

MAX_MESSAGE = 256  # KAITO truncates detailed messages to 256 characters


class ConditionBook:
    """Current conditions by type; `set` keeps lastTransitionTime when the status does not change."""

    def __init__(self, conditions: list[Condition] | None = None) -> None:
        self._by_type: dict[str, Condition] = {c.type: c for c in conditions or []}

    def set(self, type_: str, status: str, reason: str, message: str, now: datetime) -> None:
        previous = self._by_type.get(type_)
        since = previous.last_transition_time if previous and previous.status == status else now
        self._by_type[type_] = Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message[:MAX_MESSAGE],
            last_transition_time=since,
        )

    def get(self, type_: str) -> Condition | None:
        return self._by_type.get(type_)

    def all(self) -> list[Condition]:
        return list(self._by_type.values())
