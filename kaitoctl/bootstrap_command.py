r"""`kaitoctl bootstrap`: set a cluster up for kaito-temporal through the bootstrap workflow.

    kaitoctl bootstrap --subscription S --resource-group G --cluster C

starts (or joins, if one is running) the workflow `bootstrap/S/G/C` on the bootstrap task queue and shows
its steps as they finish. A bootstrap worker holding the operator's credential must serve that queue
(`python -m worker.bootstrap_worker`; the local cloud runs one). The same run through the Temporal CLI:

    temporal workflow start --type BootstrapWorkflow --task-queue kaito-bootstrap \
        --workflow-id bootstrap/S/G/C \
        --input '{"subscription_id": "S", "resource_group": "G", "cluster_name": "C"}'

Re-running is safe and is how a broken federation is repaired: every step writes only what differs.
With the local cloud running, omitted options take the values its own bootstrap used.
"""

import asyncio
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from connections.temporal import connect
from kaitoctl.context import running_stack, temporal_settings
from localcloud.stack_file import StackInfo
from workflows.bootstrap_contracts import (
    BOOTSTRAP_TASK_QUEUE,
    PROGRESS_QUERY,
    BootstrapProgress,
    BootstrapRequest,
    BootstrapResult,
)
from workflows.bootstrap_workflow import BootstrapWorkflow

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
EXIT_FAILED = 1
EXIT_INVALID = 2
POLL_SECONDS = 0.5


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    err.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def build_request(given: dict[str, Any], stack: StackInfo | None) -> BootstrapRequest:
    """The options given, over the local cloud's own bootstrap request when one runs (same cluster)."""
    base: dict[str, Any] = {}
    if stack is not None and stack.bootstrap is not None:
        local = stack.bootstrap.request.model_dump()
        names = ("subscription_id", "resource_group", "cluster_name")
        if all(given.get(n) in (None, local[n]) for n in names):
            base = local
    fields = {**base, **{k: v for k, v in given.items() if v is not None}}
    missing = [n for n in ("subscription_id", "resource_group", "cluster_name") if not fields.get(n)]
    if missing:
        flags = ", ".join("--" + n.replace("_id", "").replace("_name", "").replace("_", "-") for n in missing)
        _fail(f"{flags} required (no local cloud to take them from)", EXIT_INVALID)
    try:
        return BootstrapRequest.model_validate(fields)
    except ValidationError as invalid:
        _fail(f"invalid bootstrap request: {invalid}", EXIT_INVALID)


async def _has_worker(client: Client) -> bool:
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=BOOTSTRAP_TASK_QUEUE),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return bool(described.pollers)


async def _follow(handle: WorkflowHandle[Any, BootstrapResult], quiet: bool) -> BootstrapResult:
    """Print each step as it finishes (from the progress query) until the result is in."""
    result = asyncio.ensure_future(handle.result())
    shown = 0
    try:
        while True:
            done, _ = await asyncio.wait({result}, timeout=POLL_SECONDS)
            try:
                progress: BootstrapProgress | None = await handle.query(
                    PROGRESS_QUERY, result_type=BootstrapProgress
                )
            except RPCError:
                progress = None  # no worker right now, or the run just closed
            if progress is not None and not quiet:
                for step in progress.done[shown:]:
                    shown += 1
                    err.print(f"[green]✔[/] {shown}/{progress.steps} {step}", highlight=False)
            if done:
                return result.result()
    finally:
        if not result.done():
            result.cancel()


async def run(request: BootstrapRequest, *, wait: bool, quiet: bool) -> BootstrapResult | None:
    settings = temporal_settings()
    try:
        client = await connect(settings)
    except RuntimeError as error:
        _fail(f"cannot reach Temporal at {settings.address}: {error}")
    if not await _has_worker(client):
        _fail(
            f"no bootstrap worker polls task queue {BOOTSTRAP_TASK_QUEUE}: run "
            "`python -m worker.bootstrap_worker` "
            "with the operator's Azure credential (AZURE_CLIENT_ID/SECRET/TENANT_ID or az login) and an "
            "admin kubeconfig (KAITO_KUBECONFIG) for the cluster"
        )
    handle = await client.start_workflow(
        BootstrapWorkflow.run,
        request,
        id=request.workflow_id,
        task_queue=BOOTSTRAP_TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Bootstrap cluster {request.cluster_name} for kaito-temporal",
    )
    if not quiet:
        err.print(f"bootstrap of cluster {request.cluster_name}: workflow [bold]{request.workflow_id}[/]")
    if not wait:
        return None
    try:
        return await _follow(handle, quiet)
    except WorkflowFailureError as failure:
        _fail(f"bootstrap {request.workflow_id} failed: {failure.cause or failure}")


def print_result(result: BootstrapResult) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("clientId", result.client_id)
    table.add_row("principalId", result.principal_id)
    table.add_row("tenantId", result.tenant_id)
    table.add_row("issuer URL", result.issuer_url)
    table.add_row("federated with", f"{result.subject} (audience {result.audience})")
    table.add_row("Azure", "; ".join(result.azure_changed) or "nothing to change")
    kube = [f"created {n}" for n in result.kube_created] + [f"changed {n}" for n in result.kube_changed]
    table.add_row("Kubernetes", "; ".join(kube) or f"nothing to change ({len(result.kube_applied)} objects)")
    out.print(table)


def bootstrap(
    subscription: Annotated[
        str | None, typer.Option("--subscription", "-s", help="Azure subscription id")
    ] = None,
    resource_group: Annotated[str | None, typer.Option("--resource-group", "-g")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="AKS cluster name")] = None,
    namespace: Annotated[str | None, typer.Option(help="namespace of the worker and controllers")] = None,
    identity_name: Annotated[
        str | None, typer.Option(help="managed identity (default: kaito-worker-<cluster>)")
    ] = None,
    location: Annotated[str | None, typer.Option(help="of the identity (default: the cluster's)")] = None,
    image: Annotated[
        str | None,
        typer.Option(help="worker/controller image (default: KAITO_COMPONENT_IMAGE of the worker)"),
    ] = None,
    worker_replicas: Annotated[int | None, typer.Option(min=0)] = None,
    controller_replicas: Annotated[int | None, typer.Option(min=0, max=1)] = None,
    workspace_namespace: Annotated[
        list[str] | None,
        typer.Option(
            help="bind the worker's rights only in this namespace (repeatable; default: cluster-wide)"
        ),
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
    wait: Annotated[bool, typer.Option(help="wait for the result")] = True,
) -> None:
    """Enable workload identity, create and federate the worker's identity, grant it Contributor on the
    cluster, and install the CRD, RBAC and components — one durable, re-runnable workflow."""
    if output not in ("table", "json"):
        _fail(f"--output must be table or json, not {output!r}", EXIT_INVALID)
    given: dict[str, Any] = {
        "subscription_id": subscription,
        "resource_group": resource_group,
        "cluster_name": cluster,
        "namespace": namespace,
        "identity_name": identity_name,
        "location": location,
        "image": image,
        "worker_replicas": worker_replicas,
        "controller_replicas": controller_replicas,
        "workspace_namespaces": workspace_namespace or None,
    }
    request = build_request(given, running_stack())
    result = asyncio.run(run(request, wait=wait, quiet=output == "json"))
    if result is None:
        return
    if output == "json":
        out.print_json(result.model_dump_json())
    else:
        print_result(result)
