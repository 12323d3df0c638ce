"""What the workspace workflow exchanges with its activities, controllers and clients.

Workflows call activities by these names, so a test can register fakes under the same names and the
workflow module never imports activity code (DESIGN: presets ← workflows ← activities ← worker).
Every model is pydantic, carried by the pydantic data converter; new fields get defaults so that
running histories keep decoding.
"""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, Field

from workflows.workspace_spec import AdapterSpec, Workspace

TASK_QUEUE = "kaito-provisioning"
WORKSPACE_WORKFLOW = "WorkspaceWorkflow"
BOOTSTRAP_TASK_QUEUE = "kaito-bootstrap"


class ActivityName(StrEnum):
    VALIDATE = "validate_workspace"
    ENSURE_OBJECT = "ensure_workspace_object"
    DELETE_OBJECT = "delete_workspace_object"
    ENSURE_AGENT_POOL = "ensure_agent_pool"
    DELETE_AGENT_POOL = "delete_agent_pool"
    COUNT_READY_NODES = "count_ready_nodes"
    ENSURE_INFERENCE = "ensure_inference"
    COUNT_READY_REPLICAS = "count_ready_replicas"
    DELETE_INFERENCE = "delete_inference"
    CHECK_HEALTH = "check_inference_health"
    SCALE_INFERENCE = "scale_inference"
    SCALE_AGENT_POOL = "scale_agent_pool"
    WRITE_STATUS = "write_workspace_status"
    CHECK_CAPACITY = "check_capacity"
    WAKE_CAPACITY_WAITERS = "wake_capacity_waiters"
    ROUTE_TO_GATEWAY = "route_service_to_gateway"
    ROUTE_TO_MODEL = "route_service_to_model"


class SignalName(StrEnum):
    NODES_READY = "nodes-ready"
    INFERENCE_READY = "inference-ready"
    SPEC_CHANGED = "spec-changed"
    DELETE = "delete"
    SUSPEND = "suspend"
    TRAFFIC_OBSERVED = "traffic-observed"
    CAPACITY_CHANGED = "capacity-changed"
    POD_HEALTH = "pod-health"


class UpdateName(StrEnum):
    RESUME = "resume"
    WAKE = "wake"


STATUS_QUERY = "status"
WAKE_QUERY = "wake"  # the wake gateway's view: Ready, or why not and the expected wait

# The wake gateway: one Deployment in the system namespace; a suspended workspace's Service routes to it.
WAKE_GATEWAY_APP = "kaito-wake-gateway"
WAKE_GATEWAY_PORT = 8080
# Our EndpointSlices' endpointslice.kubernetes.io/managed-by (a label value: no slash).
WAKE_GATEWAY_MANAGED_BY = "wake-gateway.kaito.sh"
ANNOTATION_ROUTED_TO = "kaito.sh/routed-to"  # on a workspace Service while the gateway holds it


class Phase(StrEnum):
    """Finer than KAITO's `state`: where the workflow is, shown in the UI and `kaitoctl workspace get`."""

    PENDING = "Pending"
    VALIDATING = "Validating"
    WAITING_FOR_CAPACITY = "WaitingForCapacity"
    CREATING_NODE_POOL = "CreatingNodePool"
    WAITING_FOR_NODES = "WaitingForNodes"
    DEPLOYING = "Deploying"
    WAITING_FOR_INFERENCE = "WaitingForInference"
    HEALTH_CHECKING = "HealthChecking"
    READY = "Ready"
    SUSPENDING = "Suspending"
    SUSPENDED = "Suspended"
    RESUMING = "Resuming"
    FAILED = "Failed"
    DELETING = "Deleting"
    DELETED = "Deleted"


class ProvisioningPlan(BaseModel):
    """Everything the side-effecting steps need, decided once by the validate activity."""

    namespace: str
    name: str
    uid: str | None = None
    api_version: str
    model: str
    hf_repo: str
    hf_revision: str
    served_model_name: str
    image: str
    runtime: str
    instance_type: str
    gpus_per_node: int | None = Field(description="None for a SKU outside the catalog")
    node_count: int
    agent_pool: str
    os_disk_gb: int
    match_labels: dict[str, str]
    os_sku: str = "Ubuntu"
    hourly_usd: float | None = Field(default=None, description="list price of one node, for savings")
    model_access_secret: str | None = None
    node_ready_timeout: timedelta
    inference_ready_timeout: timedelta
    warnings: list[str] = Field(default_factory=list)
    # KAITO's examples: independent serving replicas (None: one across every node), the
    # inference.config ConfigMap, adapters, and BYO nodes (no agent pool; nodes picked by the selector).
    replicas: int | None = None
    inference_config: str | None = None
    adapters: list[AdapterSpec] = Field(default_factory=list)
    bring_your_own_nodes: bool = False
    preferred_nodes: list[str] = Field(default_factory=list)
    mig_profile: str | None = None  # BYO: one MIG slice of this profile per replica
    spot: bool = Field(default=False, description="Spot VMs: evicted VMs deleted, price capped at on-demand")
    routed_to_gateway: bool = Field(
        default=False, description="the Service routes to the wake gateway: applying it keeps it so"
    )


class AgentPoolState(BaseModel):
    name: str
    provisioning_state: str
    count: int
    vm_size: str


class Observation(BaseModel):
    """Absolute counts stamped with when they were read, by a controller (a signal) or by a reconcile
    activity: whichever arrives last, the newest observation wins, so a reconcile that read before a
    signal but finished after it cannot wipe the signal out, and a repeat can never double-count."""

    observed_at: datetime | None = None

    def superseded_by(self, incoming: Self) -> Self:
        """The newer of the two; without both times (old histories) the incoming one, as before."""
        if self.observed_at and incoming.observed_at and incoming.observed_at < self.observed_at:
            return self
        return incoming


class NodeReadiness(Observation):
    ready: int
    nodes: list[str] = Field(default_factory=list)


class WorkloadReadiness(Observation):
    ready_replicas: int
    replicas: int = 0


class PodHealth(Observation):
    """One inference pod as the controllers see it: `reason` None when it runs well, else why not
    (CrashLoopBackOff, OOMKilled, …), with the restart count and last exit in `message`."""

    pod: str
    reason: str | None = None
    message: str = ""


class InferenceObjects(BaseModel):
    service: str
    workload: str
    endpoint: str


class HealthReport(BaseModel):
    model: str
    answer: str


class Condition(BaseModel):
    """A Kubernetes `metav1.Condition` with KAITO's types and reasons."""

    type: str
    status: str
    reason: str
    message: str = ""
    last_transition_time: datetime = Field(alias="lastTransitionTime")
    observed_generation: int | None = Field(default=None, alias="observedGeneration")

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class StatusUpdate(BaseModel):
    """What the workflow writes to the Workspace's status subresource."""

    namespace: str
    name: str
    state: str
    conditions: list[Condition]
    worker_nodes: list[str] = Field(default_factory=list)
    target_node_count: int | None = None


class PhaseTiming(BaseModel):
    started: datetime
    finished: datetime | None = None


class CapacityRequest(BaseModel):
    """May this workspace's pool (the plan's size and count) be created now, and if not, why not?"""

    plan: ProvisioningPlan
    workflow_id: str
    queued_at: datetime | None = Field(
        default=None, description="when it joined its family's queue; None: not queued, all waiters go first"
    )


class SkuOption(BaseModel):
    """Another size that serves the model, and what its family has free."""

    instance_type: str
    family: str
    node_count: int
    cores: int
    free: int
    hourly_usd: float | None = None


class CapacityReport(BaseModel):
    """The region's quota for the plan's VM family as `usage.list` reads it, in vCPUs, and the queue."""

    instance_type: str
    family: str
    location: str
    limit: int
    usage: int
    needed: int = Field(description="the cores this pool adds (0 when it already runs at the plan's count)")
    ahead: int = Field(default=0, description="workspaces queued for this family before this one")
    ahead_cores: int = 0
    alternative: SkuOption | None = Field(
        default=None, description="the cheapest other size that fits the model and has quota free"
    )

    @property
    def free(self) -> int:
        return max(0, self.limit - self.usage)

    @property
    def fits(self) -> bool:
        """First come, first served: what the waiters ahead need is not free for this one."""
        return self.free - self.ahead_cores >= self.needed


class CapacityFreed(BaseModel):
    """A pool of this size was deleted or scaled to zero, or a waiter of its family left the queue."""

    instance_type: str


class CapacityNotice(BaseModel):
    """What the waker tells each waiter of a family: the quota now free and its place in the queue."""

    family: str
    free: int
    place: int = Field(ge=1)
    ahead_cores: int = 0
    at: datetime | None = None


class WorkspaceStatus(BaseModel):
    """The `status` query's answer: one view for the CLI, the UI and tests."""

    namespace: str
    name: str
    phase: Phase
    state: str
    message: str = ""
    model: str | None = None
    served_model: str | None = None
    instance_type: str | None = None
    agent_pool: str | None = None
    target_nodes: int = 0
    ready_nodes: int = 0
    worker_nodes: list[str] = Field(default_factory=list)
    ready_replicas: int = 0
    endpoint: str | None = None
    conditions: list[Condition] = Field(default_factory=list)
    timings: dict[str, PhaseTiming] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    suspended_since: datetime | None = None
    last_traffic_at: datetime | None = None
    capacity_queued_at: datetime | None = None
    capacity: CapacityReport | None = Field(default=None, description="the last quota read, while waiting")
    gpu_hours_saved: float = 0.0
    usd_saved: float = 0.0
    spot: bool = False
    spot_gpu_hours: float = Field(default=0.0, description="GPU-hours served on Spot VMs")
    spot_usd_saved: float = Field(default=0.0, description="estimated: Spot's discount on those hours")
    evictions: int = 0


class WorkspaceResult(BaseModel):
    phase: Phase
    message: str = ""


class SpecChange(BaseModel):
    workspace: Workspace


class SuspendRequest(BaseModel):
    """Why a workspace should scale to zero; the sweep sends it when no requests came in the window."""

    reason: str


class TrafficObserved(BaseModel):
    """The inference server's request counter moved; `at` is when the sweep saw it move."""

    at: datetime


class InferenceScale(BaseModel):
    plan: ProvisioningPlan
    replicas: int = Field(ge=0)


class PoolScale(BaseModel):
    """Scale the workspace's GPU pool to `count` nodes (0 stops paying for the VMs, keeps the pool)."""

    plan: ProvisioningPlan
    count: int = Field(ge=0, le=1000)


class GatewayRoute(BaseModel):
    """Where a workspace's Service sends its requests after a routing step, and to which addresses."""

    to_gateway: bool
    addresses: list[str] = Field(default_factory=list)
    detail: str = ""


class WakeRequest(BaseModel):
    """The wake gateway's `wake` update: a request for this workspace arrived while it was suspended."""

    reason: str = "a request arrived at the wake gateway"


class WakeAnswer(BaseModel):
    """The `wake` update's answer: Ready (forward the held requests), or why not and when to retry."""

    phase: Phase
    ready: bool
    reason: str = ""
    endpoint: str | None = None
    eta_seconds: float | None = Field(default=None, description="expected seconds until Ready, if waking")


class SuspendedState(BaseModel):
    since: datetime
    reason: str


class CarriedState(BaseModel):
    """What a continued-as-new run must not forget; everything else is reconciled afresh."""

    suspended: SuspendedState | None = None
    gpu_hours_saved: float = 0.0
    usd_saved: float = 0.0
    last_traffic_at: datetime | None = None
    capacity_queued_at: datetime | None = None
    # Spot: since when its nodes serve on Spot (for the savings), what that saved, the evictions seen.
    spot_since: datetime | None = None
    spot_gpu_hours: float = 0.0
    spot_usd_saved: float = 0.0
    evictions: list[datetime] = Field(default_factory=list)
    spot_given_up: bool = False
    # The Service routes to the wake gateway (set by the suspend's routing step, cleared by the resume's).
    routed_to_gateway: bool = False
    woken_at: datetime | None = None
