"""Benchmark: how long the local control plane takes to become ready, and how much memory it uses.

    .venv/bin/python bench/controlplane_startup.py --runs 3

Per run: seconds from spawn to ready for each component (ready = etcd /health, apiserver /readyz,
controller-manager /healthz + the default ServiceAccount exists, scheduler /readyz, kwok /healthz),
the total to a usable cluster, the RSS of each process once ready, and the time to stop.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from localcloud.controlplane import COMPONENTS, ControlPlane, find_bin_dir


def _row(name: str, values: list[float], unit: str) -> str:
    mean = statistics.fmean(values)
    return f"{name:<26}{mean:>9.2f}{min(values):>9.2f}{max(values):>9.2f}  {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    bin_dir = find_bin_dir()
    timings: dict[str, list[float]] = {}
    rss: dict[str, list[float]] = {}
    stops: list[float] = []
    for i in range(args.runs):
        cp = ControlPlane(bin_dir)
        cp.start()
        try:
            for name, value in cp.timings.items():
                timings.setdefault(name, []).append(value)
            mem = cp.rss()
            for name, value in mem.items():
                rss.setdefault(name, []).append(value / 2**20)
            rss.setdefault("sum", []).append(sum(mem.values()) / 2**20)
        finally:
            t0 = time.monotonic()
            cp.stop()
            stops.append(time.monotonic() - t0)
        print(
            f"run {i + 1}: ready in {cp.timings['total']:.2f}s, RSS {rss['sum'][-1]:.0f} MiB", file=sys.stderr
        )

    print(f"bin dir: {bin_dir}\nruns: {args.runs}\n")
    print(f"{'':<26}{'mean':>9}{'min':>9}{'max':>9}")
    print("spawn -> ready")
    for name in (*COMPONENTS, "total"):
        print(_row(f"  {name}", timings[name], "s"))
    print(_row("  stop (all)", stops, "s"))
    print("RSS once ready")
    for name in (*COMPONENTS, "sum"):
        print(_row(f"  {name}", rss[name], "MiB"))


if __name__ == "__main__":
    main()
