"""An OpenAI-compatible stand-in for the model server: one app per inference pod, many pods per process.

No weights are downloaded here, so the local cloud answers as vLLM would — /health, /v1/models,
/v1/chat/completions, /metrics under vLLM's metric names — with deterministic text that says it is the
stand-in. The request counters are real and per pod, so idle detection reads what it would read from vLLM.

A process per pod costs ~30 MB, so a fleet of a thousand pods would need ~30 GB. `--host-pods` runs a
host instead: it serves any number of pods, each on a loopback port of its own (so the pod network's
route `podIP:5000 -> 127.0.0.1:port` says which pod a connection is for), and takes its orders as JSON
lines on stdin, answering each with one JSON line on stdout:

    {"op": "add", "pod": "default/ws-0", "model": "phi-3", "adapters": []}  -> {"pod": ..., "port": N}
    {"op": "remove", "pod": "default/ws-0"}                                 -> {"pod": ..., "removed": true}

SIGUSR1 holds every pod's chat completions (a model server that stopped answering; /health still
passes), SIGUSR2 lets them through.

    python -m localcloud.inference_standin --host-pods
    python -m localcloud.inference_standin --model falcon-7b --pod default/workspace-falcon-7b-0 --port 0
"""

import argparse
import asyncio
import json
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Counters:
    """What vLLM's Prometheus endpoint reports, for the metrics a sweep and a dashboard read."""

    requests_ok: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    latency_sum: float = 0.0
    running: int = 0
    started: float = field(default_factory=time.time)


def answer_text(model: str, pod: str, prompt: str) -> str:
    return (
        f"This is the kaito-temporal inference stand-in serving {model} from pod {pod}; "
        f"no model weights are loaded here. You said: {prompt[:200]}"
    )


def _last_user_message(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else str(content)
    return ""


def _error(status: int, kind: str, message: str) -> web.Response:
    """OpenAI-shaped error body, as vLLM's server sends it."""
    return web.json_response({"error": {"message": message, "type": kind, "code": status}}, status=status)


def build_app(
    model: str, pod: str, adapters: tuple[str, ...] = (), answering: asyncio.Event | None = None
) -> web.Application:
    """`answering`, when given and clear, holds chat completions until it is set (a model server that
    has stopped answering, while /health still passes)."""
    counters = Counters()
    app = web.Application()

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="")

    def entry(name: str, parent: str | None) -> dict[str, Any]:
        """vLLM lists a LoRA adapter as a model of its own whose parent is the base model."""
        return {
            "id": name,
            "object": "model",
            "created": int(counters.started),
            "owned_by": "kaito-temporal",
            "root": name if parent is None else f"/mnt/adapter/{name}",
            "parent": parent,
        }

    async def models(_: web.Request) -> web.Response:
        data = [entry(model, None), *(entry(adapter, model) for adapter in adapters)]
        return web.json_response({"object": "list", "data": data})

    async def chat(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "BadRequestError", "body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "BadRequestError", "messages is required")
        if body.get("model") not in (None, model, *adapters):
            return _error(404, "NotFoundError", f"The model `{body.get('model')}` does not exist.")
        if answering is not None:
            await answering.wait()
        began = time.monotonic()
        counters.running += 1
        prompt = _last_user_message(body)
        text = answer_text(model, pod, prompt)
        counters.running -= 1
        prompt_tokens, completion_tokens = len(prompt.split()), len(text.split())
        counters.requests_ok += 1
        counters.prompt_tokens += prompt_tokens
        counters.generation_tokens += completion_tokens
        counters.latency_sum += time.monotonic() - began
        return web.json_response(
            {
                "id": f"chatcmpl-standin-{counters.requests_ok}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    async def metrics(_: web.Request) -> web.Response:
        label = f'model_name="{model}"'
        lines = [
            "# HELP vllm:num_requests_running Number of requests currently running on GPU.",
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{{{label}}} {counters.running}",
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
            "# TYPE vllm:num_requests_waiting gauge",
            f"vllm:num_requests_waiting{{{label}}} 0",
            "# HELP vllm:request_success_total Count of successfully processed requests.",
            "# TYPE vllm:request_success_total counter",
            f'vllm:request_success_total{{finished_reason="stop",{label}}} {counters.requests_ok}',
            "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.",
            "# TYPE vllm:prompt_tokens_total counter",
            f"vllm:prompt_tokens_total{{{label}}} {counters.prompt_tokens}",
            "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
            "# TYPE vllm:generation_tokens_total counter",
            f"vllm:generation_tokens_total{{{label}}} {counters.generation_tokens}",
            "# HELP vllm:e2e_request_latency_seconds Histogram of end to end request latency in seconds.",
            "# TYPE vllm:e2e_request_latency_seconds histogram",
            f'vllm:e2e_request_latency_seconds_bucket{{le="+Inf",{label}}} {counters.requests_ok}',
            f"vllm:e2e_request_latency_seconds_count{{{label}}} {counters.requests_ok}",
            f"vllm:e2e_request_latency_seconds_sum{{{label}}} {counters.latency_sum:.6f}",
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8")

    app.router.add_get("/health", health)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/metrics", metrics)
    return app


async def serve(model: str, pod: str, host: str, port: int, adapters: tuple[str, ...] = ()) -> None:
    """Serve until cancelled; prints `listening <host>:<port>` so a launcher can learn a port 0 choice."""
    runner = web.AppRunner(build_app(model, pod, adapters), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    print(f"listening {bound[0]}:{bound[1]}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


# A test holds a model server mid-request: SIGUSR1 and chat completions wait (/health still answers, so
# readiness is not what is held), SIGUSR2 and they are answered.
HOLD_SIGNAL, RELEASE_SIGNAL = signal.SIGUSR1, signal.SIGUSR2


class PodHost:
    """Many pods' stand-ins in one event loop: each pod its own app and loopback port."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._runners: dict[str, web.AppRunner] = {}
        self.answering = asyncio.Event()  # cleared: every pod's chat completions wait (tests hold them)
        self.answering.set()

    @property
    def pods(self) -> list[str]:
        return sorted(self._runners)

    async def add(self, pod: str, model: str, adapters: tuple[str, ...] = ()) -> int:
        """Serve `pod` (again, if it was served before under another model); returns its port."""
        await self.remove(pod)
        # A pod that goes has no requests worth waiting for: its keep-alive connections close at once
        # (aiohttp would wait up to 60 s for each, and orders are answered one at a time).
        app = build_app(model, pod, adapters, self.answering)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, self._host, 0).start()
        self._runners[pod] = runner
        return int(runner.addresses[0][1])

    async def remove(self, pod: str) -> bool:
        runner = self._runners.pop(pod, None)
        if runner is None:
            return False
        await runner.cleanup()
        return True

    async def close(self) -> None:
        for pod in list(self._runners):
            await self.remove(pod)

    async def order(self, line: str) -> dict[str, object]:
        """Carry out one JSON order; a bad one is answered with its error and changes nothing."""
        try:
            order = json.loads(line)
            op, pod = order["op"], str(order["pod"])
            if op == "add":
                port = await self.add(pod, str(order["model"]), tuple(order.get("adapters") or ()))
                return {"pod": pod, "port": port}
            if op == "remove":
                return {"pod": pod, "removed": await self.remove(pod)}
            return {"pod": pod, "error": f"unknown op {op!r}: add or remove"}
        except (ValueError, KeyError, TypeError) as err:
            return {"error": f"bad order {line.strip()[:200]!r}: {err!r}"}


async def host_pods(host: str) -> None:
    """Take orders from stdin until it closes (the manager went away), then stop serving."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pods = PodHost(host)
    loop.add_signal_handler(HOLD_SIGNAL, pods.answering.clear)
    loop.add_signal_handler(RELEASE_SIGNAL, pods.answering.set)
    print(json.dumps({"ready": True}), flush=True)
    try:
        while line := (await reader.readline()).decode():
            print(json.dumps(await pods.order(line)), flush=True)
    finally:
        await pods.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host-pods", action="store_true", help="serve many pods, ordered on stdin")
    parser.add_argument("--model", help="served model name (one pod)")
    parser.add_argument("--pod", help="namespace/name of the pod it stands in for (one pod)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--adapters", default="", help="comma-separated LoRA adapter names it also serves")
    args = parser.parse_args()
    if args.host_pods:
        asyncio.run(host_pods(args.host))
        return
    if not args.model or not args.pod:
        parser.error("--model and --pod are required unless --host-pods")
    adapters = tuple(name for name in args.adapters.split(",") if name)
    asyncio.run(serve(args.model, args.pod, args.host, args.port, adapters))


if __name__ == "__main__":
    main()
