"""Agent-pool events for the GPU-node bridge: a pool reached Succeeded with N nodes, failed, or is gone.

Events are numbered and persisted with the state, so a bridge in another process can follow them over
`GET /_emulator/events?after=N&wait=S` and resume after either side restarts; in-process code can
register a listener or iterate `stream()`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from localcloud.azure.state import MAX_EVENTS, Json, StateStore
from localcloud.azure.vmsizes import find_size

log = logging.getLogger(__name__)

# provisioning: an operation on the pool started (its nodes are changing)
# succeeded:    the operation finished; `node_count` nodes should now exist (0 when scaled to 0 or Stopped)
# failed:       the operation ended Failed or Canceled
# deleted:      the pool no longer exists; its nodes should go
PoolEventKind = Literal["provisioning", "succeeded", "failed", "deleted"]


class PoolSnapshot(BaseModel):
    """What a bridge needs to register the Nodes AKS would create for a pool."""

    model_config = ConfigDict(frozen=True)

    id: str
    subscription_id: str
    resource_group: str
    cluster: str
    name: str
    vm_size: str
    count: int
    node_count: int  # nodes that exist when the pool is settled: count, or 0 when powerState is Stopped
    gpus_per_node: int
    mode: str
    os_type: str
    os_disk_size_gb: int | None
    node_labels: dict[str, str]
    node_taints: list[str]
    power_state: str
    provisioning_state: str

    @classmethod
    def from_resource(cls, pool: Json) -> PoolSnapshot:
        props: Json = pool["properties"]
        parts = pool["id"].split("/")
        size = find_size(props["vmSize"])
        power = props.get("powerState", {}).get("code", "Running")
        count = int(props.get("count", 0))
        return cls(
            id=pool["id"],
            subscription_id=parts[2],
            resource_group=parts[4],
            cluster=parts[8],
            name=pool["name"],
            vm_size=props["vmSize"],
            count=count,
            node_count=0 if power == "Stopped" else count,
            gpus_per_node=size.gpus if size else 0,
            mode=props.get("mode", "User"),
            os_type=props.get("osType", "Linux"),
            os_disk_size_gb=props.get("osDiskSizeGB"),
            node_labels=dict(props.get("nodeLabels") or {}),
            node_taints=list(props.get("nodeTaints") or []),
            power_state=power,
            provisioning_state=props.get("provisioningState", "Succeeded"),
        )


class PoolEvent(BaseModel):
    """One numbered event, as the state file, `/_emulator/events` and listeners see it."""

    model_config = ConfigDict(frozen=True)

    seq: int
    kind: PoolEventKind
    at: float  # epoch seconds
    pool: PoolSnapshot
    operation_id: str | None = None
    error: dict[str, str] | None = None


PoolListener = Callable[[PoolEvent], Awaitable[None] | None]


class EventHub:
    """Numbers, stores and fans out pool events; listeners run as tasks so a slow bridge never stalls ARM."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._listeners: list[PoolListener] = []
        self._changed: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def add_listener(self, listener: PoolListener) -> Callable[[], None]:
        """Call `listener` for every future event; returns a function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(
        self,
        kind: PoolEventKind,
        pool: Json,
        operation_id: str | None = None,
        error: dict[str, str] | None = None,
    ) -> PoolEvent:
        """Record an event; the caller saves the state (it is part of the same change)."""
        state = self._store.state
        state.event_seq += 1
        event = PoolEvent(
            seq=state.event_seq,
            kind=kind,
            at=time.time(),
            pool=PoolSnapshot.from_resource(pool),
            operation_id=operation_id,
            error=error,
        )
        state.events.append(event.model_dump())
        if len(state.events) > MAX_EVENTS:
            del state.events[: len(state.events) - MAX_EVENTS]
        for listener in list(self._listeners):
            self._call(listener, event)
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()
        return event

    def _call(self, listener: PoolListener, event: PoolEvent) -> None:
        try:
            result = listener(event)
        except Exception:
            log.exception("pool listener failed on event %s", event.seq)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._listener_done)

    def _listener_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("pool listener failed", exc_info=task.exception())

    def since(self, after: int) -> list[PoolEvent]:
        return [PoolEvent.model_validate(raw) for raw in self._store.state.events if int(raw["seq"]) > after]

    async def wait(self, after: int, timeout: float) -> list[PoolEvent]:
        """Events numbered above `after`, waiting up to `timeout` seconds for the first one (long poll)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            events = self.since(after)
            remaining = deadline - asyncio.get_running_loop().time()
            if events or remaining <= 0:
                return events
            if self._changed is None:
                self._changed = asyncio.Event()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return self.since(after)

    async def stream(self, after: int = 0) -> AsyncIterator[PoolEvent]:
        """Every event after `after`, then each new one as it happens; ends only when cancelled."""
        seen = after
        while True:
            for event in await self.wait(seen, 3600.0):
                seen = event.seq
                yield event

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
