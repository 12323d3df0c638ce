"""`kaitoctl dev`: the local cloud in the background (up, down, status) and the seed demo."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from connections.temporal import TemporalSettings, connect
from kaitoctl.chat import ChatError, ask
from kaitoctl.context import running_stack, state_dir
from kaitoctl.progress import progress_table
from localcloud.processes import log_tail, pid_alive
from localcloud.stack_file import ComponentStatus, StackInfo
from localcloud.supervision import release
from localcloud.temporal_cluster import client_exports
from localcloud.temporal_server import TemporalChoice
from workflows.workspace_contracts import STATUS_QUERY, Phase, WorkspaceStatus
from workflows.workspace_spec import workflow_id_for

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "examples" / "workspace-falcon-7b.yaml"
UP_TIMEOUT = 300.0
DOWN_TIMEOUT = 90.0

dev_app = typer.Typer(help="The local cloud on 127.0.0.1: Temporal, Kubernetes, Azure.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

StateDirOption = Annotated[
    Path | None, typer.Option("--state-dir", help="where the local cloud keeps its state")
]
RealisticOption = Annotated[bool, typer.Option("--realistic", help="AKS-like minutes instead of seconds")]


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _not_running(stack: StackInfo) -> list[str]:
    return [name for name, c in stack.components.items() if c.truth() != "running"]


def _repair(directory: Path, stack: StackInfo) -> StackInfo:
    """A running supervisor with components down: release any held one, skip their backoff (SIGUSR1)
    and wait until each runs again."""
    down = _not_running(stack)
    if not down:
        return stack
    out.print(f"the local cloud is running (pid {stack.pid}) but {', '.join(down)} is not; restarting it")
    for name in down:
        release(directory, name)
    os.kill(stack.pid, signal.SIGUSR1)
    began = time.monotonic()
    with out.status(f"waiting for {', '.join(down)}…"):
        while (current := running_stack(directory)) is not None and _not_running(current):
            if time.monotonic() - began > UP_TIMEOUT:
                still = ", ".join(_not_running(current))
                _fail(f"{still} not running after {UP_TIMEOUT:.0f}s; see {current.logs}")
            time.sleep(0.2)
    if current is None:
        _fail(f"the local cloud stopped while repairing it; see {directory / 'stack.log'}")
    assert current is not None
    out.print(f"repaired in {time.monotonic() - began:.1f}s")
    return current


def _stop_orphans(directory: Path) -> None:
    """A supervisor that died (SIGKILL) leaves its children: stop each one it recorded, by PID."""
    stale = StackInfo.read(directory)
    if stale is None:
        return
    orphans = {name: c.pid for name, c in stale.components.items() if c.alive and c.pid}
    for name, pid in orphans.items():
        out.print(f"stopping {name} (pid {pid}), left running by a local cloud that died")
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + DOWN_TIMEOUT
    while any(stale.components[name].alive for name in orphans) and time.monotonic() < deadline:
        time.sleep(0.2)
    for name in orphans:
        if stale.components[name].alive:
            os.kill(orphans[name], signal.SIGKILL)


def bring_up(
    directory: Path, realistic: bool, ports: tuple[int, int] = (7233, 8233), temporal: str = "dev"
) -> StackInfo:
    """Start the stack supervisor in the background, reuse the one that runs, or repair a half-dead one."""
    stack = running_stack(directory)
    if stack is not None:
        out.print(f"the local cloud is already running (pid {stack.pid}); reusing it")
        return _repair(directory, stack)
    directory.mkdir(parents=True, exist_ok=True)
    _stop_orphans(directory)
    StackInfo.remove(directory)
    log = directory / "stack.log"
    argv = [sys.executable, "-m", "localcloud.stack", "--state-dir", str(directory),
            "--temporal-port", str(ports[0]), "--ui-port", str(ports[1]), "--temporal", temporal]  # fmt: skip
    if realistic:
        argv.append("--realistic")
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            argv, cwd=str(REPO), stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    began = time.monotonic()
    with out.status("starting Temporal, the control plane, the Azure emulator, the worker and controllers…"):
        while (stack := running_stack(directory)) is None:
            if process.poll() is not None:
                _fail(f"the local cloud did not start (exit {process.returncode}):\n{log_tail(log, 20)}")
            if time.monotonic() - began > UP_TIMEOUT:
                os.killpg(process.pid, signal.SIGTERM)
                _fail(f"the local cloud was not up after {UP_TIMEOUT:.0f}s:\n{log_tail(log, 20)}")
            time.sleep(0.2)
    out.print(f"local cloud up in {time.monotonic() - began:.1f}s")
    return stack


def endpoints_table(stack: StackInfo) -> Table:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for label, value in [
        ("Temporal UI", stack.temporal_ui), ("Temporal", stack.temporal), ("kube-apiserver", stack.apiserver),
        ("kubeconfig", stack.kubeconfig), ("Azure (ARM + Entra)", stack.azure), ("logs", stack.logs),
    ]:  # fmt: skip
        table.add_row(label, value)
    return table


@dev_app.command("up")
def up(
    state: StateDirOption = None,
    realistic: RealisticOption = False,
    temporal_port: Annotated[int, typer.Option(help="Temporal frontend port (0: any free one)")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal UI port (0: any free one)")] = 8233,
    temporal: Annotated[
        TemporalChoice,
        typer.Option(help="dev: the dev server; postgres: the Go-built server on PostgreSQL, mTLS"),
    ] = TemporalChoice.DEV,
) -> None:
    """Start the local cloud in the background (a second `up` reuses it)."""
    directory = state or state_dir()
    stack = bring_up(directory, realistic, (temporal_port, ui_port), temporal.value)
    out.print(endpoints_table(stack))
    exports = client_exports(directory) or f"KAITO_TEMPORAL_ADDRESS={stack.temporal}"
    out.print(f"\nexport KUBECONFIG={stack.kubeconfig} {exports}")


@dev_app.command("down")
def down(state: StateDirOption = None) -> None:
    """Stop every process of the local cloud by PID."""
    directory = state or state_dir()
    stack = running_stack(directory)
    if stack is None:
        out.print("the local cloud is not running")
        return
    pid = stack.pid
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + DOWN_TIMEOUT
    with out.status("stopping…"):
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    if pid_alive(pid):
        os.killpg(pid, signal.SIGKILL)
    leftovers = [f"{name} ({p})" for name, p in stack.pids.items() if pid_alive(p)]
    for name_pid in leftovers:
        err.print(f"[yellow]warning:[/] still running: {name_pid}")
    StackInfo.remove(directory)
    out.print("local cloud stopped")


@dev_app.command("status")
def status(state: StateDirOption = None) -> None:
    """What runs, where it listens, and each process's PID."""
    directory = state or state_dir()
    stack = running_stack(directory)
    if stack is None:
        stale = StackInfo.read(directory)
        left = [f"{n} ({c.pid})" for n, c in stale.components.items() if c.alive] if stale else []
        if left:
            out.print(
                f"the local cloud's supervisor (pid {stale.pid if stale else '?'}) is gone, but what it "
                f"started still runs: {', '.join(left)}; `kaitoctl dev up` stops those and starts afresh"
            )
        else:
            out.print("the local cloud is not running; start it with `kaitoctl dev up`")
        raise typer.Exit(1)
    out.print(endpoints_table(stack))
    table = Table("PROCESS", "PID", "STATE", "RESTARTS", "LAST EXIT")
    components = stack.components or {
        name: ComponentStatus(pid=pid, state="running" if pid_alive(pid) else "restarting")
        for name, pid in stack.pids.items()
    }
    for name, component in components.items():
        table.add_row(name, str(component.pid or "-"), _state_cell(component), str(component.restarts),
                      _exit_cell(component))  # fmt: skip
    out.print(table)
    if _not_running(stack):
        raise typer.Exit(3)


_STATE_STYLE = {
    "running": "green", "restarting": "yellow", "held": "yellow", "starting": "yellow", "dead": "red",
}  # fmt: skip


def _state_cell(component: ComponentStatus) -> str:
    state = component.truth()
    text: str = state
    if state == "restarting" and component.backoff_seconds:
        text = f"restarting (back-off {component.backoff_seconds:.0f}s)"
    if component.message:
        text += f": {component.message}"
    return f"[{_STATE_STYLE[state]}]{text}[/]"


def _exit_cell(component: ComponentStatus) -> str:
    code = component.last_exit
    if code is None:
        return "-"
    what = f"signal {-code}" if code < 0 else f"exit {code}"
    when = component.last_exit_at.strftime("%H:%M:%S") if component.last_exit_at else ""
    return f"{what} at {when}" if when else what


async def _watch(address: str, workflow_id: str, timeout: float) -> WorkspaceStatus:
    client = await connect(TemporalSettings(address=address))
    latest: WorkspaceStatus | None = None
    deadline = time.monotonic() + timeout
    with Live(progress_table(None), console=out, refresh_per_second=4) as live:
        while time.monotonic() < deadline:
            try:
                latest = await client.get_workflow_handle(workflow_id).query(
                    STATUS_QUERY, result_type=WorkspaceStatus
                )
                live.update(progress_table(latest))
            except (RPCError, WorkflowQueryFailedError) as waiting:
                # The controller has not started the workflow yet, or no worker has answered.
                live.update(progress_table(latest, note=f"waiting for {workflow_id}: {waiting}"))
            if latest and latest.phase in (Phase.READY, Phase.FAILED, Phase.DELETED):
                return latest
            await asyncio.sleep(0.25)
    if latest is None:
        _fail(f"no workflow {workflow_id} after {timeout:.0f}s; see the controller log")
    assert latest is not None
    return latest


@dev_app.command("demo")
def demo(
    state: StateDirOption = None,
    realistic: RealisticOption = False,
    prompt: Annotated[str, typer.Option(help="the prompt sent once the model is Ready")] = (
        "What is Kubernetes, in one sentence?"
    ),
) -> None:
    """The seed walkthrough: local cloud up, falcon-7b applied with kubectl, watched to Ready, asked."""
    stack = bring_up(state or state_dir(), realistic)
    out.print(endpoints_table(stack))
    kubectl = [stack.kubectl, f"--kubeconfig={stack.kubeconfig}"]
    applied = subprocess.run([*kubectl, "apply", "-f", str(SEED)], capture_output=True, text=True)
    if applied.returncode != 0:
        _fail(f"kubectl apply failed: {applied.stderr.strip()}")
    out.print(f"\n$ kubectl apply -f {SEED.relative_to(REPO)}\n{applied.stdout.strip()}\n")
    workflow_id = workflow_id_for("default", "workspace-falcon-7b")
    final = asyncio.run(_watch(stack.temporal, workflow_id, 3600 if realistic else 300))
    if final.phase != Phase.READY:
        _fail(f"workspace ended {final.phase.value}: {final.message}")
    shown = subprocess.run(
        [*kubectl, "get", "workspace", "workspace-falcon-7b"], capture_output=True, text=True
    )
    out.print(f"\n$ kubectl get workspace workspace-falcon-7b\n{shown.stdout.strip()}\n")
    try:
        model, text = ask(final, prompt, stack.kubeconfig)
    except ChatError as error:
        _fail(str(error))
    out.print(f"[bold]prompt:[/] {prompt}")
    out.print(f"[bold]{model}:[/] {text}")
    out.print(
        f"[bold]endpoint:[/] {final.endpoint} (in-cluster; `kaitoctl workspace chat workspace-falcon-7b ...`)"
    )
    ui = f"{stack.temporal_ui}/namespaces/default/workflows/{workflow_id.replace('/', '%2F')}"
    out.print(f"[bold]watch it in the Temporal UI:[/] {ui}")
    out.print("stop everything with `kaitoctl dev down`")
