"""Waiting for GPU quota instead of failing: the quota read before the PUT, the per-family queue, fallbacks.

Before it creates a pool the workflow reads the region's quota for the size's VM family (one activity,
`usage.list`). When the cores are not free — or ARM refuses the PUT with QuotaExceeded, AllocationFailed,
OverconstrainedAllocationRequest or SkuNotAvailable — it tries the user's fallback sizes in order, and
when none has room it enters WaitingForCapacity: a durable wait on a signal, with a long timer as the
fallback and the annotation's deadline (24 h by default). It holds no worker slot and runs no activity
while it waits.

The queue of a family is a visibility query: a waiting workflow carries the search attributes
`KaitoCapacityFamily`, `KaitoCapacityQueuedAt` and `KaitoCapacityCores`. A queue made of search
attributes needs no extra workflow that could itself fail, be stuck or need continue-as-new, keeps
working across worker and server restarts, and shows in the Temporal UI as a saved filter. Whoever frees
cores of a family (a delete, a scale to zero, a waiter leaving the queue) runs `wake_capacity_waiters`,
which reads the family's quota once, walks the queue oldest first and signals each waiter its place and
the cores free. Only a waiter whose turn it may be reads the quota again, so the wait costs ARM one read
per freed pool, not one per waiter. First come, first served: a waiter counts what the ones queued before
it need as taken (`CapacityReport.fits`).
"""

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa
    from workflows.conditions import capacity_text
    from workflows.fallback_sizes import (
        ANNOTATION_FALLBACKS,
        capacity_wait,
        fallback_instance_types,
        with_instance_type,
    )
    from workflows.workspace_contracts import (
        ActivityName,
        CapacityFreed,
        CapacityNotice,
        CapacityReport,
        CapacityRequest,
        Phase,
        ProvisioningPlan,
        SignalName,
    )
    from workflows.workspace_record import WorkspaceRecord
    from workflows.workspace_steps import DeleteRequested, Steps

# Runs that began before capacity-aware provisioning keep creating their pool as they did.
CAPACITY_AWARE = "capacity-aware"
# ARM's answers that mean "no room now" rather than "never": they send the workspace to the queue.
CAPACITY_CODES = frozenset(
    {
        "QuotaExceeded",
        "OperationNotAllowedQuota",
        "AllocationFailed",
        "ZonalAllocationFailed",
        "OverconstrainedAllocationRequest",
        "OverconstrainedZonalAllocationRequest",
        "SkuNotAvailable",
    }
)
CAPACITY_TIMEOUT = "CapacityTimeout"
# Runs that began before notices were ordered take every notice as it comes.
NEWEST_NOTICE_WINS = "capacity-newest-notice-wins"
# The timer that covers a lost wake-up (and quota freed outside this system, say a quota increase).
RECHECK_EVERY = timedelta(minutes=15)


class CapacityWaits(WorkspaceRecord):
    """The capacity half of the workspace workflow; the workflow calls `_secure_capacity` before a PUT."""

    _steps: Steps
    _delete_requested: bool

    def _init_capacity(self) -> None:
        self._notice: CapacityNotice | None = None
        self._woken = False
        self._refused: dict[str, str] = {}  # size -> why ARM refused it, until the next wake-up
        self._plans: dict[str, ProvisioningPlan] = {}

    @workflow.signal(name=SignalName.CAPACITY_CHANGED)
    def capacity_changed(self, notice: CapacityNotice) -> None:
        """Cores of a family were freed (or a waiter left its queue): the place and the cores now free.

        Two wakers' notices can arrive out of order (the waiter the first one woke takes the pool and
        wakes the queue before the first waker has signalled everyone), so a notice older than the one
        already taken is dropped: it would put this waiter back in a place it has left."""
        if _older(notice, self._notice) and workflow.patched(NEWEST_NOTICE_WINS):
            return
        self._notice = notice
        self._woken = True

    # ---- choosing the size ---------------------------------------------------------------------------

    async def _secure_capacity(self, current: ProvisioningPlan, *, resuming: bool) -> ProvisioningPlan:
        """The plan to put the pool with: the first size in the user's order that has room now, after the
        waiters ahead of this one; otherwise wait in the queue of the first size's family."""
        sizes = [current.instance_type] if resuming else self._sizes(current)
        queued_at = self._carried.capacity_queued_at
        deadline = (queued_at or workflow.now()) + capacity_wait(self._ws)
        while True:
            first: CapacityReport | None = None
            for size in sizes:
                plan = await self._plan_for(size, current)
                if plan.instance_type in self._refused:
                    continue
                report = await self._read_capacity(plan)
                if report.fits and self._carried.capacity_queued_at is None:
                    # Join the queue before the PUT, then look again: of workspaces that found the same
                    # free cores at the same moment, only the first to join goes ahead.
                    self._join_queue(report)
                    report = await self._read_capacity(plan)
                first = first or report
                if report.fits:
                    self._say_which_size(plan, sizes)
                    return plan
            await self._wait_for_capacity(first or self._capacity, current, deadline)

    def _sizes(self, plan: ProvisioningPlan) -> list[str]:
        return [plan.instance_type, *fallback_instance_types(self._ws)]

    def _why_not(self, size: str) -> str:
        name = self._plans[size].instance_type if size in self._plans else size
        return self._refused.get(name, "no quota free")

    def _named(self, size: str) -> str:
        """The Azure name a size in the user's list resolved to (an alias resolves to its size)."""
        return (self._plans[size].instance_type if size in self._plans else size).lower()

    async def _plan_for(self, size: str, current: ProvisioningPlan) -> ProvisioningPlan:
        """The plan for another size: the validate activity (`build_plan`) on a copy with that size."""
        if size.lower() == current.instance_type.lower():
            return current
        if size not in self._plans:
            other = await self._steps.run(
                ActivityName.VALIDATE,
                with_instance_type(self._ws, size),
                ProvisioningPlan,
                f"plan for {size}",
            )
            self._plans[size] = other.model_copy(update={"uid": current.uid})
        return self._plans[size]

    async def _read_capacity(self, plan: ProvisioningPlan) -> CapacityReport:
        request = CapacityRequest(
            plan=plan, workflow_id=workflow.info().workflow_id, queued_at=self._carried.capacity_queued_at
        )
        summary = f"read the quota for {plan.node_count} × {plan.instance_type}"
        report = await self._steps.run(ActivityName.CHECK_CAPACITY, request, CapacityReport, summary)
        self._capacity = report
        return report

    def _say_which_size(self, plan: ProvisioningPlan, sizes: list[str]) -> None:
        chosen = plan.instance_type.lower()
        index = next((i for i, size in enumerate(sizes) if self._named(size) == chosen), 0)
        if index == 0:
            self._kaito.sku_selected(plan.instance_type, "resource.instanceType, quota free", fallback=False)
            return
        before = "; ".join(f"{size}: {self._why_not(size)}" for size in sizes[:index])
        why = f"fallback {index} of {ANNOTATION_FALLBACKS}, because {before}"
        self._kaito.sku_selected(plan.instance_type, why, fallback=True)

    # ---- the queue -------------------------------------------------------------------------------------

    async def _wait_for_capacity(
        self, report: CapacityReport | None, current: ProvisioningPlan, deadline: datetime
    ) -> None:
        """Join the family's queue (once), say what is awaited, then sleep until a wake-up worth a look."""
        if report is None:  # every size was refused by ARM since the last wake-up: wait for the next
            report = self._capacity
        assert report is not None, "a size was read before any wait"
        if self._carried.capacity_queued_at is None:
            self._join_queue(report)
        await self._show_wait(report, current)
        while True:
            left = deadline - workflow.now()
            if left <= timedelta():
                raise ApplicationError(
                    f"gave up after {_hours(capacity_wait(self._ws))} waiting for capacity: {self._message}",
                    type=CAPACITY_TIMEOUT,
                    non_retryable=True,
                )
            self._woken = False
            try:
                await workflow.wait_condition(
                    lambda: self._woken or self._delete_requested,
                    timeout=min(left, RECHECK_EVERY),
                    timeout_summary=f"recheck the {report.family} quota",
                )
            except TimeoutError:
                self._refused.clear()
                return
            if self._delete_requested:
                raise DeleteRequested()
            notice = self._notice
            if notice is None or self._refused or _may_fit(notice, report):
                self._refused.clear()
                return
            # Not this one's turn yet: show the new place and what is free, without asking ARM.
            report = report.model_copy(
                update={
                    "ahead": notice.place - 1,
                    "ahead_cores": notice.ahead_cores,
                    "usage": report.limit - notice.free,
                }
            )
            self._capacity = report
            await self._show_wait(report, current)

    def _join_queue(self, report: CapacityReport) -> None:
        now = workflow.now()
        self._carried.capacity_queued_at = now
        workflow.upsert_search_attributes(
            [
                sa.CAPACITY_FAMILY.value_set(report.family),
                sa.CAPACITY_QUEUED_AT.value_set(now.isoformat(timespec="microseconds")),
                sa.CAPACITY_CORES.value_set(str(report.needed)),
            ]
        )

    async def _show_wait(self, report: CapacityReport, current: ProvisioningPlan) -> None:
        text = capacity_text(report, current.model, queued=True)
        self._kaito.waiting_for_capacity(text)
        if self._phase == Phase.WAITING_FOR_CAPACITY:
            if text != self._message:
                self._message = text
                workflow.set_current_details(f"**{Phase.WAITING_FOR_CAPACITY.value}** — {text}")
                await self._write_status()
        else:
            await self._enter(Phase.WAITING_FOR_CAPACITY, text)

    async def _leave_queue(self, plan: ProvisioningPlan) -> None:
        """Out of the queue once the pool is accepted; the ones behind learn their new place."""
        if self._carried.capacity_queued_at is None:
            return
        self._carried.capacity_queued_at = None
        workflow.upsert_search_attributes(
            [
                sa.CAPACITY_FAMILY.value_unset(),
                sa.CAPACITY_QUEUED_AT.value_unset(),
                sa.CAPACITY_CORES.value_unset(),
            ]
        )
        family = self._capacity.family if self._capacity else None
        await self._wake_waiters(plan.instance_type, family)

    async def _wake_waiters(self, instance_type: str, family: str | None = None) -> None:
        """Tell the queue of the size's family that cores were freed; never fails the workspace."""
        summary = f"wake the workspaces waiting for {family or instance_type} quota"
        try:
            await self._steps.run_to_end(
                ActivityName.WAKE_CAPACITY_WAITERS, CapacityFreed(instance_type=instance_type), int, summary
            )
        except ApplicationError as failure:  # the waiters' timers cover a wake-up that was not sent
            workflow.logger.warning("could not wake the capacity waiters: %s", failure)


def _older(notice: CapacityNotice, taken: CapacityNotice | None) -> bool:
    """Whether the waker read the queue before the one whose notice was already taken."""
    return taken is not None and notice.at is not None and taken.at is not None and notice.at < taken.at


def _may_fit(notice: CapacityNotice, report: CapacityReport) -> bool:
    return notice.free - notice.ahead_cores >= report.needed


def _hours(value: timedelta) -> str:
    hours = value.total_seconds() / 3600
    return f"{hours:g}h" if hours >= 1 else f"{int(value.total_seconds() // 60)}m"
