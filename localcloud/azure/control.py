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
  GET    /_emulator/events?after=N&wait=S     pool events after N, long-polling up to S seconds
  GET    /_emulator/settings                  durations, replication delay, quotas, Retry-After, rate limits
  PATCH  /_emulator/settings                  change any of those at run time
  GET    /_emulator/state                     the whole persisted state (debugging)
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aiohttp import web

from localcloud.azure.faults import FaultPlan, FaultRule

if TYPE_CHECKING:
    from localcloud.azure.server import AzureEmulator


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

    async def _get_faults(self, _: web.Request) -> web.Response:
        return web.json_response(self._emulator.cloud.faults.to_json())

    async def _put_faults(self, request: web.Request) -> web.Response:
        self._emulator.set_faults(FaultPlan.from_json(await self._json(request)))
        return web.json_response(self._emulator.cloud.faults.to_json())

    async def _post_faults(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        rules = body.get("rules", [body]) if isinstance(body, dict) else body
        for raw in rules:
            self._emulator.add_fault(FaultRule.from_json(raw))
        return web.json_response(self._emulator.cloud.faults.to_json())

    async def _delete_faults(self, _: web.Request) -> web.Response:
        self._emulator.set_faults(FaultPlan(seed=self._emulator.cloud.faults.plan.seed))
        return web.json_response(self._emulator.cloud.faults.to_json())

    async def _get_requests(self, request: web.Request) -> web.Response:
        q = request.query
        status = int(q["status"]) if "status" in q else None
        log = self._emulator.requests_log
        entries = log.entries(
            op=q.get("op"), method=q.get("method"), status=status, after=int(q.get("after", 0))
        )
        return web.json_response(log.to_json(entries))

    async def _delete_requests(self, _: web.Request) -> web.Response:
        self._emulator.requests_log.clear()
        return web.json_response({"count": 0})

    async def _get_agentpools(self, _: web.Request) -> web.Response:
        return web.json_response({"value": [asdict(p) for p in self._emulator.agent_pools()]})

    async def _get_events(self, request: web.Request) -> web.Response:
        after = int(request.query.get("after", 0))
        wait = min(float(request.query.get("wait", 0)), 300.0)
        events = await self._emulator.cloud.events.wait(after, wait)
        last = events[-1].seq if events else after
        return web.json_response({"events": [e.to_json() for e in events], "last": last})

    def _settings(self) -> dict[str, Any]:
        cfg = self._emulator.config
        return {
            "durations": cfg.durations.to_json(),
            "principalReplicationSeconds": cfg.principal_replication_seconds,
            "retryAfterMax": cfg.retry_after_max,
            "sendRetryAfter": cfg.send_retry_after,
            "pollHintMs": cfg.poll_hint_ms,
            "familyQuotas": cfg.family_quotas,
            "defaultFamilyQuota": cfg.default_family_quota,
            "enforceRateLimits": cfg.enforce_rate_limits,
            "oidcIssuerUrl": cfg.oidc_issuer_url,
        }

    async def _get_settings(self, _: web.Request) -> web.Response:
        return web.json_response(self._settings())

    async def _patch_settings(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        cfg, ops = self._emulator.config, self._emulator.cloud.ops
        if not isinstance(body, dict):
            raise ValueError("settings must be a JSON object")
        unknown = (set(body) - set(self._settings())) | ({"oidcIssuerUrl"} & set(body))
        if unknown:
            raise ValueError(f"unknown or read-only settings: {sorted(unknown)}")
        if "durations" in body:
            cfg.durations.update(body["durations"])
        if "principalReplicationSeconds" in body:
            cfg.principal_replication_seconds = float(body["principalReplicationSeconds"])
        if "retryAfterMax" in body:
            cfg.retry_after_max = ops.retry_after_max = max(1, int(body["retryAfterMax"]))
        if "sendRetryAfter" in body:
            cfg.send_retry_after = bool(body["sendRetryAfter"])
        if "pollHintMs" in body:
            cfg.poll_hint_ms = None if body["pollHintMs"] is None else int(body["pollHintMs"])
        if "familyQuotas" in body:
            cfg.family_quotas.update({str(k): int(v) for k, v in body["familyQuotas"].items()})
        if "defaultFamilyQuota" in body:
            cfg.default_family_quota = int(body["defaultFamilyQuota"])
        if "enforceRateLimits" in body:
            cfg.enforce_rate_limits = bool(body["enforceRateLimits"])
        return web.json_response(self._settings())

    async def _get_state(self, _: web.Request) -> web.Response:
        doc = self._emulator.store.state.to_json()
        doc.pop("signingKeyPem", None)
        return web.json_response(doc)
