"""`kaitoctl schedule scale-to-zero`: the Temporal Schedule that runs the idle sweep."""

import asyncio
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError

from connections.temporal import connect
from kaitoctl.context import temporal_settings
from workflows.durations import format_duration, parse_duration
from workflows.sweep_contracts import SCHEDULE_ID, SWEEP_WORKFLOW, SweepInput
from workflows.workspace_contracts import TASK_QUEUE

schedule_app = typer.Typer(help="Temporal Schedules that look after the fleet.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _duration(text: str, flag: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as bad:
        err.print(f"[red]error:[/] {flag}: {bad}", highlight=False)
        raise typer.Exit(2) from None


def sweep_schedule(every: timedelta, idle: timedelta) -> Schedule:
    """Overlapping sweeps are skipped; a missed one is not replayed beyond one interval."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            SWEEP_WORKFLOW,
            SweepInput(idle_window=idle),
            id="scale-to-zero-sweep",
            task_queue=TASK_QUEUE,
            execution_timeout=max(every, timedelta(minutes=5)),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=every),
    )


@schedule_app.command("scale-to-zero")
def scale_to_zero(
    every: Annotated[str, typer.Option(help="how often the sweep runs, e.g. 15m")] = "15m",
    idle: Annotated[str, typer.Option(help="suspend after this long without a request, e.g. 30m")] = "30m",
) -> None:
    """Create (or update) the schedule that suspends idle Ready workspaces."""
    every_td, idle_td = _duration(every, "--every"), _duration(idle, "--idle")
    if idle_td < every_td:
        err.print("[yellow]warning:[/] --idle shorter than --every: idleness is only seen at sweep times")
    created = asyncio.run(_upsert(sweep_schedule(every_td, idle_td)))
    verb = "created" if created else "updated"
    out.print(
        f"schedule {SCHEDULE_ID} {verb}: every {format_duration(every_td)}, suspend after "
        f"{format_duration(idle_td)} without inference requests; pause it in the Temporal UI (Schedules) "
        f"or with `temporal schedule toggle --schedule-id {SCHEDULE_ID} --pause --reason ...`",
        highlight=False,
    )


async def _upsert(schedule: Schedule) -> bool:
    settings = temporal_settings()
    try:
        client: Client = await connect(settings)
    except RuntimeError as error:
        err.print(f"[red]error:[/] cannot reach Temporal at {settings.address}: {error}")
        raise typer.Exit(1) from None
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
        return True
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(SCHEDULE_ID).update(replace)
        return False
    except RPCError as error:
        err.print(f"[red]error:[/] {error.message}")
        raise typer.Exit(1) from None
