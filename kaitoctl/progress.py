"""The rich progress view of one workspace: agent pool → GPU nodes → workload → health, live."""

from datetime import UTC, datetime

from rich.table import Table

from workflows.workspace_contracts import Phase, WorkspaceStatus

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


def progress_table(status: WorkspaceStatus | None, now: datetime | None = None, note: str = "") -> Table:
    now = now or datetime.now(UTC)
    title = f"workspace {status.namespace}/{status.name}: {status.phase.value}" if status else "starting…"
    table = Table(title=title, title_justify="left")
    for column in ("", "STEP", "TOOK", "DETAIL"):
        table.add_column(column)
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
        table.add_row(mark, label, took, _detail(label, status))
    if status.message:
        table.caption = status.message
    return table
