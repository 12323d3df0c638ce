"""Rich rendering of a workspace's status for `kaitoctl workspace get`."""

from datetime import datetime

from rich.console import Console
from rich.table import Table

from workflows.workspace_contracts import WorkspaceStatus


def _ago(when: datetime, now: datetime) -> str:
    seconds = int((now - when).total_seconds())
    minutes, secs = divmod(max(seconds, 0), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def status_tables(status: WorkspaceStatus, now: datetime) -> list[Table]:
    summary = Table(title=f"workspace {status.namespace}/{status.name}", show_header=False, box=None)
    summary.add_column(style="bold")
    summary.add_column()
    rows = [
        ("Phase", status.phase.value),
        ("State", status.state),
        ("Model", status.model or "-"),
        ("Instance", status.instance_type or "-"),
        ("Agent pool", status.agent_pool or "-"),
        (
            "Nodes",
            f"{status.ready_nodes}/{status.target_nodes} ready {' '.join(status.worker_nodes)}".strip(),
        ),
        ("Endpoint", status.endpoint or "-"),
        ("Message", status.message),
    ]
    if status.spot or status.spot_gpu_hours:
        rows.append(("Spot", _spot_text(status)))
    for warning in status.warnings:
        rows.append(("Warning", warning))
    for key, value in rows:
        summary.add_row(key, value)

    conditions = Table(title="conditions")
    for column in ("TYPE", "STATUS", "REASON", "AGE", "MESSAGE"):
        conditions.add_column(column)
    for c in status.conditions:
        style = {"True": "green", "False": "red"}.get(c.status, "yellow")
        conditions.add_row(
            c.type, f"[{style}]{c.status}[/]", c.reason, _ago(c.last_transition_time, now), c.message
        )

    timings = Table(title="phases")
    for column in ("PHASE", "STARTED", "TOOK"):
        timings.add_column(column)
    for phase, timing in status.timings.items():
        took = (
            _ago(timing.started, timing.finished)
            if timing.finished
            else f"{_ago(timing.started, now)} so far"
        )
        timings.add_row(phase, timing.started.strftime("%H:%M:%S"), took)
    return [summary, conditions, timings]


def print_status(console: Console, status: WorkspaceStatus, now: datetime) -> None:
    for table in status_tables(status, now):
        console.print(table)


def _since(when: datetime | None, now: datetime) -> str:
    return f"{_ago(when, now)} ago" if when else "-"


def workspaces_table(statuses: list[WorkspaceStatus], now: datetime) -> Table:
    """`kaitoctl workspace list`: one row a workspace, and what scale-to-zero saved in total."""
    table = Table(title="workspaces")
    for column in (
        "NAMESPACE",
        "NAME",
        "STATE",
        "MODEL",
        "INSTANCE",
        "NODES",
        "IDLE",
        "SUSPENDED",
        "GPU-H SAVED",
        "$ SAVED",
    ):
        table.add_column(column, justify="right" if "SAVED" in column else "left")
    for s in statuses:
        idle = "-" if s.suspended_since else _since(s.last_traffic_at, now)
        table.add_row(
            s.namespace, s.name, s.state, s.model or "-", s.instance_type or "-",
            f"{s.ready_nodes}/{s.target_nodes}", idle.removesuffix(" ago"), _since(s.suspended_since, now),
            f"{s.gpu_hours_saved:.1f}", f"{s.usd_saved:.2f}",
        )  # fmt: skip
    if statuses:
        hours, dollars = sum(s.gpu_hours_saved for s in statuses), sum(s.usd_saved for s in statuses)
        table.caption = (
            f"scale-to-zero saved {hours:.1f} GPU-hours (≈ ${dollars:.2f} at list prices) "
            f"across {len(statuses)} workspace(s)"
        )
        spot_hours, spot_dollars = (
            sum(s.spot_gpu_hours for s in statuses),
            sum(s.spot_usd_saved for s in statuses),
        )
        if spot_hours:
            table.caption += (
                f"; spot served {spot_hours:.1f} GPU-hours (≈ ${spot_dollars:.2f} saved, estimated)"
            )
    return table


def _spot_text(status: WorkspaceStatus) -> str:
    """Spot beside scale-to-zero: hours served on Spot, the estimated saving, the evictions."""
    on = "on Spot" if status.spot else "on demand now"
    return (
        f"{on}: {status.spot_gpu_hours:.1f} GPU-hours served, ≈ ${status.spot_usd_saved:.2f} saved "
        f"(estimated), {status.evictions} eviction(s); "
        f"scale-to-zero saved {status.gpu_hours_saved:.1f} GPU-hours, ≈ ${status.usd_saved:.2f}"
    )
