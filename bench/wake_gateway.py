"""Benchmark: what the wake gateway costs a Ready workspace's callers, and how long a wake from zero takes.

    .venv/bin/python bench/wake_gateway.py --requests 200 --wakes 3
    .venv/bin/python bench/wake_gateway.py --boot-delay 60 --wakes 1    # slower emulated VM boot

On a local cloud of its own (`python -m localcloud.stack`, stopped by PID at the end), with one Ready
phi-3-mini workspace answered by the inference stand-in:

1. Added latency: `--requests` sequential chat completions straight through the workspace's Service
   (apiserver proxy → model) and as many through the gateway (apiserver proxy → gateway → `wake` update,
   answered at once for a Ready workspace → apiserver proxy → model); p50 and p99 of each, side by side.
2. The wake: `--wakes` times, suspend, then one request through the gateway, held until the model answers;
   the caller's wait, and the resume's phases as the workflow records them (its status query's timings):
   pool scale-up (Resuming + CreatingNodePool), nodes (WaitingForNodes), pods (Deploying +
   WaitingForInference), model (HealthChecking, where the Service routes back to the model first).

The request path reuses the wake tests' caller (`tests.wake.gateway_calls`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from localcloud.processes import stop_process  # noqa: E402
from localcloud.stack_file import StackInfo  # noqa: E402
from tests.wake.gateway_calls import Caller  # noqa: E402

NAME = "bench-wake"
PHASE_GROUPS = {
    "pool scale-up": ("Resuming", "CreatingNodePool"),
    "nodes": ("WaitingForNodes",),
    "pods": ("Deploying", "WaitingForInference"),
    "model": ("HealthChecking",),
}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Cloud:
    def __init__(self, info: StackInfo, state: Path) -> None:
        self.info = info
        self.env = {
            **os.environ,
            "KUBECONFIG": info.kubeconfig,
            "KAITO_TEMPORAL_ADDRESS": info.temporal,
            "KAITO_STATE_DIR": str(state),
        }

    def run(self, *argv: str, stdin: str | None = None) -> str:
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, input=stdin, timeout=300)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def kaitoctl(self, *args: str) -> str:
        return self.run(sys.executable, "-m", "kaitoctl", *args)

    def status(self) -> dict[str, Any]:
        shown: dict[str, Any] = json.loads(self.kaitoctl("workspace", "get", NAME, "-o", "json"))
        return shown

    def until_phase(self, phase: str, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while self.status()["phase"] != phase:
            if time.monotonic() > deadline:
                raise SystemExit(f"{NAME} not {phase} after {timeout:.0f}s: {self.status()['message']}")
            time.sleep(0.5)


def latency(caller: Caller, requests: int) -> None:
    rows = {}
    for label, via_gateway in (("direct (Service → model)", False), ("via the wake gateway", True)):
        seconds = []
        for _ in range(requests):
            reply = caller.chat(NAME, via_gateway=via_gateway)
            if reply.status != 200:
                raise SystemExit(f"{label}: HTTP {reply.status}: {reply.text[:200]}")
            seconds.append(reply.seconds * 1000)
        rows[label] = (_pct(seconds, 0.5), _pct(seconds, 0.99))
    print(f"\nadded latency, {requests} sequential chat completions each (ms)")
    print(f"  {'path':<28}{'p50':>9}{'p99':>9}")
    for label, (p50, p99) in rows.items():
        print(f"  {label:<28}{p50:>9.1f}{p99:>9.1f}")
    (d50, d99), (g50, g99) = rows.values()
    print(f"  {'added by the gateway':<28}{g50 - d50:>9.1f}{g99 - d99:>9.1f}")


def wakes(cloud: Cloud, caller: Caller, count: int) -> None:
    rounds: list[dict[str, float]] = []
    for _ in range(count):
        cloud.kaitoctl("workspace", "suspend", NAME)
        cloud.until_phase("Suspended")
        reply = caller.chat(NAME, headers={"X-Kaito-Wake-Timeout": "900"})
        if reply.status != 200:
            raise SystemExit(f"the wake failed: HTTP {reply.status}: {reply.text[:300]}")
        timings = cloud.status()["timings"]
        row = {"caller waited": reply.seconds}
        for group, phases in PHASE_GROUPS.items():
            row[group] = sum(_took(timings.get(phase)) for phase in phases)
        rounds.append(row)
    print(f"\nwake from zero, {count} round(s): one request held until the model answered (s)")
    columns = list(rounds[0])
    print("  " + "".join(f"{c:>16}" for c in ["round", *columns]))
    for i, row in enumerate(rounds, 1):
        print("  " + f"{i:>16}" + "".join(f"{row[c]:>16.2f}" for c in columns))
    print(
        "  "
        + f"{'median':>16}"
        + "".join(f"{statistics.median(r[c] for r in rounds):>16.2f}" for c in columns)
    )


def _took(timing: dict[str, Any] | None) -> float:
    if not timing or not timing.get("finished"):
        return 0.0
    started = _when(timing["started"])
    return _when(timing["finished"]) - started


def _when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--wakes", type=int, default=3)
    parser.add_argument("--boot-delay", type=float, default=None, help="seconds an emulated GPU VM boots")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="bench-wake-"))
    argv = [sys.executable, "-m", "localcloud.stack", "--state-dir", str(state), "--ui-port", "0",
            "--temporal-port", "0", "--exit-with-parent"]  # fmt: skip
    if args.boot_delay is not None:
        argv += ["--boot-delay", str(args.boot_delay)]
    with (state / "stack.log").open("wb") as log:
        process = subprocess.Popen(argv, cwd=str(REPO), stdout=log, stderr=subprocess.STDOUT)
    try:
        began = time.monotonic()
        while (info := StackInfo.read(state)) is None:
            if process.poll() is not None or time.monotonic() - began > 300:
                raise SystemExit(f"the local cloud did not start: see {state / 'stack.log'}")
            time.sleep(0.5)
        print(f"local cloud up in {time.monotonic() - began:.1f} s (pid {process.pid}, state {state})")
        cloud = Cloud(info, state)
        manifest = yaml.safe_load((REPO / "examples" / "workspace-phi-3-mini.yaml").read_text())
        manifest["metadata"] = {"name": NAME, "namespace": "default"}
        cloud.run(info.kubectl, "apply", "-f", "-", stdin=yaml.safe_dump(manifest))
        cloud.until_phase("Ready")
        caller = Caller(info.kubeconfig)
        latency(caller, args.requests)
        wakes(cloud, caller, args.wakes)
    finally:
        stop_process(process, grace=90)


if __name__ == "__main__":
    main()
