"""`kaitoctl`: validate, apply and inspect KAITO Workspaces run as Temporal workflows."""

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError

from connections.temporal import connect
from kaitoctl.bootstrap_command import bootstrap
from kaitoctl.capacity import capacity_app
from kaitoctl.chat import ChatError, ask
from kaitoctl.cluster_objects import ClusterUnreadable, status_of_object, workspace_objects
from kaitoctl.context import kubeconfig, temporal_settings
from kaitoctl.dev import dev_app
from kaitoctl.eta import PhaseEstimate, phase_estimates
from kaitoctl.manifest_check import CheckedManifest, apply_companions, check_manifest
from kaitoctl.progress import SETTLED, phase_lines, progress_table
from kaitoctl.render import Screen, list_lines, status_lines
from kaitoctl.schedule import schedule_app
from workflows import search_attributes as sa
from workflows.inferenceset_client import apply_inferenceset
from workflows.inferenceset_spec import InferenceSet
from workflows.workspace_client import RUNNING_WORKSPACES, apply_workspace
from workflows.workspace_contracts import (
    STATUS_QUERY,
    Phase,
    SignalName,
    SuspendRequest,
    UpdateName,
    WorkspaceStatus,
)
from workflows.workspace_spec import Workspace, workflow_id_for
from workflows.workspace_validation import WorkspaceInvalid

app = typer.Typer(
    help="Run LLMs on AKS GPU node pools, every step a durable Temporal workflow.", no_args_is_help=True
)
workspace_app = typer.Typer(help="KAITO Workspaces: validate, apply, get, delete.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")
app.add_typer(dev_app, name="dev")
app.add_typer(schedule_app, name="schedule")
app.add_typer(capacity_app, name="capacity")
app.command("bootstrap")(bootstrap)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

EXIT_INVALID = 2
EXIT_UNREACHABLE = 1

FileOption = Annotated[Path, typer.Option("--filename", "-f", help="Workspace manifest (YAML or JSON)")]
NamespaceOption = Annotated[str, typer.Option("--namespace", "-n", help="Kubernetes namespace")]
OUTPUTS = ("table", "wide", "json", "yaml")
OutputOption = Annotated[str, typer.Option("--output", "-o", help="table (default), wide, json or yaml")]
WATCH_POLL_SECONDS = 1.0
LIST_QUERY_TIMEOUT_SECONDS = 10.0


def _screen() -> Screen:
    """A terminal's width, or a pipe (None): kubectl-style plain columns, nothing shortened."""
    return Screen(out.width if out.is_terminal else None)


def _check_output(output: str) -> None:
    if output not in OUTPUTS:
        _fail(f"--output must be one of {', '.join(OUTPUTS)}, not {output!r}", EXIT_INVALID)


def _print_data(data: Any, output: str) -> None:
    if output == "json":
        out.print_json(data=data)
    else:
        print(yaml.safe_dump(data, sort_keys=False), end="")


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line)


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _load_valid(path: Path) -> CheckedManifest:
    """Offline validation of every document: the same rules and words as the workflow and the controller."""
    try:
        checked = check_manifest(path)
    except WorkspaceInvalid as invalid:
        _fail(escape(str(invalid)), EXIT_INVALID)
    for warning in checked.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    return checked


async def _client() -> Client:
    settings = temporal_settings()
    try:
        return await connect(settings)
    except RuntimeError as error:
        reason = "connection refused" if "Connection refused" in str(error) else str(error)
        _fail(
            f"cannot reach Temporal at {settings.address}: {reason}; is `kaitoctl dev up` running?",
            EXIT_UNREACHABLE,
        )


@workspace_app.command("validate")
def validate(filename: FileOption) -> None:
    """Check a manifest offline, as KAITO's admission webhook would. Exit 2 when it is invalid."""
    for line in _load_valid(filename).summary():
        out.print(f"[green]valid:[/] {escape(line)}", highlight=False)


@workspace_app.command("apply")
def apply(
    filename: FileOption,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="then follow its phases until Ready, Failed or Suspended")
    ] = False,
) -> None:
    """Validate, apply the file's Secrets and ConfigMaps, then signal-with-start each workspace's (and
    InferenceSet's) workflow; the running one gets the new spec."""
    checked = _load_valid(filename)
    if checked.companions:
        config = kubeconfig()
        if config is None:
            _fail("no kubeconfig for the file's Secrets and ConfigMaps: set KUBECONFIG", EXIT_UNREACHABLE)
        try:
            applied = apply_companions(checked, config)
        except WorkspaceInvalid as refused:
            _fail(escape(str(refused)), EXIT_INVALID)
        for line in applied:
            out.print(f"{escape(line)} applied", highlight=False)
    for ws, _ in checked.plans:
        asyncio.run(_apply(ws))
    for iset, _ in checked.sets:
        asyncio.run(_apply_set(iset))
    if watch:
        if len(checked.plans) != 1:
            _fail("--watch follows one Workspace; this file has " + str(len(checked.plans)), EXIT_INVALID)
        ws = checked.plans[0][0]
        if asyncio.run(_watch(ws.namespace, ws.name)).phase == Phase.FAILED:
            raise typer.Exit(EXIT_UNREACHABLE)


async def _apply_set(iset: InferenceSet) -> None:
    client = await _client()
    handle = await apply_inferenceset(client, iset)
    out.print(
        f"inferenceset {iset.namespace}/{iset.name} applied: workflow [bold]{handle.id}[/]", highlight=False
    )


async def _apply(ws: Workspace) -> None:
    client = await _client()
    handle = await apply_workspace(client, ws)
    workflow_id = handle.id
    out.print(f"workspace {ws.namespace}/{ws.name} applied: workflow [bold]{workflow_id}[/]", highlight=False)


def _handle(client: Client, namespace: str, name: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(workflow_id_for(namespace, name))


@workspace_app.command("get")
def get(
    name: str,
    namespace: NamespaceOption = "default",
    output: OutputOption = "table",
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="follow the phases live until Ready, Failed or Suspended")
    ] = False,
) -> None:
    """Show a workspace's phase, conditions, nodes, timings and endpoint (the workflow's status query)."""
    _check_output(output)
    if watch:
        if output not in ("table", "wide"):
            _fail("--watch shows the phases as they change; it takes no -o json|yaml", EXIT_INVALID)
        final = asyncio.run(_watch(namespace, name))
        if final.phase == Phase.FAILED:
            raise typer.Exit(EXIT_UNREACHABLE)
        return
    status = asyncio.run(_status(namespace, name))
    if output in ("json", "yaml"):
        _print_data(status.model_dump(mode="json", by_alias=True), output)
    else:
        _print_lines(status_lines(status, datetime.now(UTC), _screen(), wide=output == "wide"))


async def _query(handle: WorkflowHandle[Any, Any]) -> WorkspaceStatus:
    status: WorkspaceStatus = await handle.query(STATUS_QUERY, result_type=WorkspaceStatus)
    return status


async def _watch(namespace: str, name: str, until: frozenset[Phase] = SETTLED) -> WorkspaceStatus:
    """Poll the status query until a phase in `until`; on a terminal redraw the steps with their ETA,
    in a pipe print each change."""
    client = await _client()
    handle = _handle(client, namespace, name)
    try:
        status = await _query(handle)
    except RPCError as error:
        _fail(f"workspace {namespace}/{name}: {error.message}", EXIT_UNREACHABLE)
    estimates: dict[str, PhaseEstimate] = {}
    if status.instance_type:
        estimates = await phase_estimates(client, status.instance_type, exclude=handle.id)
    screen = _screen()
    if screen.terminal:
        with Live(progress_table(status, estimates=estimates), console=out, refresh_per_second=4) as live:
            while status.phase not in until:
                await asyncio.sleep(WATCH_POLL_SECONDS)
                status = await _query_or_last(handle, status)
                live.update(progress_table(status, estimates=estimates))
        return status
    _print_lines(phase_lines(None, status, estimates))
    while status.phase not in until:
        await asyncio.sleep(WATCH_POLL_SECONDS)
        latest = await _query_or_last(handle, status)
        _print_lines(phase_lines(status, latest, estimates))
        sys.stdout.flush()
        status = latest
    return status


async def _query_or_last(handle: WorkflowHandle[Any, Any], last: WorkspaceStatus) -> WorkspaceStatus:
    """The newest status; a workflow that ended reads as Deleted (or Failed), a hiccup as the last one."""
    try:
        return await _query(handle)
    except (WorkflowQueryFailedError, RPCError):
        pass
    try:
        described = await handle.describe()
    except RPCError:
        return last.model_copy(update={"phase": Phase.DELETED, "message": "the workflow is gone"})
    if described.status == WorkflowExecutionStatus.RUNNING:
        return last
    ended = Phase.DELETED if described.status == WorkflowExecutionStatus.COMPLETED else Phase.FAILED
    message = f"the workflow ended: {described.status.name if described.status else 'unknown'}"
    return last.model_copy(update={"phase": ended, "message": message})


async def _status(namespace: str, name: str) -> WorkspaceStatus:
    client = await _client()
    try:
        status: WorkspaceStatus = await _handle(client, namespace, name).query(
            STATUS_QUERY, result_type=WorkspaceStatus
        )
        return status
    except RPCError as error:
        _fail(f"workspace {namespace}/{name}: {error.message}", EXIT_UNREACHABLE)


@workspace_app.command("delete")
def delete(
    name: str,
    namespace: NamespaceOption = "default",
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="then follow the teardown until Deleted")
    ] = False,
) -> None:
    """Tear the workspace down: workload, Service, then the GPU agent pool."""
    asyncio.run(_delete(namespace, name))
    if watch:
        asyncio.run(_watch(namespace, name, until=frozenset({Phase.DELETED, Phase.FAILED})))


async def _delete(namespace: str, name: str) -> None:
    client = await _client()
    try:
        await _handle(client, namespace, name).signal(SignalName.DELETE)
    except RPCError as error:
        _fail(f"workspace {namespace}/{name}: {error.message}", EXIT_UNREACHABLE)
    out.print(f"workspace {namespace}/{name}: delete requested")


@workspace_app.command("chat")
def chat(
    name: str,
    prompt: Annotated[str, typer.Argument(help="what to ask the model")],
    namespace: NamespaceOption = "default",
) -> None:
    """Send one prompt to a workspace's model through its Service and print the answer."""
    status = asyncio.run(_status(namespace, name))
    if status.phase in (Phase.SUSPENDED, Phase.SUSPENDING):
        since = status.suspended_since.isoformat(timespec="seconds") if status.suspended_since else "just now"
        _fail(
            f"workspace {namespace}/{name} is suspended (scaled to zero) since {since}; a request to its "
            "Service from inside the cluster wakes it (the wake gateway holds the request until the model "
            f"answers), or resume it with `kaitoctl workspace resume {name}` or "
            f"`kubectl annotate workspace {name} kaito.sh/resume=now`",
            EXIT_UNREACHABLE,
        )
    if status.phase != Phase.READY:
        _fail(
            f"workspace {namespace}/{name} is {status.phase.value}, not Ready: {status.message}",
            EXIT_UNREACHABLE,
        )
    config = kubeconfig()
    if config is None:
        _fail("no kubeconfig: set KUBECONFIG or run `kaitoctl dev up`", EXIT_UNREACHABLE)
    try:
        model, text = ask(status, prompt, config)
    except ChatError as error:
        _fail(str(error), EXIT_UNREACHABLE)
    out.print(f"[bold]{model}[/] via {status.endpoint}:", highlight=False)
    out.print(text, highlight=False)


@workspace_app.command("resume")
def resume(name: str, namespace: NamespaceOption = "default") -> None:
    """Scale a suspended workspace back up; returns once it serves again (or says why not)."""
    status = asyncio.run(_resume(namespace, name))
    if status.phase != Phase.READY:
        _fail(f"workspace {namespace}/{name} did not come back: {status.message}", EXIT_UNREACHABLE)
    out.print(f"workspace {namespace}/{name} is Ready again at {status.endpoint}", highlight=False)


async def _resume(namespace: str, name: str) -> WorkspaceStatus:
    client = await _client()
    try:
        doing = f"resuming {namespace}/{name}: GPU pool, nodes, model, health…"
        if not out.is_terminal:
            err.print(doing, highlight=False)  # a pipe gets no spinner: say once what is under way
        with out.status(doing):
            status: WorkspaceStatus = await _handle(client, namespace, name).execute_update(
                UpdateName.RESUME, result_type=WorkspaceStatus
            )
    except WorkflowUpdateFailedError as refused:
        _fail(str(refused.cause or refused), EXIT_INVALID)
    except RPCError as error:
        _fail(f"workspace {namespace}/{name}: {error.message}", EXIT_UNREACHABLE)
    return status


@workspace_app.command("suspend")
def suspend(name: str, namespace: NamespaceOption = "default") -> None:
    """Scale a Ready workspace to zero now (workload and GPU pool), keeping its spec and Service."""
    asyncio.run(_suspend(namespace, name))


async def _suspend(namespace: str, name: str) -> None:
    client = await _client()
    handle = _handle(client, namespace, name)
    try:
        status: WorkspaceStatus = await handle.query(STATUS_QUERY, result_type=WorkspaceStatus)
        if status.phase != Phase.READY:
            _fail(
                f"workspace {namespace}/{name} is {status.phase.value}; only a Ready one can be suspended",
                EXIT_INVALID,
            )
        await handle.signal(SignalName.SUSPEND, SuspendRequest(reason="suspended with kaitoctl"))
    except RPCError as error:
        _fail(f"workspace {namespace}/{name}: {error.message}", EXIT_UNREACHABLE)
    out.print(f"workspace {namespace}/{name}: scaling to zero")


@workspace_app.command("list")
def list_workspaces(output: OutputOption = "table") -> None:
    """Every workspace: state, size, nodes and message (-o wide: model, idle time, what suspension saved).

    Workspaces refused at admission have no workflow; they are listed from the cluster's objects with
    the reason they were refused."""
    _check_output(output)
    statuses = asyncio.run(_statuses())
    statuses = _with_objects_only(statuses)
    if output in ("json", "yaml"):
        _print_data([s.model_dump(mode="json") for s in statuses], output)
    else:
        _print_lines(list_lines(statuses, datetime.now(UTC), _screen(), wide=output == "wide"))


def _with_objects_only(statuses: list[WorkspaceStatus]) -> list[WorkspaceStatus]:
    """The workflows' statuses, plus every Workspace object that has no running workflow."""
    config = kubeconfig()
    if config is None:
        return statuses
    try:
        objects = workspace_objects(config)
    except ClusterUnreadable as error:
        err.print(f"[yellow]warning:[/] Workspaces without a workflow not shown: {error}", highlight=False)
        return statuses
    known = {(s.namespace, s.name) for s in statuses}
    extra = [status_of_object(o) for o in objects]
    merged = statuses + [s for s in extra if (s.namespace, s.name) not in known]
    return sorted(merged, key=lambda s: (s.namespace, s.name))


async def _statuses() -> list[WorkspaceStatus]:
    client = await _client()
    statuses: list[WorkspaceStatus] = []
    async for execution in client.list_workflows(RUNNING_WORKSPACES):
        try:
            status: WorkspaceStatus = await asyncio.wait_for(
                client.get_workflow_handle(execution.id).query(STATUS_QUERY, result_type=WorkspaceStatus),
                LIST_QUERY_TIMEOUT_SECONDS,
            )
        except WorkflowQueryFailedError:
            continue  # ended between the listing and the query
        except (RPCError, TimeoutError) as error:
            if isinstance(error, RPCError) and "not found" in error.message.lower():
                continue
            status = _from_visibility(execution, "no worker answered the status query")
        statuses.append(status)
    return sorted(statuses, key=lambda s: (s.namespace, s.name))


def _from_visibility(execution: WorkflowExecution, message: str) -> WorkspaceStatus:
    """What visibility knows of a workspace whose worker is down: its name, SKU and last phase."""
    attrs = execution.typed_search_attributes
    phase = attrs.get(sa.PHASE) or Phase.PENDING.value
    return WorkspaceStatus(
        namespace=attrs.get(sa.NAMESPACE) or "default",
        name=attrs.get(sa.WORKSPACE) or execution.id.rsplit("/", 1)[-1],
        phase=Phase(phase) if phase in Phase.__members__.values() else Phase.PENDING,
        state="Unknown",
        message=message,
        model=attrs.get(sa.MODEL),
        instance_type=attrs.get(sa.INSTANCE_TYPE),
    )


def run() -> None:
    """The console entry point. Exits with os._exit after flushing: a short-lived Temporal client can
    otherwise abort in interpreter teardown (PyGILState_Release, sdk-python #300) after its work is done."""
    code = 0
    try:
        app()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
