"""The control API under `/_emulator/`: faults, the request log, pool state and events, run-time settings.

No authentication and no fault injection: this is how tests, benchmarks and the GPU-node bridge drive and
observe the emulator from outside its process.

  GET    /_emulator/health                    ready probe: url, ca file, ids
  GET    /_emulator/faults                    the fault plan and counts of injected faults
  PUT    /_emulator/faults                    replace the plan  {"seed": 1, "rules": [{...}]}
  POST   /_emulator/faults                    append rules      {"rules": [{...}]} or one rule object
  DELETE /_emulator/faults                    no faults
  GET    /_emulator/requests?op=&method=&status=&after=   the request log (count + entries)
  DELETE /_emulator/requests                  clear it
  GET    /_emulator/agentpools                every pool's snapshot (what nodes should exist)
  POST   /_emulator/evict                     evict a Spot pool's VMs  {"pool": "<name>"}
  GET    /_emulator/events?after=N&wait=S     pool events after N, long-polling up to S seconds
  GET    /_emulator/settings                  durations, replication delay, quotas, Retry-After, rate limits
  PATCH  /_emulator/settings                  change any of those at run time
  GET    /_emulator/state                     the whole persisted state (debugging)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic.alias_generators import to_camel

from localcloud.azure import spot
from localcloud.azure.config import EmulatorConfig, OperationDurations
from localcloud.azure.faults import FaultPlan, FaultRule

if TYPE_CHECKING:
    from localcloud.azure.server import AzureEmulator


class RuntimeSettings(BaseModel):
    """What `/_emulator/settings` shows and changes, camelCase on the wire; the issuer is read-only."""

    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", serialize_by_alias=True)

    durations: OperationDurations
    principal_replication_seconds: float
    retry_after_max: int
    send_retry_after: bool
    poll_hint_ms: int | None
    family_quotas: dict[str, int]
    default_family_quota: int
    enforce_rate_limits: bool
    oidc_issuer_url: str | None

    @field_validator("retry_after_max")
    @classmethod
    def _at_least_a_second(cls, value: int) -> int:
        return max(1, value)

    @classmethod
    def of(cls, config: EmulatorConfig) -> RuntimeSettings:
        return cls.model_validate(config.model_dump(include=set(cls.model_fields)), by_name=True)

    def patched(self, body: Any) -> RuntimeSettings:
        """These settings with a PATCH body applied: durations and quotas merge, the rest replaces."""
        if not isinstance(body, dict):
            raise ValueError("settings must be a JSON object")
        if "oidcIssuerUrl" in body:
            raise ValueError("oidcIssuerUrl is read-only: it is the cluster's issuer, fixed at start")
        current = self.model_dump(mode="json")
        merged = {**current, **body}
        for nested in ("durations", "familyQuotas"):
            merged[nested] = {**current[nested], **body.get(nested, {})}
        return RuntimeSettings.model_validate(merged)


def _bad(message: str) -> web.Response:
    return web.json_response({"error": {"code": "BadRequest", "message": message}}, status=400)


class ControlApi:
    def __init__(self, emulator: AzureEmulator) -> None:
        self._emulator = emulator

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.path.removeprefix("/_emulator").strip("/")
        handler = getattr(self, f"_{request.method.lower()}_{name}", None)
        if handler is None:
            return web.json_response({"error": {"code": "NotFound", "message": request.path}}, status=404)
        try:
            response: web.StreamResponse = await handler(request)
        except (ValueError, TypeError, KeyError) as exc:
            return _bad(str(exc))
        return response

    async def _json(self, request: web.Request) -> Any:
        try:
            return await request.json()
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc}") from exc

    async def _get_health(self, _: web.Request) -> web.Response:
        e, cfg = self._emulator, self._emulator.config
        return web.json_response(
            {
                "status": "ok",
                "url": e.base_url,
                "caFile": str(e.ca_file),
                "tenantId": cfg.tenant_id,
                "subscriptionId": cfg.subscription_id,
                "operatorClientId": cfg.operator_client_id,
                "clusters": [rec["resource"]["id"] for rec in e.cloud.state.clusters.values()],
            }
        )

    def _faults(self) -> web.Response:
        return web.json_response(self._emulator.cloud.faults.report())

    async def _get_faults(self, _: web.Request) -> web.Response:
        return self._faults()

    async def _put_faults(self, request: web.Request) -> web.Response:
        self._emulator.set_faults(FaultPlan.model_validate(await self._json(request)))
        return self._faults()

    async def _post_faults(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        rules = body.get("rules", [body]) if isinstance(body, dict) else body
        for raw in rules:
            self._emulator.add_fault(FaultRule.model_validate(raw))
        return self._faults()

    async def _delete_faults(self, _: web.Request) -> web.Response:
        self._emulator.set_faults(FaultPlan(seed=self._emulator.cloud.faults.plan.seed))
        return self._faults()

    async def _get_requests(self, request: web.Request) -> web.Response:
        q = request.query
        status = int(q["status"]) if "status" in q else None
        log = self._emulator.requests_log
        entries = log.entries(
            op=q.get("op"), method=q.get("method"), status=status, after=int(q.get("after", 0))
        )
        return web.json_response(log.report(entries))

    async def _delete_requests(self, _: web.Request) -> web.Response:
        self._emulator.requests_log.clear()
        return web.json_response({"count": 0})

    async def _get_agentpools(self, _: web.Request) -> web.Response:
        return web.json_response({"value": [p.model_dump() for p in self._emulator.agent_pools()]})

    async def _post_evict(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        pool = spot.evict(self._emulator.cloud, str(body["pool"]))
        return web.json_response({"evicted": pool["name"], "count": pool["properties"]["count"]})

    async def _get_events(self, request: web.Request) -> web.Response:
        after = int(request.query.get("after", 0))
        wait = min(float(request.query.get("wait", 0)), 300.0)
        events = await self._emulator.cloud.events.wait(after, wait)
        last = events[-1].seq if events else after
        return web.json_response({"events": [e.model_dump() for e in events], "last": last})

    async def _get_settings(self, _: web.Request) -> web.Response:
        return web.json_response(RuntimeSettings.of(self._emulator.config).model_dump(mode="json"))

    async def _patch_settings(self, request: web.Request) -> web.Response:
        cfg = self._emulator.config
        settings = RuntimeSettings.of(cfg).patched(await self._json(request))
        for name in RuntimeSettings.model_fields:
            setattr(cfg, name, getattr(settings, name))
        self._emulator.cloud.ops.retry_after_max = cfg.retry_after_max
        return web.json_response(settings.model_dump(mode="json"))

    async def _get_state(self, _: web.Request) -> web.Response:
        state = self._emulator.store.state
        return web.json_response(state.model_dump(mode="json", exclude={"signing_key_pem"}))
