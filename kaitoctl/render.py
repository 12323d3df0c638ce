"""What `kaitoctl workspace list|get` prints: kubectl-style plain columns, never cut in a pipe.

On a terminal the last, free-text column is shortened to the terminal's width (one row a line) — or,
when too little room is left for it, each message that says why goes under its row — and a condition's
message wraps under its row with the whole width. In a pipe nothing is shortened or wrapped, so `grep`,
`awk` and `cut` see every word of every row.
"""

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from workflows.conditions import STATE_READY
from workflows.workspace_contracts import WorkspaceStatus

GAP = "   "
ELLIPSIS = "…"
MIN_MESSAGE = 30  # narrower than this, a list's messages go under their rows


@dataclass(frozen=True)
class Screen:
    """Where the text goes: a terminal `width` columns wide, or a pipe (`width` None)."""

    width: int | None

    @property
    def terminal(self) -> bool:
        return self.width is not None


def ago(when: datetime, now: datetime) -> str:
    """kubectl's short ages: 42s, 3m07s, 2h05m, 3d4h."""
    seconds = max(int((now - when).total_seconds()), 0)
    minutes, secs = divmod(seconds, 60)
    hours, mins = divmod(minutes, 60)
    days, hrs = divmod(hours, 24)
    if days:
        return f"{days}d{hrs}h"
    if hours:
        return f"{hours}h{mins:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def seconds_text(seconds: float) -> str:
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s" if seconds < 10 else f"{whole}s"


def columns(headers: Sequence[str], rows: Sequence[Sequence[str]], screen: Screen) -> list[str]:
    """Left-aligned columns three spaces apart. Only the last column may be shortened, on a terminal."""
    cells = [[cell.replace("\n", " ") for cell in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    lines = []
    for row in [list(headers), *cells]:
        head = GAP.join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1]))
        line = f"{head}{GAP}{row[-1]}" if len(row) > 1 else row[-1]
        lines.append(shorten(line.rstrip(), screen))
    return lines


def shorten(line: str, screen: Screen) -> str:
    """The line cut to the terminal's width with an ellipsis; whole in a pipe."""
    if screen.width is None or len(line) <= screen.width:
        return line
    return line[: screen.width - 1] + ELLIPSIS


def last_column_room(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """How many characters come before the last column."""
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers[:-1])]
    return sum(widths) + len(GAP) * len(widths)


# ---- workspace list -------------------------------------------------------------------------------

LIST_COLUMNS = ("NAMESPACE", "NAME", "STATE", "INSTANCE", "NODES", "MESSAGE")
WIDE_COLUMNS = (
    "NAMESPACE", "NAME", "STATE", "PHASE", "MODEL", "INSTANCE", "NODES", "IDLE", "SUSPENDED",
    "GPU-H-SAVED", "USD-SAVED", "MESSAGE",
)  # fmt: skip


def _since(when: datetime | None, now: datetime) -> str:
    return ago(when, now) if when else "-"


def list_lines(
    statuses: Sequence[WorkspaceStatus], now: datetime, screen: Screen, *, wide: bool
) -> list[str]:
    """`kaitoctl workspace list`: one row a workspace; a terminal also gets the savings in total."""
    if not statuses:
        return ["No workspaces found."]
    rows: list[list[str]] = []
    for s in statuses:
        nodes = f"{s.ready_nodes}/{s.target_nodes}"
        if wide:
            idle = "-" if s.suspended_since else _since(s.last_traffic_at, now)
            rows.append(
                [
                    s.namespace, s.name, s.state or "-", s.phase.value, s.model or "-",
                    s.instance_type or "-", nodes, idle, _since(s.suspended_since, now),
                    f"{s.gpu_hours_saved:.1f}", f"{s.usd_saved:.2f}", s.message or "-",
                ]
            )  # fmt: skip
        else:
            rows.append(
                [s.namespace, s.name, s.state or "-", s.instance_type or "-", nodes, s.message or "-"]
            )
    headers = WIDE_COLUMNS if wide else LIST_COLUMNS
    room = (screen.width or 0) - last_column_room(headers, rows)
    if screen.width is None or room >= MIN_MESSAGE or all(len(row[-1]) <= room for row in rows):
        lines = columns(headers, rows, screen)
    else:
        # Too narrow for a readable MESSAGE column: each one that says why goes under its row.
        lines = [columns(headers[:-1], [r[:-1] for r in rows], screen)[0]]
        table = columns(headers[:-1], [r[:-1] for r in rows], screen)[1:]
        for status, line, row in zip(statuses, table, rows, strict=True):
            lines.append(line)
            if status.state != STATE_READY and row[-1] != "-":
                lines.append(shorten(f"  {row[-1]}", screen))
    hours, dollars = sum(s.gpu_hours_saved for s in statuses), sum(s.usd_saved for s in statuses)
    if screen.terminal and hours > 0:
        lines += ["", f"scale-to-zero saved {hours:.1f} GPU-hours (≈ ${dollars:.2f} at list prices)"]
    spot_hours, spot_dollars = (
        sum(s.spot_gpu_hours for s in statuses),
        sum(s.spot_usd_saved for s in statuses),
    )
    if screen.terminal and spot_hours > 0:
        lines.append(f"spot served {spot_hours:.1f} GPU-hours (≈ ${spot_dollars:.2f} saved, estimated)")
    return lines


# ---- workspace get --------------------------------------------------------------------------------


def _when(at: datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at else "-"


def _field_lines(fields: Sequence[tuple[str, str]], screen: Screen) -> list[str]:
    width = max(len(key) for key, _ in fields) + 2
    lines = []
    for key, value in fields:
        label = f"{key}:".ljust(width)
        if screen.width is None:
            lines.append(f"{label}{value}".rstrip())
        else:
            lines += textwrap.wrap(
                value or "-", screen.width, initial_indent=label, subsequent_indent=" " * width
            ) or [label.rstrip()]
    return lines


def _message_lines(message: str, screen: Screen) -> list[str]:
    """A condition's message under its row, indented, wrapped to the terminal's full width."""
    if not message:
        return []
    if screen.width is None:
        return [f"  {message}"]
    return textwrap.wrap(message, screen.width, initial_indent="  ", subsequent_indent="  ")


def status_lines(status: WorkspaceStatus, now: datetime, screen: Screen, *, wide: bool) -> list[str]:
    """`kaitoctl workspace get`: the fields, then conditions (message below each), then phase timings."""
    nodes = f"{status.ready_nodes}/{status.target_nodes} ready"
    if status.worker_nodes:
        nodes += f": {' '.join(status.worker_nodes)}"
    fields = [
        ("Name", f"{status.namespace}/{status.name}"),
        ("Phase", status.phase.value),
        ("State", status.state or "-"),
        ("Model", status.model or "-"),
        ("Instance", status.instance_type or "-"),
        ("Nodes", nodes),
        ("Endpoint", status.endpoint or "-"),
        ("Message", status.message or "-"),
    ]
    if wide:
        fields[4:4] = [("Served as", status.served_model or "-"), ("Agent pool", status.agent_pool or "-")]
        fields += [
            ("Replicas", str(status.ready_replicas)),
            ("Last traffic", _when(status.last_traffic_at)),
            ("Suspended", _when(status.suspended_since)),
            ("Saved", f"{status.gpu_hours_saved:.2f} GPU-hours, ${status.usd_saved:.2f}"),
        ]  # fmt: skip
    if status.spot or status.spot_gpu_hours:
        fields.append(("Spot", _spot_text(status)))
    fields += [("Warning", warning) for warning in status.warnings]
    lines = _field_lines(fields, screen)

    if status.conditions:
        lines += ["", "Conditions:"]
        table = columns(
            ("TYPE", "STATUS", "REASON", "AGE"),
            [[c.type, c.status, c.reason, ago(c.last_transition_time, now)] for c in status.conditions],
            Screen(None),
        )
        lines.append(table[0])
        for condition, row in zip(status.conditions, table[1:], strict=True):
            lines.append(row)
            lines += _message_lines(condition.message, screen)

    if status.timings:
        rows = []
        for phase, timing in status.timings.items():
            took = (
                seconds_text((timing.finished - timing.started).total_seconds())
                if timing.finished
                else f"{ago(timing.started, now)} so far"
            )
            rows.append([phase, timing.started.strftime("%H:%M:%S"), took])
        lines += ["", "Phases:", *columns(("PHASE", "STARTED", "TOOK"), rows, Screen(None))]
    return lines


def _spot_text(status: WorkspaceStatus) -> str:
    """Spot beside scale-to-zero: hours served on Spot, the estimated saving, the evictions."""
    on = "on Spot" if status.spot else "on demand now"
    return (
        f"{on}: {status.spot_gpu_hours:.1f} GPU-hours served, ≈ ${status.spot_usd_saved:.2f} saved "
        f"(estimated), {status.evictions} eviction(s); "
        f"scale-to-zero saved {status.gpu_hours_saved:.1f} GPU-hours, ≈ ${status.usd_saved:.2f}"
    )
