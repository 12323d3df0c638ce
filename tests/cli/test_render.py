"""The CLI's pure pieces: columns, ETAs, the pipe's phase lines."""

from datetime import UTC, datetime, timedelta

from kaitoctl.eta import PhaseEstimate, estimates_from, same_sku_query
from kaitoctl.progress import eta_text, phase_lines
from kaitoctl.render import Screen, columns, list_lines
from workflows.workspace_contracts import Phase, PhaseTiming, WorkspaceStatus

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def status(name: str, phase: Phase = Phase.READY, **timings: tuple[float, float | None]) -> WorkspaceStatus:
    return WorkspaceStatus(
        namespace="default", name=name, phase=phase, state="Ready", instance_type="Standard_NC12s_v3",
        message="serving at http://x", target_nodes=1, ready_nodes=1,
        timings={
            p: PhaseTiming(
                started=T0 + timedelta(seconds=a), finished=None if b is None else T0 + timedelta(seconds=b)
            )
            for p, (a, b) in timings.items()
        },
    )  # fmt: skip


def test_a_pipe_gets_every_cell_whole_and_a_terminal_cuts_only_the_last_column() -> None:
    rows = [["a-very-long-workspace-name", "x" * 200]]
    piped = columns(("NAME", "MESSAGE"), rows, Screen(None))
    assert piped[1] == "a-very-long-workspace-name   " + "x" * 200
    narrow = columns(("NAME", "MESSAGE"), rows, Screen(60))
    assert narrow[1].startswith("a-very-long-workspace-name   x") and narrow[1].endswith("…")
    assert len(narrow[1]) == 60


def test_list_has_kubectl_headers_and_no_rows_says_so() -> None:
    assert list_lines([], T0, Screen(None), wide=False) == ["No workspaces found."]
    lines = list_lines([status("w")], T0, Screen(None), wide=True)
    assert lines[0].split() == [
        "NAMESPACE", "NAME", "STATE", "PHASE", "MODEL", "INSTANCE", "NODES", "IDLE", "SUSPENDED",
        "GPU-H-SAVED", "USD-SAVED", "MESSAGE",
    ]  # fmt: skip


def test_the_estimate_is_the_median_of_finished_phases_only() -> None:
    earlier = [
        status("a", CreatingNodePool=(0, 100)),
        status("b", CreatingNodePool=(0, 300)),
        status("c", CreatingNodePool=(0, 200), WaitingForNodes=(200, None)),
    ]
    estimates = estimates_from(earlier)
    assert estimates == {"CreatingNodePool": PhaseEstimate(200.0, 3)}, "a running phase is no sample"
    assert eta_text(estimates["CreatingNodePool"]) == "~3m20s (p50 of 3)"
    assert eta_text(estimates["CreatingNodePool"], elapsed=50) == "~2m30s (p50 of 3)"
    assert eta_text(estimates["CreatingNodePool"], elapsed=230) == "overdue 30s"
    assert eta_text(None) == "-"
    assert (
        same_sku_query('Standard_"x')
        == 'WorkflowType = "WorkspaceWorkflow" AND KaitoInstanceType = "Standard_\\"x"'
    )


def test_a_pipe_gets_one_line_when_a_phase_ends_and_one_when_the_next_starts() -> None:
    before = status("w", Phase.CREATING_NODE_POOL, CreatingNodePool=(0, None))
    after = status("w", Phase.WAITING_FOR_NODES, CreatingNodePool=(0, 42), WaitingForNodes=(42, None))
    lines = phase_lines(before, after, {"WaitingForNodes": PhaseEstimate(60, 2)})
    assert lines == [
        "12:00:42  CreatingNodePool     took 42s",
        "12:00:42  WaitingForNodes      eta ~1m00s (p50 of 2)  serving at http://x",
    ]
    assert phase_lines(after, after, {}) == [], "nothing new, nothing printed"
