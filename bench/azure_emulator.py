"""Benchmark: agent-pool create -> Succeeded through the real async ContainerServiceClient against the
Azure emulator, running as its own process (so client and server do not share an event loop).

    .venv/bin/python bench/azure_emulator.py --pools 200 --concurrency 20
    .venv/bin/python bench/azure_emulator.py --pools 20 --concurrency 20 --retry-after   # ARM's 1 s polling

Per pool: seconds from `begin_create_or_update` to the poller's result (PUT, status polls, final GET).
Reports latency percentiles, pools/s, and the emulator's request count, requests/s and server-side time
per operation taken from its request log (`/_emulator/requests`). Then deletes every pool the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp
from azure.mgmt.containerservice import models
from azure.mgmt.containerservice.aio import ContainerServiceClient

from localcloud.azure import AzureEmulatorProcess, EmulatorConfig, OperationDurations

RG, CLUSTER, SIZE = "kaito-rg", "kaito-aks", "Standard_D2s_v5"


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), to tell client cost from emulator cost."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _requests_log(proc: AzureEmulatorProcess) -> dict[str, Any]:
    ctx = ssl.create_default_context(cafile=str(proc.ca_file))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session,
        session.get(f"{proc.base_url}/_emulator/requests") as resp,
    ):
        log: dict[str, Any] = await resp.json()
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session,
        session.delete(f"{proc.base_url}/_emulator/requests") as resp,
    ):
        await resp.read()
    return log


async def _phase(name: str, work: list[Any], concurrency: int, proc: AzureEmulatorProcess) -> None:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(job: Any) -> None:
        async with gate:
            started = time.perf_counter()
            await job()
            latencies.append(time.perf_counter() - started)

    wall_start, client_cpu, server_cpu = time.perf_counter(), time.process_time(), _cpu_seconds(proc.pid)
    await asyncio.gather(*(one(job) for job in work))
    wall = time.perf_counter() - wall_start
    client_cpu, server_cpu = time.process_time() - client_cpu, _cpu_seconds(proc.pid) - server_cpu
    log = await _requests_log(proc)
    by_op: dict[str, list[float]] = defaultdict(list)
    for entry in log["requests"]:
        by_op[entry["op"]].append(entry["duration_ms"])
    statuses = Counter(entry["status"] for entry in log["requests"])
    print(f"\n{name}: {len(work)} pools, concurrency {concurrency}")
    print(f"  wall {wall:.2f} s   {len(work) / wall:.1f} pools/s   {log['count'] / wall:.0f} requests/s")
    print(
        f"  per pool  p50 {_pct(latencies, 0.5) * 1000:.1f} ms   p95 {_pct(latencies, 0.95) * 1000:.1f} ms   "
        f"max {max(latencies) * 1000:.1f} ms   mean {statistics.fmean(latencies) * 1000:.1f} ms"
    )
    print(
        f"  CPU: SDK client {client_cpu:.2f} s ({client_cpu / log['count'] * 1000:.2f} ms/request), "
        f"emulator {server_cpu:.2f} s ({server_cpu / log['count'] * 1000:.2f} ms/request)"
    )
    print(f"  requests {log['count']} ({log['count'] / len(work):.1f} per pool), statuses {dict(statuses)}")
    for op, durations in sorted(by_op.items()):
        print(
            f"    {op:<22} n={len(durations):<5} server mean {statistics.fmean(durations):.2f} ms   "
            f"p95 {_pct(durations, 0.95):.2f} ms"
        )


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-azure-") as tmp:
        config = EmulatorConfig(
            state_file=Path(tmp) / "state.json",
            durations=OperationDurations.uniform(args.operation_seconds),
            send_retry_after=args.retry_after,
            poll_hint_ms=None if args.retry_after else 10,
            family_quotas={"standardDSv5Family": 1_000_000},
        )
        proc = AzureEmulatorProcess(config, log_file=Path(tmp) / "emulator.log")
        t0 = time.perf_counter()
        await proc.start()
        print(f"emulator PID {proc.pid} ready in {time.perf_counter() - t0:.2f} s at {proc.base_url}")
        try:
            cred = proc.operator_credential()
            async with (
                cred,
                ContainerServiceClient(cred, config.subscription_id, **proc.client_kwargs()) as aks,
            ):
                await aks.managed_clusters.get(RG, CLUSTER)  # token + connection warm-up
                await _requests_log(proc)
                names = [f"p{i}" for i in range(args.pools)]

                def create(name: str) -> Any:
                    async def job() -> None:
                        pool = models.AgentPool(vm_size=SIZE, count=1, mode="User")  # type: ignore[call-overload]
                        result = await (
                            await aks.agent_pools.begin_create_or_update(RG, CLUSTER, name, pool)
                        ).result()
                        assert result.provisioning_state == "Succeeded"

                    return job

                def delete(name: str) -> Any:
                    async def job() -> None:
                        await (await aks.agent_pools.begin_delete(RG, CLUSTER, name)).result()

                    return job

                await _phase("create -> Succeeded", [create(n) for n in names], args.concurrency, proc)
                await _phase("delete -> gone", [delete(n) for n in names], args.concurrency, proc)
            state_size = config.state_file.stat().st_size if config.state_file else 0
            print(
                f"\nstate file {state_size / 1024:.0f} KiB; settings "
                f"{json.dumps({'operationSeconds': args.operation_seconds, 'retryAfter': args.retry_after})}"
            )
        finally:
            code = await proc.stop()
            print(f"emulator stopped (exit {code})", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pools", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--operation-seconds", type=float, default=0.0)
    parser.add_argument(
        "--retry-after",
        action="store_true",
        help="send Retry-After (>= 1 s) as ARM does, instead of a 10 ms poll hint",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
