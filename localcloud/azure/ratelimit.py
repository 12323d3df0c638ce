"""ARM's request limits: a token bucket per (principal, reads|writes|deletes), as ARM runs since 2024.

Every ARM response reports what is left in `x-ms-ratelimit-remaining-subscription-*`; an empty bucket
answers 429 only when enforcement is on (off by default so benchmarks measure the emulator, not ARM).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

RequestKind = Literal["reads", "writes", "deletes"]

# (bucket size, refill per second), from "Modernizing ARM throttling" (2024)
LIMITS: dict[RequestKind, tuple[int, float]] = {
    "reads": (250, 25.0),
    "writes": (200, 10.0),
    "deletes": (200, 10.0),
}


def kind_of(method: str) -> RequestKind:
    if method in ("GET", "HEAD", "OPTIONS"):
        return "reads"
    if method == "DELETE":
        return "deletes"
    return "writes"


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[tuple[str, RequestKind], _Bucket] = {}

    def take(self, principal: str, kind: RequestKind) -> tuple[bool, int, int]:
        """Spend one token: (allowed, remaining, seconds until a token is back)."""
        size, refill = LIMITS[kind]
        now = time.monotonic()
        bucket = self._buckets.setdefault((principal, kind), _Bucket(float(size), now))
        bucket.tokens = min(float(size), bucket.tokens + (now - bucket.updated) * refill)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return True, int(bucket.tokens), 0
        return False, 0, max(1, math.ceil((1.0 - bucket.tokens) / refill))

    @staticmethod
    def headers(kind: RequestKind, remaining: int) -> dict[str, str]:
        return {
            f"x-ms-ratelimit-remaining-subscription-{kind}": str(remaining),
            "x-ms-ratelimit-remaining-subscription-global-" + kind: str(remaining),
            f"x-ms-ratelimit-remaining-tenant-{kind if kind != 'deletes' else 'writes'}": str(remaining),
        }
