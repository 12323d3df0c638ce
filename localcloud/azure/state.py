"""The emulator's whole world in one JSON document, saved atomically after every change.

Resources are kept in the exact JSON shape ARM returns (keyed by lower-cased resource id, because ARM ids
are case-insensitive), so handlers return them as they are and a restart loses nothing, in-flight
operations included.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Json = dict[str, Any]

STATE_VERSION = 1
MAX_EVENTS = 2000


@dataclass
class State:
    signing_key_pem: str = ""
    clusters: dict[str, Json] = field(default_factory=dict)
    agent_pools: dict[str, Json] = field(default_factory=dict)
    identities: dict[str, Json] = field(default_factory=dict)
    federated_credentials: dict[str, Json] = field(default_factory=dict)
    role_assignments: dict[str, Json] = field(default_factory=dict)
    # principal object id -> {"type", "createdAt" (epoch s), "clientId", "displayName"}
    principals: dict[str, Json] = field(default_factory=dict)
    operations: dict[str, Json] = field(default_factory=dict)
    events: list[Json] = field(default_factory=list)
    event_seq: int = 0

    _SECTIONS = (
        "clusters",
        "agent_pools",
        "identities",
        "federated_credentials",
        "role_assignments",
        "principals",
        "operations",
    )

    def to_json(self) -> Json:
        doc: Json = {"version": STATE_VERSION, "signingKeyPem": self.signing_key_pem}
        for section in self._SECTIONS:
            doc[section] = getattr(self, section)
        doc["events"] = self.events[-MAX_EVENTS:]
        doc["eventSeq"] = self.event_seq
        return doc

    @classmethod
    def from_json(cls, doc: Json) -> State:
        if doc.get("version") != STATE_VERSION:
            raise ValueError(f"state file version {doc.get('version')!r}, expected {STATE_VERSION}")
        state = cls(signing_key_pem=str(doc.get("signingKeyPem", "")))
        for section in cls._SECTIONS:
            setattr(state, section, dict(doc.get(section, {})))
        state.events = list(doc.get("events", []))
        state.event_seq = int(doc.get("eventSeq", 0))
        return state


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
        self.state = State.from_json(json.loads(self.path.read_text()))
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
        tmp.write_text(json.dumps(self.state.to_json(), separators=(",", ":")))
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
