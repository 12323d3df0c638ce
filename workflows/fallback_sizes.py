"""The capacity annotations of a Workspace: fallback VM sizes, spot, and how long to wait for quota.

* `kaito.sh/fallback-instance-types: "Standard_NC24ads_A100_v4,Standard_NV72ads_A10_v5"` — sizes tried in
  order when the one before has no quota or capacity. Each must fit the model exactly as
  `resource.instanceType` must, so each is checked by validating the Workspace with that size as its
  instanceType, and refused with the very words that check gives.
* `kaito.sh/spot: "true"` — the pool uses Spot VMs (evicted VMs are deleted, price capped at on-demand).
* `kaito.sh/spot-fallback: "true"` — after repeated evictions, go on demand.
* `kaito.sh/capacity-wait-timeout: "24h"` — how long the workspace waits for capacity before it fails.

Pure: admission (`workspace_validation`), the plan and the workflow read the same functions.
"""

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Protocol

from workflows.durations import parse_duration
from workflows.workspace_spec import Workspace

ANNOTATION_FALLBACKS = "kaito.sh/fallback-instance-types"
ANNOTATION_SPOT = "kaito.sh/spot"
ANNOTATION_SPOT_FALLBACK = "kaito.sh/spot-fallback"
ANNOTATION_CAPACITY_WAIT = "kaito.sh/capacity-wait-timeout"
DEFAULT_CAPACITY_WAIT = timedelta(hours=24)
INSTANCE_TYPE_FIELD = "resource.instanceType"
TRUTHY = ("true", "false")


class _Problem(Protocol):
    @property
    def field(self) -> str: ...

    @property
    def message(self) -> str: ...


class _Report(Protocol):
    def add(self, where: str, message: str) -> None: ...


class _Validated(Protocol):
    @property
    def errors(self) -> Sequence[_Problem]: ...


def fallback_instance_types(ws: Workspace) -> list[str]:
    """The annotation's sizes in order, without blanks, repeats or the workspace's own instanceType."""
    raw = ws.annotations.get(ANNOTATION_FALLBACKS, "")
    seen = {(ws.resource.instance_type or "").lower()}
    sizes: list[str] = []
    for part in raw.split(","):
        name = part.strip()
        if name and name.lower() not in seen:
            seen.add(name.lower())
            sizes.append(name)
    return sizes


def with_instance_type(ws: Workspace, instance_type: str) -> Workspace:
    """A copy of the Workspace that asks for `instance_type` (and names no fallbacks of its own)."""
    annotations = {k: v for k, v in ws.annotations.items() if k != ANNOTATION_FALLBACKS}
    metadata = ws.metadata.model_copy(update={"annotations": annotations})
    resource = ws.resource.model_copy(update={"instance_type": instance_type})
    return ws.model_copy(update={"metadata": metadata, "resource": resource})


def wants_spot(ws: Workspace) -> bool:
    return ws.annotations.get(ANNOTATION_SPOT, "").strip().lower() == "true"


def spot_may_fall_back(ws: Workspace) -> bool:
    return ws.annotations.get(ANNOTATION_SPOT_FALLBACK, "").strip().lower() == "true"


def capacity_wait(ws: Workspace) -> timedelta:
    """How long to wait for quota or capacity; the default when the annotation is absent."""
    raw = ws.annotations.get(ANNOTATION_CAPACITY_WAIT)
    return parse_duration(raw) if raw else DEFAULT_CAPACITY_WAIT


def check_capacity_annotations(
    ws: Workspace, report: _Report, validate: Callable[[Workspace], _Validated]
) -> None:
    """Admission's checks of the capacity annotations; `validate` is the Workspace validation itself."""
    for index, size in enumerate(fallback_instance_types(ws)):
        where = f"metadata.annotations[{ANNOTATION_FALLBACKS}][{index}]"
        for problem in validate(with_instance_type(ws, size)).errors:
            if problem.field == INSTANCE_TYPE_FIELD:
                report.add(where, problem.message)
    for name in (ANNOTATION_SPOT, ANNOTATION_SPOT_FALLBACK):
        value = ws.annotations.get(name)
        if value is not None and value.strip().lower() not in TRUTHY:
            report.add(f"metadata.annotations[{name}]", f'{value!r} is not a boolean; use "true" or "false"')
    raw = ws.annotations.get(ANNOTATION_CAPACITY_WAIT)
    if raw is not None:
        try:
            parse_duration(raw)
        except ValueError as bad:
            report.add(f"metadata.annotations[{ANNOTATION_CAPACITY_WAIT}]", str(bad))
