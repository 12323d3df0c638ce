"""The scale-to-zero sweep: its input, what it remembers between runs, and its activities' types."""

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

SWEEP_WORKFLOW = "ScaleToZeroSweep"
SCHEDULE_ID = "scale-to-zero"
ANNOTATION_SCALE_TO_ZERO = "kaito.sh/scale-to-zero"  # "false" opts a workspace out
ANNOTATION_IDLE_WINDOW = "kaito.sh/idle-window"  # e.g. "2h": this workspace's own idle window


class SweepActivity(StrEnum):
    LIST_CANDIDATES = "list_sweep_candidates"
    SAMPLE_TRAFFIC = "sample_inference_traffic"


class WorkspaceRef(BaseModel):
    namespace: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class SweepCandidate(BaseModel):
    """A Ready workspace and what its annotations say about scaling it to zero."""

    ref: WorkspaceRef
    opted_out: bool = False
    idle_window: timedelta | None = None
    # When it last came back from zero (its Suspended condition turned False): the idle clock starts no
    # earlier, so a workspace woken by a request is not suspended again by the next sweep.
    awake_since: datetime | None = None
    problem: str | None = Field(default=None, description="why its annotations could not be used")


class SweepCandidates(BaseModel):
    candidates: list[SweepCandidate] = Field(default_factory=list)


class TrafficSample(BaseModel):
    """The sum of vLLM's request counter over the workspace's pods; None when none answered."""

    ref: WorkspaceRef
    requests_total: int | None
    detail: str = ""


class CounterSeen(BaseModel):
    total: int
    since: datetime  # when the counter was first seen at this value


class SweepState(BaseModel):
    counters: dict[str, CounterSeen] = Field(default_factory=dict)


class SweepInput(BaseModel):
    idle_window: timedelta = timedelta(minutes=30)
    previous: SweepState | None = Field(
        default=None, description="used when no schedule supplies the last result"
    )


class SweepResult(BaseModel):
    state: SweepState
    checked: list[str] = Field(default_factory=list)
    suspended: list[str] = Field(default_factory=list)
    opted_out: list[str] = Field(default_factory=list)
    unreachable: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
