"""ARM long-running operations: the `Azure-AsyncOperation` status resource and the timer behind it.

An operation is persisted with its wall-clock due time and a pre-decided outcome (fault injection picks
Failed/Canceled at the start), so after a restart it completes exactly as it would have, and a status GET
completes an overdue operation itself even if its timer has not fired yet.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel

from localcloud.azure.state import Json, StateStore

log = logging.getLogger(__name__)

TERMINAL = frozenset({"Succeeded", "Failed", "Canceled"})


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


class Operation(BaseModel):
    """One operation as the state file keeps it (`model_dump()`; `model_validate()` reads it back)."""

    id: str
    kind: str  # "agentPool.create" | "agentPool.update" | "agentPool.delete" | "managedCluster.update" ...
    resource_id: str
    subscription_id: str
    location: str
    start: float
    due: float
    status: str = "InProgress"
    end: float | None = None
    outcome: str = "Succeeded"  # what the operation will end as
    outcome_error: dict[str, str] | None = None

    def status_body(self) -> Json:
        body: Json = {"name": self.id, "status": self.status, "startTime": iso(self.start)}
        if self.end is not None:
            body["endTime"] = iso(self.end)
        if self.status in ("Failed", "Canceled") and self.outcome_error:
            body["error"] = dict(self.outcome_error)
        return body


Finisher = Callable[[Operation], None]


class OperationRunner:
    """Starts, times, completes and resumes operations; resource modules register how each kind ends."""

    def __init__(self, store: StateStore, retry_after_max: int) -> None:
        self._store = store
        self.retry_after_max = retry_after_max
        self._finishers: dict[str, Finisher] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}

    def register(self, kind: str, finisher: Finisher) -> None:
        self._finishers[kind] = finisher

    def new(
        self,
        kind: str,
        resource_id: str,
        subscription_id: str,
        location: str,
        seconds: float,
        outcome: str = "Succeeded",
        outcome_error: dict[str, str] | None = None,
    ) -> Operation:
        if len(self._store.state.operations) > 1000:
            self.prune(keep_seconds=600.0)
        now = time.time()
        op = Operation(
            id=str(uuid.uuid4()),
            kind=kind,
            resource_id=resource_id,
            subscription_id=subscription_id,
            location=location,
            start=now,
            due=now + seconds,
            outcome=outcome,
            outcome_error=outcome_error,
        )
        self._store.state.operations[op.id] = op.model_dump()
        self._schedule(op)
        return op

    def get(self, op_id: str) -> Operation | None:
        """The operation, completed first if it is overdue (timers can lag; the status must not)."""
        raw = self._store.state.operations.get(op_id.lower())
        if raw is None:
            return None
        op = Operation.model_validate(raw)
        if op.status not in TERMINAL and time.time() >= op.due:
            self._complete(op.id)
            op = Operation.model_validate(self._store.state.operations[op.id])
        return op

    def retry_after(self, op: Operation) -> int:
        return max(1, min(self.retry_after_max, math.ceil(op.due - time.time())))

    def resume(self) -> None:
        """Re-arm the timers of operations that were in flight when the state was saved."""
        for raw in list(self._store.state.operations.values()):
            op = Operation.model_validate(raw)
            if op.status not in TERMINAL:
                self._schedule(op)

    def _schedule(self, op: Operation) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not serving yet; `resume()` arms it at start and `get()` completes it lazily
        self._timers[op.id] = loop.create_task(self._timer(op.id, op.due))

    async def _timer(self, op_id: str, due: float) -> None:
        await asyncio.sleep(max(0.0, due - time.time()))
        self._timers.pop(op_id, None)
        try:
            self._complete(op_id)
        except Exception:
            log.exception("completing operation %s failed", op_id)

    def _complete(self, op_id: str) -> None:
        raw = self._store.state.operations.get(op_id)
        if raw is None:
            return
        op = Operation.model_validate(raw)
        if op.status in TERMINAL:
            return
        op.status = op.outcome
        op.end = time.time()
        self._store.state.operations[op.id] = op.model_dump()
        finisher = self._finishers.get(op.kind)
        if finisher is not None:
            finisher(op)
        self._store.save_soon()

    def in_flight_for(self, resource_id: str) -> Operation | None:
        key = resource_id.lower()
        for raw in self._store.state.operations.values():
            if raw["resource_id"].lower() == key and raw["status"] not in TERMINAL:
                return self.get(raw["id"])
        return None

    async def stop(self) -> None:
        timers = list(self._timers.values())
        self._timers.clear()
        for task in timers:
            task.cancel()
        await asyncio.gather(*timers, return_exceptions=True)

    def prune(self, keep_seconds: float = 3600.0) -> None:
        """Forget finished operations older than `keep_seconds` so the state file stays small."""
        cutoff = time.time() - keep_seconds
        ops = self._store.state.operations
        for op_id in [k for k, v in ops.items() if v["status"] in TERMINAL and (v["end"] or 0) < cutoff]:
            del ops[op_id]
