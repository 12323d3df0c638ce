"""`AzureEmulator`: the HTTPS server that the real Azure SDK clients talk to, and its Python API.

Each request goes: request log -> injected faults (latency, drop, 429, 5xx) -> api-version -> bearer token
-> ARM rate limit -> RBAC -> handler -> ARM's response headers. The control API under `/_emulator/` skips
all of that.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from localcloud.azure import agentpools, clusters, rbac, roles, routing
from localcloud.azure.certs import TlsMaterial
from localcloud.azure.config import EmulatorConfig
from localcloud.azure.context import ArmCall, Cloud, Principal
from localcloud.azure.control import ControlApi
from localcloud.azure.errors import ArmError, EntraError
from localcloud.azure.events import EventHub, PoolEvent, PoolListener, PoolSnapshot
from localcloud.azure.faults import FaultDecision, FaultInjector, FaultPlan, FaultRule
from localcloud.azure.oidc import IssuerKeys
from localcloud.azure.operations import OperationRunner
from localcloud.azure.ratelimit import RateLimiter, kind_of
from localcloud.azure.requestlog import RequestEntry, RequestLog
from localcloud.azure.sdk_kwargs import EmulatorEndpoint
from localcloud.azure.state import StateStore
from localcloud.azure.tokens import TokenAuthority, new_signing_key_pem

log = logging.getLogger(__name__)

_DROPPED = -1


class _Dropped(Exception):
    """The injected fault says: close the connection without an answer."""


class AzureEmulator(EmulatorEndpoint):
    """A local ARM + Entra endpoint. `await start()` binds it; clients need `base_url` and `ca_file`."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.store = StateStore(self.config.state_file)
        self.requests_log = RequestLog()
        self.rate_limiter = RateLimiter()
        self._runner: web.AppRunner | None = None
        self._tmp_cert_dir: Path | None = None
        self._tls: TlsMaterial | None = None
        self._cloud: Cloud | None = None
        self._control = ControlApi(self)
        self.port = self.config.port

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        cfg = self.config
        self._tls = TlsMaterial.load_or_create(self._cert_dir(), cfg.extra_hostnames)
        self.store.load()
        state = self.store.state
        if not state.signing_key_pem:
            state.signing_key_pem = new_signing_key_pem()
        # A copy: the injector counts rules down, and a restart must start from the configured plan.
        plan = cfg.faults.model_copy(deep=True) if cfg.faults else FaultPlan(seed=cfg.seed)
        ops = OperationRunner(self.store, cfg.retry_after_max)
        cloud = Cloud(
            cfg,
            self.store,
            ops,
            EventHub(self.store),
            FaultInjector(plan),
            TokenAuthority(state.signing_key_pem, cfg.tenant_id, cfg.token_lifetime_seconds),
            IssuerKeys(list(cfg.issuer_ca_files)),
        )
        self._cloud = cloud
        clusters.register(cloud)
        agentpools.register(cloud)
        clusters.seed(cloud)
        clusters.refresh_issuers(cloud)
        roles.seed_operator(cloud)
        ops.prune()
        self.store.save()

        ops.resume()
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(
            runner, cfg.host, cfg.port, ssl_context=self._tls.server_context, reuse_address=True
        )
        await site.start()
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else cfg.port
        host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
        cloud.base_url = f"https://{host}:{self.port}"
        log.info("Azure emulator listening on %s (CA %s)", cloud.base_url, self._tls.ca_file)

    async def stop(self) -> None:
        """Stop serving and save; in-flight operations stay InProgress in the state and resume on start."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self._cloud is not None:
            await self._cloud.ops.stop()
            await self._cloud.events.close()
            await self._cloud.issuers.close()
            self.store.save()
        if self._tmp_cert_dir is not None:
            shutil.rmtree(self._tmp_cert_dir, ignore_errors=True)
            self._tmp_cert_dir = None

    def _cert_dir(self) -> Path:
        if self.config.cert_dir is not None:
            return self.config.cert_dir
        if self.config.state_file is not None:
            return self.config.state_file.with_name(self.config.state_file.stem + "-tls")
        self._tmp_cert_dir = Path(tempfile.mkdtemp(prefix="azure-emulator-tls-"))
        return self._tmp_cert_dir

    # --- what clients need -----------------------------------------------------------------------------

    @property
    def cloud(self) -> Cloud:
        if self._cloud is None:
            raise RuntimeError("the emulator has not been started")
        return self._cloud

    @property
    def base_url(self) -> str:
        return self.cloud.base_url

    @property
    def ca_file(self) -> Path:
        if self._tls is None:
            raise RuntimeError("the emulator has not been started")
        return self._tls.ca_file

    # --- the GPU-node bridge hook ----------------------------------------------------------------------

    def add_pool_listener(self, listener: PoolListener) -> Callable[[], None]:
        """Call `listener(event)` (sync or async) on every agent-pool event; returns an unsubscriber."""
        return self.cloud.events.add_listener(listener)

    def pool_events(self, after: int = 0) -> AsyncIterator[PoolEvent]:
        """Events numbered above `after` (persisted ones first), then new ones as they happen."""
        return self.cloud.events.stream(after)

    def agent_pools(self) -> list[PoolSnapshot]:
        """Every agent pool as it is now (the state query a bridge reconciles against)."""
        return [PoolSnapshot.from_resource(rec["resource"]) for rec in self.cloud.state.agent_pools.values()]

    # --- faults and the request log --------------------------------------------------------------------

    def set_faults(self, plan: FaultPlan | dict[str, Any]) -> None:
        self.cloud.faults.set_plan(FaultPlan.model_validate(plan))

    def add_fault(self, rule: FaultRule | dict[str, Any]) -> None:
        self.cloud.faults.add_rule(FaultRule.model_validate(rule))

    def requests(
        self, *, op: str | None = None, method: str | None = None, status: int | None = None
    ) -> list[RequestEntry]:
        return self.requests_log.entries(op=op, method=method, status=status)

    # --- request pipeline ------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/_emulator/") or request.path == "/_emulator":
            return await self._control.handle(request)
        resolved = routing.resolve(request.path)
        route, match = resolved if resolved is not None else (None, None)
        op = _op_name(route, request.method)
        entry = self.requests_log.start(
            at=time.time(),
            method=request.method,
            path=request.path,
            op=op,
            api_version=request.query.get("api-version"),
            client_request_id=request.headers.get("x-ms-client-request-id"),
            user_agent=request.headers.get("User-Agent"),
        )
        started = time.perf_counter()
        extra_headers: dict[str, str] = {}
        try:
            response: web.StreamResponse = await self._dispatch(
                request, route, match, op, entry, extra_headers
            )
        except _Dropped:
            entry.status, entry.duration_ms = _DROPPED, (time.perf_counter() - started) * 1000
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=204)
        except ArmError as exc:
            response = exc.response()
        except EntraError as exc:
            response = exc.response()
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            response = ArmError(500, "InternalServerError", "Encountered internal server error.").response()
        self._decorate(request, response, extra_headers, route is not None and route.auth != "none")
        entry.status, entry.duration_ms = response.status, (time.perf_counter() - started) * 1000
        return response

    async def _dispatch(
        self,
        request: web.Request,
        route: routing.Route | None,
        match: Any,
        op: str,
        entry: RequestEntry,
        extra_headers: dict[str, str],
    ) -> web.StreamResponse:
        cloud = self.cloud
        is_entra = route is not None and route.auth == "none"
        decision = cloud.faults.decide(op)
        if decision.latency_s > 0:
            await asyncio.sleep(decision.latency_s)
        if decision.action is not None:
            entry.fault = decision.action
            if decision.action == "drop_before":
                raise _Dropped
            if decision.action in ("throttle", "error"):
                raise _injected(decision, is_entra, kind_of(request.method))
        if route is None or match is None:
            raise ArmError(
                404, "NotFound", f"No HTTP resource was found that matches the request URI '{request.path}'."
            )
        target = route.methods.get(request.method)
        if target is None:
            raise ArmError(
                405,
                "HttpMethodNotAllowed",
                f"The HTTP method '{request.method}' is not supported for '{request.path}'.",
            )
        params = {k: v for k, v in match.groupdict().items() if v is not None}
        call = ArmCall(request, cloud, op, params)
        if route.auth != "none":
            if "api-version" not in request.query:
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            oid, app_id = cloud.tokens.verify(request.headers.get("Authorization"))
            call.principal = Principal(oid, app_id)
            entry.principal = oid
            kind = kind_of(request.method)
            allowed, remaining, wait = self.rate_limiter.take(oid, kind)
            extra_headers.update(RateLimiter.headers(kind, remaining))
            if not allowed and cloud.config.enforce_rate_limits:
                raise _throttled(wait, kind)
            if route.auth == "rbac":
                action, scope = routing.rbac_target(route, match, request.method, request.path)
                rbac.authorize(list(cloud.state.role_assignments.values()), oid, app_id, action, scope)
        response = await target[1](call)
        if decision.action == "drop_after":
            entry.dropped_status = response.status
            raise _Dropped
        return response

    def _decorate(
        self, request: web.Request, response: web.StreamResponse, extra: dict[str, str], arm: bool
    ) -> None:
        response.headers.update(extra)
        if not arm:
            return
        request_id = str(uuid.uuid4())
        response.headers.setdefault("x-ms-request-id", request_id)
        response.headers.setdefault(
            "x-ms-correlation-request-id", request.headers.get("x-ms-correlation-request-id", request_id)
        )
        response.headers.setdefault(
            "x-ms-routing-request-id",
            f"{self.config.location.upper()}:{datetime.now(UTC):%Y%m%dT%H%M%SZ}:{request_id}",
        )
        client_id = request.headers.get("x-ms-client-request-id")
        if client_id:
            response.headers.setdefault("x-ms-client-request-id", client_id)


def _op_name(route: routing.Route | None, method: str) -> str:
    if route is None:
        return f"unknown.{method.lower()}"
    known = route.methods.get(method)
    if known is not None:
        return known[0]
    first = next(iter(route.methods.values()))[0]
    return f"{first.split('.', 1)[0]}.{method.lower()}"


def _throttled(retry_after: int, kind: str) -> ArmError:
    op_type = {"reads": "Read", "writes": "Write", "deletes": "Delete"}.get(kind, "Read")
    return ArmError(
        429,
        "TooManyRequests",
        f"The request is being throttled as the limit has been reached for operation type - {op_type}. "
        "For more information, refer to - https://aka.ms/armthrottling",
        headers={"Retry-After": str(retry_after), f"x-ms-ratelimit-remaining-subscription-{kind}": "0"},
    )


_STATUS_CODES = {
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def _injected(decision: FaultDecision, entra: bool, kind: str) -> Exception:
    if entra:
        headers = {"Retry-After": str(decision.retry_after)} if decision.retry_after else {}
        return EntraError(
            decision.status,
            "temporarily_unavailable",
            90033 if decision.status == 429 else 50058,
            "The service is temporarily unavailable. (injected fault)",
            headers,
        )
    if decision.action == "throttle":
        return _throttled(decision.retry_after or 1, kind)
    code = decision.code or _STATUS_CODES.get(decision.status, "InjectedFault")
    message = decision.message or f"Encountered {code}. (injected fault)"
    headers = {"Retry-After": str(decision.retry_after)} if decision.retry_after else {}
    return ArmError(decision.status, code, message, headers=headers)
