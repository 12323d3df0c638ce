"""`kaitoctl`: validate, apply and inspect KAITO Workspaces run as Temporal workflows."""

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.service import RPCError

from connections.temporal import connect
from kaitoctl.bootstrap_command import bootstrap
from kaitoctl.capacity import capacity_app
from kaitoctl.chat import ChatError, ask
from kaitoctl.context import kubeconfig, temporal_settings
from kaitoctl.dev import dev_app
from kaitoctl.loading import load_workspace_file
from kaitoctl.render import print_status, workspaces_table
from kaitoctl.schedule import schedule_app
from workflows.workspace_client import RUNNING_WORKSPACES, apply_workspace
from workflows.workspace_contracts import (
    STATUS_QUERY,
    Phase,
    ProvisioningPlan,
    SignalName,
    SuspendRequest,
    UpdateName,
    WorkspaceStatus,
)
from workflows.workspace_plan import build_plan
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


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _load_valid(path: Path) -> tuple[Workspace, ProvisioningPlan]:
    """Offline validation: the same rules and words as the workflow and the controller."""
    try:
        ws = load_workspace_file(path)
        plan = build_plan(ws)
    except WorkspaceInvalid as invalid:
        _fail(str(invalid), EXIT_INVALID)
    for warning in plan.warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    return ws, plan


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
    ws, plan = _load_valid(filename)
    out.print(
        f"[green]valid:[/] workspace {ws.namespace}/{ws.name}: {plan.model} on {plan.node_count} × "
        f"{plan.instance_type} (agent pool {plan.agent_pool})",
        highlight=False,
    )


@workspace_app.command("apply")
def apply(filename: FileOption) -> None:
    """Validate, then signal-with-start the workspace's workflow (the running one gets the new spec)."""
    ws, _ = _load_valid(filename)
    asyncio.run(_apply(ws))


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
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
) -> None:
    """Show a workspace's phase, conditions, nodes, timings and endpoint (the workflow's status query)."""
    if output not in ("table", "json"):
        _fail(f"--output must be table or json, not {output!r}", EXIT_INVALID)
    status = asyncio.run(_status(namespace, name))
    if output == "json":
        out.print_json(status.model_dump_json(by_alias=True))
    else:
        print_status(out, status, datetime.now(UTC))


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
def delete(name: str, namespace: NamespaceOption = "default") -> None:
    """Tear the workspace down: workload, Service, then the GPU agent pool."""
    asyncio.run(_delete(namespace, name))


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
            f"workspace {namespace}/{name} is suspended (scaled to zero) since {since}; resume it with "
            f"`kaitoctl workspace resume {name}` or `kubectl annotate workspace {name} kaito.sh/resume=now`",
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
        with out.status(f"resuming {namespace}/{name}: GPU pool, nodes, model, health…"):
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
def list_workspaces(
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
) -> None:
    """Every running workspace: state, model, size, nodes, idle time, and what suspension saved."""
    if output not in ("table", "json"):
        _fail(f"--output must be table or json, not {output!r}", EXIT_INVALID)
    statuses = asyncio.run(_statuses())
    if output == "json":
        out.print_json(data=[s.model_dump(mode="json") for s in statuses])
    else:
        out.print(workspaces_table(statuses, datetime.now(UTC)))


async def _statuses() -> list[WorkspaceStatus]:
    client = await _client()
    statuses: list[WorkspaceStatus] = []
    async for execution in client.list_workflows(RUNNING_WORKSPACES):
        try:
            status: WorkspaceStatus = await client.get_workflow_handle(execution.id).query(
                STATUS_QUERY, result_type=WorkspaceStatus
            )
        except (RPCError, WorkflowQueryFailedError):
            continue  # ended between the listing and the query
        statuses.append(status)
    return sorted(statuses, key=lambda s: (s.namespace, s.name))


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
