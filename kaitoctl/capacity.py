"""`kaitoctl capacity`: per VM family, the quota and usage, the cores our workspaces hold, and the queue.

Everything comes from Temporal, as the rest of the CLI: the running workspace workflows (a visibility
list) and their status queries. A waiting workspace's status carries the quota and usage its worker last
read with `usage.list`; a running one, the size and node count of its pool. The queue is ordered as the
workers serve it: by the time each workspace joined (first come, first served).
"""

import asyncio
import json
from dataclasses import dataclass, field
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from temporalio.client import Client
from temporalio.service import RPCError

from connections.temporal import connect
from kaitoctl.context import temporal_settings
from presets.vm_sizes import find_vm_size
from workflows.workspace_client import RUNNING_WORKSPACES
from workflows.workspace_contracts import STATUS_QUERY, Phase, WorkspaceStatus

capacity_app = typer.Typer(
    help="GPU quota per VM family, what the workspaces hold, and who waits.", invoke_without_command=True
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
HOLDING = {Phase.READY, Phase.HEALTH_CHECKING, Phase.WAITING_FOR_INFERENCE, Phase.DEPLOYING,
           Phase.WAITING_FOR_NODES, Phase.CREATING_NODE_POOL}  # fmt: skip


@dataclass
class Family:
    """One VM family as the workspaces see it."""

    name: str
    location: str = ""
    limit: int | None = None
    usage: int | None = None
    held: dict[str, int] = field(default_factory=dict)  # workspace -> vCPUs of its pool
    waiting: list[WorkspaceStatus] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "family": self.name,
            "location": self.location,
            "limit": self.limit,
            "usage": self.usage,
            "held": self.held,
            "queue": [
                {
                    "workspace": f"{s.namespace}/{s.name}",
                    "place": place,
                    "cores": s.capacity.needed if s.capacity else None,
                    "since": s.capacity_queued_at.isoformat() if s.capacity_queued_at else None,
                }
                for place, s in enumerate(self.waiting, start=1)
            ],
        }


def families(statuses: list[WorkspaceStatus]) -> list[Family]:
    """Group the workspaces by the VM family of their size; the queue oldest first."""
    found: dict[str, Family] = {}
    for status in statuses:
        size = find_vm_size(status.instance_type or "", accept_aliases=True)
        report = status.capacity
        name = report.family if report else (size.family if size else "unknown")
        family = found.setdefault(name, Family(name))
        if report is not None:
            family.location, family.limit, family.usage = report.location, report.limit, report.usage
        if status.phase == Phase.WAITING_FOR_CAPACITY:
            family.waiting.append(status)
        elif status.phase in HOLDING and size is not None:
            family.held[f"{status.namespace}/{status.name}"] = size.vcpus * status.target_nodes
    for family in found.values():
        family.waiting.sort(key=lambda s: (s.capacity_queued_at is None, s.capacity_queued_at, s.name))
    return sorted(found.values(), key=lambda f: f.name)


async def _statuses(client: Client) -> list[WorkspaceStatus]:
    found: list[WorkspaceStatus] = []
    async for execution in client.list_workflows(RUNNING_WORKSPACES):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        try:
            found.append(await handle.query(STATUS_QUERY, result_type=WorkspaceStatus))
        except RPCError:
            continue  # it ended between the list and the query
    return found


async def _read() -> list[Family]:
    client = await connect(temporal_settings())
    return families(await _statuses(client))


def _number(value: int | None) -> str:
    return "?" if value is None else str(value)


@capacity_app.callback()
def capacity(
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
) -> None:
    """Per VM family: the quota and usage last read, the vCPUs our workspaces hold, the queue."""
    if output not in ("table", "json"):
        err.print(f"[red]error:[/] --output: {output!r} is not table or json", highlight=False)
        raise typer.Exit(2)
    try:
        found = asyncio.run(_read())
    except RuntimeError as unreachable:
        err.print(f"[red]error:[/] cannot reach Temporal: {unreachable}", highlight=False)
        raise typer.Exit(1) from None
    if output == "json":
        out.print_json(json.dumps([f.as_json() for f in found]))
        return
    table = Table("FAMILY", "REGION", "QUOTA", "IN USE", "OURS", "QUEUE (first come, first served)")
    for family in found:
        queue = ", ".join(
            f"{place}. {s.namespace}/{s.name} ({s.capacity.needed if s.capacity else '?'} vCPUs)"
            for place, s in enumerate(family.waiting, start=1)
        )
        table.add_row(
            family.name, family.location or "?", _number(family.limit), _number(family.usage),
            str(sum(family.held.values())), queue or "-",
        )  # fmt: skip
    out.print(table)
    if not found:
        out.print("no running workspaces")
