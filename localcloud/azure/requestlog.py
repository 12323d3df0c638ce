"""The request log tests and benchmarks count: one entry per ARM/Entra request, faults included."""

from __future__ import annotations

from collections import deque
from typing import Any

from pydantic import BaseModel


class RequestEntry(BaseModel):
    """One request; the server fills in status and duration when it has answered."""

    seq: int
    at: float  # epoch seconds when the request arrived
    method: str
    path: str
    op: str  # operation name, e.g. "agentPools.put" (the name fault rules match)
    api_version: str | None
    status: int = 0  # 0 while running; -1 when the connection was dropped
    # A request that took effect before its connection was dropped (fault `drop_after`): what it answered.
    dropped_status: int | None = None
    duration_ms: float = 0.0
    principal: str | None = None
    client_request_id: str | None = None
    user_agent: str | None = None
    fault: str | None = None


class RequestLog:
    def __init__(self, capacity: int = 200_000) -> None:
        self._entries: deque[RequestEntry] = deque(maxlen=capacity)
        self._seq = 0

    def start(self, **fields: Any) -> RequestEntry:
        self._seq += 1
        entry = RequestEntry(seq=self._seq, **fields)
        self._entries.append(entry)
        return entry

    def entries(
        self, *, op: str | None = None, method: str | None = None, status: int | None = None, after: int = 0
    ) -> list[RequestEntry]:
        out = []
        for e in self._entries:
            if e.seq <= after or (op and e.op.lower() != op.lower()):
                continue
            if (method and e.method != method.upper()) or (status is not None and e.status != status):
                continue
            out.append(e)
        return out

    def report(self, entries: list[RequestEntry]) -> dict[str, Any]:
        """The body of `GET /_emulator/requests`: these entries and the newest number handed out."""
        return {"count": len(entries), "lastSeq": self._seq, "requests": [e.model_dump() for e in entries]}

    def clear(self) -> None:
        self._entries.clear()
