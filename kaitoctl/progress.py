"""The progress view of one workspace: agent pool → GPU nodes → workload → health, live.

On a terminal a rich table redrawn in place, with an ETA per step from earlier provisionings on the
same SKU; in a pipe one line each time a phase starts or ends, which a log keeps readable.
"""

from collections.abc import Mapping
from datetime import UTC, datetime

from rich.table import Table

from kaitoctl.eta import PhaseEstimate
from kaitoctl.render import seconds_text
from workflows.workspace_contracts import Phase, WorkspaceStatus

# Where a watch stops: the workspace serves, failed, is gone, or sits scaled to zero.
SETTLED = frozenset({Phase.READY, Phase.FAILED, Phase.DELETED, Phase.SUSPENDED})

STEPS: list[tuple[str, Phase, Phase]] = [
    # label, the phase in which the step runs, the phase that means it is done
    ("Validate the spec", Phase.VALIDATING, Phase.CREATING_NODE_POOL),
    ("GPU agent pool", Phase.CREATING_NODE_POOL, Phase.WAITING_FOR_NODES),
    ("GPU nodes Ready", Phase.WAITING_FOR_NODES, Phase.DEPLOYING),
    ("Service + workload", Phase.DEPLOYING, Phase.WAITING_FOR_INFERENCE),
    ("Model loaded", Phase.WAITING_FOR_INFERENCE, Phase.HEALTH_CHECKING),
    ("Health check", Phase.HEALTH_CHECKING, Phase.READY),
]
ORDER = [Phase.PENDING, *[step[1] for step in STEPS], Phase.READY]


def _position(phase: Phase) -> int:
    return ORDER.index(phase) if phase in ORDER else -1


def _detail(label: str, status: WorkspaceStatus) -> str:
    if label == "GPU agent pool":
        return f"{status.target_nodes} × {status.instance_type} as {status.agent_pool or '…'}"
    if label == "GPU nodes Ready":
        return f"{status.ready_nodes}/{status.target_nodes} {' '.join(status.worker_nodes)}".strip()
    if label == "Model loaded":
        return f"{status.ready_replicas}/{status.target_nodes} replicas ready"
    if label == "Health check" and status.endpoint:
        return status.endpoint
    return ""


def eta_text(estimate: PhaseEstimate | None, elapsed: float | None = None) -> str:
    """'~42s (p50 of 5)', or 'overdue 12s' once a running phase has taken longer than its p50."""
    if estimate is None:
        return "-"
    if elapsed is not None and elapsed > estimate.seconds:
        return f"overdue {seconds_text(elapsed - estimate.seconds)}"
    left = estimate.seconds - (elapsed or 0.0)
    return f"~{seconds_text(left)} (p50 of {estimate.samples})"


def progress_table(
    status: WorkspaceStatus | None,
    now: datetime | None = None,
    note: str = "",
    estimates: Mapping[str, PhaseEstimate] | None = None,
) -> Table:
    now = now or datetime.now(UTC)
    title = f"workspace {status.namespace}/{status.name}: {status.phase.value}" if status else "starting…"
    table = Table(title=title, title_justify="left")
    headers = ["", "STEP", "TOOK", *(["ETA"] if estimates is not None else []), "DETAIL"]
    for column in headers:
        table.add_column(column, no_wrap=column != "DETAIL")
    if status is None:
        table.caption = note
        return table
    failed = status.phase in (Phase.FAILED, Phase.DELETING, Phase.DELETED)
    current = _position(status.phase)
    for label, runs_in, done_in in STEPS:
        timing = status.timings.get(runs_in.value)
        took = ""
        if timing:
            end = timing.finished or now
            took = f"{(end - timing.started).total_seconds():.1f}s"
        if _position(done_in) <= current and not failed:
            mark = "[green]✔[/]"
        elif status.phase == runs_in:
            mark = "[yellow]…[/]"
        elif failed and timing and timing.finished is None:
            mark = "[red]✘[/]"
        else:
            mark = " "
        eta: list[str] = []
        if estimates is not None:
            running = status.phase == runs_in and timing is not None and timing.finished is None
            elapsed = (now - timing.started).total_seconds() if running and timing else None
            eta = ["" if took and not running else eta_text(estimates.get(runs_in.value), elapsed)]
        table.add_row(mark, label, took, *eta, _detail(label, status))
    if status.message:
        table.caption = status.message
    return table


def phase_lines(
    previous: WorkspaceStatus | None, status: WorkspaceStatus, estimates: Mapping[str, PhaseEstimate]
) -> list[str]:
    """For a pipe: a line for each phase that ended and for the phase that started since `previous`."""
    if previous is not None and previous.phase == status.phase:
        return []
    lines = []
    if previous is not None:
        ended = status.timings.get(previous.phase.value)
        if ended and ended.finished:
            took = seconds_text((ended.finished - ended.started).total_seconds())
            lines.append(f"{ended.finished:%H:%M:%S}  {previous.phase.value:<20} took {took}")
    started = status.timings.get(status.phase.value)
    at = f"{started.started:%H:%M:%S}" if started else f"{datetime.now(UTC):%H:%M:%S}"
    eta = "" if status.phase in SETTLED else f" eta {eta_text(estimates.get(status.phase.value))}"
    lines.append(f"{at}  {status.phase.value:<20}{eta}  {status.message}".rstrip())
    return lines
