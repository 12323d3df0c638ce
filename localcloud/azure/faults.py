"""Fault injection: throttling, 5xx, latency, dropped connections and failing LROs, reproducible from a seed.

Rules match an operation name (fnmatch, case-insensitive: "agentPools.put", "agentPools.*", "token.post",
"*"). A `*_count` fault hits the next N matching requests exactly; a `*_rate` fault draws from a
`random.Random(seed)`, so the same plan and the same request sequence inject the same faults.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FaultAction = Literal["throttle", "error", "drop_before", "drop_after"]


class FaultRule(BaseModel):
    """One rule of a plan, in the JSON shape `/_emulator/faults` takes; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    match: str = "*"
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    throttle_count: int = 0
    throttle_rate: float = 0.0
    retry_after: int = 1  # seconds, sent with 429 (and with 503 when error_retry_after is set)
    error_count: int = 0
    error_rate: float = 0.0
    error_status: int = Field(default=500, ge=400, le=599)  # 4xx or 5xx
    error_retry_after: bool = False
    # The ARM error an injected error carries; empty: the generic code for the status (InternalServerError,
    # ServiceUnavailable, ...). E.g. 400 "PrincipalNotFound", as ARM answers while a new principal replicates.
    error_code: str = ""
    error_message: str = ""
    drop_count: int = 0
    drop_rate: float = 0.0
    drop_after: bool = False  # True: the request takes effect and only the response is lost
    lro_fail_count: int = 0
    lro_fail_rate: float = 0.0
    lro_fail_status: Literal["Failed", "Canceled"] = "Failed"
    lro_fail_code: str = "InternalOperationError"
    lro_fail_message: str = "An internal error occurred while processing the operation. (injected fault)"

    def matches(self, op_name: str) -> bool:
        return fnmatch.fnmatchcase(op_name.lower(), self.match.lower())


@dataclass
class FaultDecision:
    latency_s: float = 0.0
    action: FaultAction | None = None
    status: int = 0
    retry_after: int | None = None
    code: str = ""
    message: str = ""


class FaultPlan(BaseModel):
    """The rules and the seed their `*_rate` draws start from (other keys, such as the `injected` counts a
    GET returns, are ignored, so a plan read back can be put back)."""

    seed: int = 0
    rules: list[FaultRule] = []


class FaultInjector:
    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = plan or FaultPlan()
        self._rng = random.Random(self.plan.seed)
        self.injected: dict[str, int] = {}

    def set_plan(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed)

    def add_rule(self, rule: FaultRule) -> None:
        self.plan.rules.append(rule)

    def _count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1

    def _hit(self, rule: FaultRule, count_attr: str, rate: float) -> bool:
        remaining = int(getattr(rule, count_attr))
        if remaining > 0:
            setattr(rule, count_attr, remaining - 1)
            return True
        return rate > 0 and self._rng.random() < rate

    def decide(self, op_name: str) -> FaultDecision:
        """The faults for one request: latency adds up over matching rules; the first action wins."""
        decision = FaultDecision()
        for rule in self.plan.rules:
            if not rule.matches(op_name):
                continue
            if rule.latency_ms or rule.latency_jitter_ms:
                decision.latency_s += (rule.latency_ms + self._rng.random() * rule.latency_jitter_ms) / 1000
                self._count("latency")
            if decision.action is not None:
                continue
            if self._hit(rule, "drop_count", rule.drop_rate):
                decision.action = "drop_after" if rule.drop_after else "drop_before"
                self._count("drop")
            elif self._hit(rule, "throttle_count", rule.throttle_rate):
                decision.action, decision.status, decision.retry_after = "throttle", 429, rule.retry_after
                self._count("throttle")
            elif self._hit(rule, "error_count", rule.error_rate):
                decision.action, decision.status = "error", rule.error_status
                decision.code, decision.message = rule.error_code, rule.error_message
                decision.retry_after = rule.retry_after if rule.error_retry_after else None
                self._count("error")
        return decision

    def take_lro_failure(self, op_name: str) -> tuple[str, dict[str, str]] | None:
        """Whether the LRO a matching request is starting should end Failed/Canceled, and with what error."""
        for rule in self.plan.rules:
            if rule.matches(op_name) and self._hit(rule, "lro_fail_count", rule.lro_fail_rate):
                self._count("lro_fail")
                return rule.lro_fail_status, {"code": rule.lro_fail_code, "message": rule.lro_fail_message}
        return None

    def report(self) -> dict[str, Any]:
        """The plan (rule counts as they are now) and how many faults of each kind were injected."""
        return {**self.plan.model_dump(), "injected": dict(self.injected)}
