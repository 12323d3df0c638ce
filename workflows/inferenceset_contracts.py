"""What the InferenceSet workflow exchanges with its activities, the controller and clients.

Activities are called by these names, so tests register fakes under them and the workflow never imports
activity code. Every model is pydantic (the pydantic data converter); new fields get defaults so that
running histories keep decoding.
"""

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, Field
from temporalio.common import RetryPolicy

from workflows.inferenceset_spec import InferenceSet
from workflows.workspace_contracts import Condition, Phase

INFERENCESET_WORKFLOW = "InferenceSetWorkflow"
STATUS_QUERY = "status"


class ActivityName(StrEnum):
    VALIDATE = "validate_inferenceset"
    OBSERVE = "observe_inferenceset_workspaces"
    RESUME = "resume_inferenceset_workspace"
    WRITE_STATUS = "write_inferenceset_status"


class SignalName(StrEnum):
    SPEC_CHANGED = "spec-changed"
    DELETE = "delete"
    # A replica's Workspace changed (the controller watches them): look at the replicas again now.
    WORKSPACE_CHANGED = "workspace-changed"


# KAITO's condition types on an InferenceSet, and ours beside them.
CONDITION_READY = "InferenceSetReady"
CONDITION_DELETING = "InferenceSetDeleting"
CONDITION_AUTOSCALING = "AutoscalingAnnotationsIgnored"
CONDITION_NODE_LIMIT = "NodeCountLimitReached"
CONDITION_SUSPENDED = "Suspended"


class Want(StrEnum):
    """What the set wants of one replica; its workflow's phase is what it is."""

    SERVE = "Serve"
    SUSPEND = "Suspend"
    DELETE = "Delete"


class Replica(BaseModel):
    """One replica: its Workspace's name, what the set wants of it, and what was last observed."""

    name: str
    want: Want = Want.SERVE
    phase: Phase | None = None  # its workflow's phase; None before the first observation
    closed: str | None = None  # how its workflow ended (Completed after a delete, Failed …)
    message: str = ""


class SetPlan(BaseModel):
    """What validation fixed: how many GPU nodes one replica takes, and the warnings to show."""

    nodes_per_replica: int = Field(ge=1)
    warnings: list[str] = Field(default_factory=list)


class Validation(BaseModel):
    """The validate activity's answer: a plan, or the problems (the set then waits for a fixed spec)."""

    plan: SetPlan | None = None
    problems: list[str] = Field(default_factory=list)


class ObserveRequest(BaseModel):
    namespace: str
    names: list[str]


class ReplicaState(BaseModel):
    name: str
    phase: Phase | None = None
    closed: str | None = None
    message: str = ""


class Observed(BaseModel):
    replicas: list[ReplicaState]


class ResumeRequest(BaseModel):
    namespace: str
    name: str


class SetStatusUpdate(BaseModel):
    """The InferenceSet's status subresource, as KAITO writes it."""

    namespace: str
    name: str
    api_version: str
    replicas: int
    ready_replicas: int
    selector: str
    conditions: list[Condition]


class InferenceSetStatus(BaseModel):
    """The `status` query's answer."""

    namespace: str
    name: str
    desired: int
    serving_limit: int | None = None
    ready_replicas: int = 0
    replicas: list[Replica] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)
    deleted: bool = False


class InferenceSetResult(BaseModel):
    message: str = ""


class WorkspaceChanged(BaseModel):
    name: str
    deleted: bool = False  # the Workspace object is gone from the cluster


class CarriedReplicas(BaseModel):
    """What a continued-as-new run must not forget: the replicas it owns and what it wants of them."""

    replicas: list[Replica] = Field(default_factory=list)


class ActivityOptions(BaseModel):
    start_to_close: timedelta
    retry: RetryPolicy

    model_config = {"arbitrary_types_allowed": True}


_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2, maximum_interval=timedelta(seconds=30)
)
# Each is a few quick calls (Temporal queries, one status patch); a retry repeats them harmlessly.
OPTIONS: dict[ActivityName, ActivityOptions] = {
    name: ActivityOptions(start_to_close=timedelta(seconds=60), retry=_RETRY) for name in ActivityName
}


def set_input(iset: InferenceSet) -> InferenceSet:
    """The workflow's input: the manifest without its status."""
    return iset.model_copy(update={"status": None})
