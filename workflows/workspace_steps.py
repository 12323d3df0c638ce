"""How the workspace workflow runs a step: an activity a delete can interrupt, or a signal-driven wait.

A delete signal must end a workspace whatever it is doing, so every interruptible step watches for it and
unwinds with `DeleteRequested` to the teardown. Failures come out as one non-retryable ApplicationError
whose type is the cause's (it becomes the WorkspaceSucceeded reason) and whose message names the step.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.activity_options import start_activity
from workflows.workspace_contracts import ActivityName

T = TypeVar("T")

DEADLINE_EXCEEDED = "DeadlineExceeded"
# Recounts run to their end even when a delete arrives meanwhile: a count takes a moment, and cancelling
# an activity that has just finished makes the server refuse the workflow task (the time-skipping test
# server then never redelivers it). Runs that began before this change keep cancelling theirs.
RECOUNTS_RUN_TO_END = "recounts-run-to-end"
ACTIVITY_FAILED = "ActivityFailed"  # the failure's type when the activity's error names none


class DeleteRequested(Exception):
    """Unwinds whatever step is running when the delete signal arrives."""


@dataclass(frozen=True)
class Recount(Generic[T]):
    """A count the controllers signal, and the activity that counts it afresh into the same handler."""

    activity: ActivityName
    arg: Callable[[], Any]
    result_type: type[T]
    absorb: Callable[[T], None]

    async def run(self, steps: "Steps", summary: str) -> None:
        if not workflow.patched(RECOUNTS_RUN_TO_END):
            self.absorb(await steps.run(self.activity, self.arg(), self.result_type, summary))
            return
        self.absorb(await steps.run_to_end(self.activity, self.arg(), self.result_type, summary))
        steps.unwind_if_deleted()


class Steps:
    """The workflow's activities and waits, each abandoned once `delete_requested()` holds."""

    def __init__(self, delete_requested: Callable[[], bool]) -> None:
        self._delete_requested = delete_requested

    def unwind_if_deleted(self) -> None:
        if self._delete_requested():
            raise DeleteRequested()

    async def run(self, name: ActivityName, arg: Any, result_type: type[T], summary: str) -> T:
        """Run one activity; a delete signal abandons it (cancelled) and unwinds to the teardown."""
        return await self._run(name, arg, result_type, summary, interruptible=True)

    async def run_to_end(self, name: ActivityName, arg: Any, result_type: type[T], summary: str) -> T:
        """Run one activity a delete must not abandon: the cleanup itself, a failed resume's scale-down."""
        return await self._run(name, arg, result_type, summary, interruptible=False)

    async def _run(
        self, name: ActivityName, arg: Any, result_type: type[T], summary: str, *, interruptible: bool
    ) -> T:
        if interruptible:
            self.unwind_if_deleted()
        handle = start_activity(name, arg, result_type=result_type, summary=summary)
        if interruptible:
            await workflow.wait_condition(lambda: handle.done() or self._delete_requested())
            if not handle.done():
                handle.cancel()
                raise DeleteRequested()
        try:
            return await handle
        except ActivityError as err:
            cause = err.cause
            reason = cause.type if isinstance(cause, ApplicationError) and cause.type else ACTIVITY_FAILED
            raise ApplicationError(
                f"{summary}: {cause_of(cause) if cause else err}", type=reason, non_retryable=True
            ) from err

    async def wait_for(
        self, what: str, recount: Recount[Any], shortfall: Callable[[], str | None], deadline: timedelta
    ) -> None:
        """Signal-driven: recount once, wait up to the deadline, recount once more, then give up.

        `shortfall()` is None once the wait is over, else how far it got (say "0/1 nodes Ready"). The
        signals do the work; the recounts cover any signal sent before the wait began or lost on the way,
        so no worker slot polls while Azure boots VMs.
        """
        await recount.run(self, f"reconcile: count {what}")
        if shortfall() is None:
            return
        try:
            await workflow.wait_condition(
                lambda: shortfall() is None or self._delete_requested(),
                timeout=deadline,
                timeout_summary=f"deadline for {what}",
            )
        except TimeoutError:
            await recount.run(self, f"deadline reconcile: {what}")
        if self._delete_requested():
            raise DeleteRequested()
        missing = shortfall()
        if missing is not None:
            raise ApplicationError(
                f"gave up after {_duration(deadline)} waiting for {what}: {missing}",
                type=DEADLINE_EXCEEDED,
                non_retryable=True,
            )


def cause_of(error: BaseException) -> str:
    """The cause an activity reported, without the activity's own context (its `doing`) when its details
    carry the cause alone (`activities.azure_errors` does): the step's summary is the context, said once."""
    details = error.details if isinstance(error, ApplicationError) else ()
    first = details[0] if details else None
    if isinstance(first, dict) and isinstance(first.get("cause"), str) and first["cause"]:
        return str(first["cause"])
    if isinstance(error, ApplicationError) and isinstance(first, dict):
        said = first.get("message")  # `doing: message` (the Kubernetes calls): the message alone
        if isinstance(said, str) and said and error.message.endswith(f": {said}"):
            return said
    # str() of an ApplicationError starts with its type, which the failure keeps as its own type.
    return error.message if isinstance(error, ApplicationError) else str(error)


def _duration(value: timedelta) -> str:
    minutes, seconds = divmod(int(value.total_seconds()), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
