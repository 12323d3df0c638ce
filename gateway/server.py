"""The wake gateway's HTTP server: any path, any method, for whichever workspace the request names.

A request is held while its workspace wakes (one `wake` update per workspace, however many callers),
up to the caller's deadline, then forwarded to the model and answered. Every refusal is an OpenAI-style
error (`{"error": {"message", "type", ...}}`) with a status that says what to do: 400 for a request the
gateway cannot act on, 503 with Retry-After while the workspace is not serving (waking, a failed
resume, deleted), 502 when the model could not be reached after the wake.
"""

import json
import logging
import math
from typing import Any

from aiohttp import web

from gateway.forward import Forwarder
from gateway.requests import BadRequest, Target, no_wait, target_of, wait_seconds
from gateway.waker import Waker
from workflows.workspace_contracts import WakeAnswer

log = logging.getLogger("kaito.gateway")
HEALTH_PATH = "/_wake-gateway/healthz"
STATS_PATH = "/_wake-gateway/stats"
DEFAULT_RETRY_AFTER = 30


def error(
    status: int, message: str, kind: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    body = {"error": {"message": message, "type": kind, **extra}}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers or {}
    )


def retry_after(answer: WakeAnswer) -> str:
    eta = answer.eta_seconds
    return str(max(1, math.ceil(eta))) if eta is not None else str(DEFAULT_RETRY_AFTER)


def not_serving(target: Target, answer: WakeAnswer, message: str) -> web.Response:
    """503: the workspace does not serve (yet); Retry-After from the workflow's expected wake time."""
    return error(
        503, message, "workspace_not_ready", {"Retry-After": retry_after(answer)},
        workspace=target.key, phase=answer.phase.value, eta_seconds=answer.eta_seconds,
    )  # fmt: skip


class Gateway:
    def __init__(self, waker: Waker, forwarder: Forwarder) -> None:
        self.waker = waker
        self.forwarder = forwarder
        self.held = 0  # requests being held now
        self.answered = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get(HEALTH_PATH, self._health)
        app.router.add_get(STATS_PATH, self._stats)
        app.router.add_route("*", "/{path:.*}", self.handle)
        return app

    async def _health(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _stats(self, _: web.Request) -> web.Response:
        return web.json_response(
            {"wake_updates": self.waker.updates_sent, "held": self.held, "answered": self.answered}
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            target = target_of(request.headers)
            deadline = wait_seconds(request.headers)
            immediate = no_wait(request.headers)
        except BadRequest as bad:
            return error(400, str(bad), "invalid_request_error")
        body = await request.read()
        if immediate:
            self.waker.start(target)  # it wakes meanwhile; the caller comes back after Retry-After
            answer = await self.waker.status(target)
            if not answer.ready:
                return not_serving(
                    target, answer, f"{target.key} is waking ({answer.phase.value}); retry later"
                )
        else:
            self.held += 1
            try:
                waited = await self.waker.wait(target, deadline)
            finally:
                self.held -= 1
            if waited is None:
                answer = await self.waker.status(target)
                return not_serving(target, answer, f"{target.key} did not wake within {deadline:g}s")
            answer = waited
            if not answer.ready:
                return not_serving(target, answer, f"{target.key} is not serving: {answer.reason}")
        return await self._forward(target, request, body)

    async def _forward(self, target: Target, request: web.Request, body: bytes) -> web.Response:
        headers = dict(request.headers)
        try:
            answer = await self.forwarder.forward(target, request.method, request.path_qs, headers, body)
        except Exception as err:  # the apiserver or the model did not answer at all
            log.warning("forwarding to %s failed: %s", target.key, err)
            return error(502, f"{target.key} woke but did not answer: {err}", "bad_gateway")
        self.answered += 1
        response = web.Response(status=answer.status, body=answer.body)
        response.headers["Content-Type"] = answer.content_type
        return response
