"""The emulator's whole world in one JSON document, saved atomically after every change.

Resources are kept in the exact JSON shape ARM returns (keyed by lower-cased resource id, because ARM ids
are case-insensitive), so handlers return them as they are and a restart loses nothing, in-flight
operations included.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Json = dict[str, Any]

MAX_EVENTS = 2000


class State(BaseModel):
    """The state file's document (a file of another version is refused, not misread)."""

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    version: Literal[1] = 1
    signing_key_pem: str = Field(default="", alias="signingKeyPem")
    clusters: dict[str, Json] = {}
    agent_pools: dict[str, Json] = {}
    identities: dict[str, Json] = {}
    federated_credentials: dict[str, Json] = {}
    role_assignments: dict[str, Json] = {}
    # principal object id -> {"type", "createdAt" (epoch s), "clientId", "displayName"}
    principals: dict[str, Json] = {}
    operations: dict[str, Json] = {}
    events: list[Json] = []  # the last MAX_EVENTS (EventHub trims as it appends)
    event_seq: int = Field(default=0, alias="eventSeq")


class StateStore:
    """Holds the state and writes it to `path` (if any); write-then-rename, never torn.

    `save()` writes before a handler answers, so nothing a client was told about is ever lost.
    `save_soon()` coalesces the writes of operation completions: those are recomputed from the persisted
    operation (due time and outcome) if the process dies first, so they need not cost a write each.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.state = State()
        self.saves = 0
        self._pending: asyncio.TimerHandle | None = None

    def load(self) -> bool:
        """Read the state file; False when there is none yet (a fresh cloud)."""
        if self.path is None or not self.path.exists():
            return False
        self.state = State.model_validate_json(self.path.read_bytes())
        return True

    def save(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self.saves += 1
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(self.state.model_dump_json())
        os.replace(tmp, self.path)

    def save_soon(self, delay: float = 0.05) -> None:
        if self._pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.save()
            return
        self._pending = loop.call_later(delay, self.save)

    def flush(self) -> None:
        """Write now if a coalesced save is pending (on stop)."""
        if self._pending is not None:
            self.save()
