"""What the local-cloud benchmarks share: the real local cloud in this process, with the apiserver's audit
log on, and ways to read the three logs a provisioning leaves (emulator requests, audit, history).

The local cloud runs here (`LocalCloud` as `kaitoctl dev up` runs it: control plane with kwok, Azure
emulator, GPU-node bridge, stand-ins, worker and controllers as their own processes), so a benchmark can
end the bridge's boot delay itself and read the stand-in manager's state.
"""

from __future__ import annotations

import json
import os
import ssl
import statistics
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client import CustomObjectsApi

from localcloud.stack import LocalCloud, LocalCloudOptions

REPO = Path(__file__).resolve().parent.parent
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  resources: [{group: "coordination.k8s.io", resources: ["leases"]}]
- level: Metadata
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def summary(values: list[float], unit: str = "s") -> str:
    if not values:
        return "n/a"
    return (
        f"p50 {pct(values, 0.5):.3f}{unit}  p99 {pct(values, 0.99):.3f}{unit}  "
        f"mean {statistics.fmean(values):.3f}{unit}  max {max(values):.3f}{unit}  (n={len(values)})"
    )


@asynccontextmanager
async def local_cloud(
    *, boot_delay: float, operation_seconds: float, state_dir: Path | None = None
) -> AsyncIterator[tuple[LocalCloud, Path]]:
    """The local cloud with an audit log (JSON lines, Metadata level, lease renewals left out)."""
    state = state_dir or Path(tempfile.mkdtemp(prefix="kaito-bench-"))
    state.mkdir(parents=True, exist_ok=True)
    policy = state / "audit-policy.yaml"
    policy.write_text(AUDIT_POLICY)
    audit = state / "audit.log"
    options = LocalCloudOptions(
        state_dir=state,
        boot_delay=boot_delay,
        operation_seconds=operation_seconds,
        apiserver_args=[
            f"--audit-policy-file={policy}",
            f"--audit-log-path={audit}",
            "--audit-log-format=json",
            "--audit-log-maxsize=0",
        ],
    )
    async with LocalCloud(options) as cloud:
        yield cloud, audit


def emulator(cloud: LocalCloud, path: str, patch: dict[str, Any] | None = None) -> Any:
    """GET (or PATCH) one of the emulator's `/_emulator` control endpoints."""
    assert cloud.azure is not None
    context = ssl.create_default_context(cafile=str(cloud.azure.ca_file))
    url = f"{cloud.azure.base_url}{path}"
    data = json.dumps(patch).encode() if patch is not None else None
    request = urllib.request.Request(
        url, data, {"Content-Type": "application/json"}, method="PATCH" if patch else "GET"
    )
    with urllib.request.urlopen(request, context=context, timeout=60) as response:
        return json.loads(response.read())


def raise_quotas(cloud: LocalCloud, cores: int = 1_000_000) -> None:
    """Every VM family's quota through the settings API: the default holds only a handful of GPU pools."""
    settings = emulator(cloud, "/_emulator/settings")
    families = dict.fromkeys(settings["familyQuotas"], cores)
    emulator(cloud, "/_emulator/settings", {"familyQuotas": families, "defaultFamilyQuota": cores})


def arm_requests(cloud: LocalCloud, after: int = 0) -> list[dict[str, Any]]:
    return list(emulator(cloud, f"/_emulator/requests?after={after}")["requests"])


def last_arm_seq(cloud: LocalCloud) -> int:
    return int(emulator(cloud, "/_emulator/requests?op=none")["lastSeq"])


def workspace_manifest(name: str, namespace: str = "default") -> dict[str, Any]:
    manifest = yaml.safe_load((REPO / "examples" / "workspace-phi-3-mini.yaml").read_text())
    manifest["metadata"] = {"name": name, "namespace": namespace}
    return dict(manifest)


def create_workspace(cloud: LocalCloud, name: str, namespace: str = "default") -> None:
    group, version = "kaito.sh", "v1beta1"
    CustomObjectsApi(cloud.kube).create_namespaced_custom_object(
        group, version, namespace, "workspaces", workspace_manifest(name, namespace)
    )


def audit_events(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The audit events written since byte `offset`, and the offset after them."""
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    events = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
    return events, offset + end


def stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def audit_matches(
    events: Iterable[dict[str, Any]], *, resource: str, verbs: tuple[str, ...], name_prefix: str = "",
    subresource: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    out = []
    for e in events:
        ref = e.get("objectRef") or {}
        if ref.get("resource") != resource or e.get("verb") not in verbs:
            continue
        if ref.get("subresource") != subresource or not str(ref.get("name", "")).startswith(name_prefix):
            continue
        if int((e.get("responseStatus") or {}).get("code", 0)) >= 400:
            continue
        out.append(e)
    return out


def rss_tree_mb(root: int) -> tuple[float, int]:
    """RSS of a process and all its descendants (MB, process count), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    total, count, todo = 0.0, 0, [root]
    while todo:
        pid = todo.pop()
        total += rss_mb(pid)
        count += 1
        todo.extend(children.get(pid, []))
    return total, count


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Clock:
    """Wall-clock epoch seconds, the clock the emulator log, the audit log and the history all use."""

    @staticmethod
    def now() -> float:
        return time.time()
