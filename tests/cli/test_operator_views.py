"""`kaitoctl workspace list|get|get --watch` as a person reads them: in a pipe and in an 80-column terminal.

Real parts: the Temporal dev server, the Go-built control plane holding the Workspace objects (six
refused at admission, their status written by the controller's own `invalid_status`), and kaitoctl run
as a process — once with stdout a pipe, once on a pseudo-terminal 80 columns wide. The provisioning
worker runs the real workflow over the fake cloud of the workflow tests, whose gates hold a phase open.
"""

from __future__ import annotations

import asyncio
import copy
import fcntl
import os
import pty
import re
import struct
import sys
import termios
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as kube_client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from controllers.handlers import invalid_status
from localcloud.controlplane import ControlPlane
from tests.conftest import ROOT, load_example
from tests.devserver.conftest import target_of
from tests.waiting import wait_for, wait_for_async
from tests.workflow.conftest import wait_for_phase
from tests.workflow.fakes import FakeCloud
from workflows.workspace_contracts import TASK_QUEUE, ActivityName, Phase
from workflows.workspace_spec import API_GROUP, PLURAL, STORAGE_VERSION
from workflows.workspace_validation import WorkspaceInvalid, parse_workspace, validate_workspace
from workflows.workspace_workflow import WorkspaceWorkflow

pytestmark = [pytest.mark.controlplane, pytest.mark.devserver]

WIDTH = 80
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
SKU = "Standard_NV36ads_A10_v5"  # the phi-3-mini example's


def _refusals() -> dict[str, dict[str, Any]]:
    """Six manifests KAITO's webhook refuses, each for a different reason, under telling names."""
    base: dict[str, Any] = dict(load_example("workspace-falcon-7b.yaml"))

    def variant(name: str, change: Any) -> dict[str, Any]:
        manifest = copy.deepcopy(base)
        manifest["metadata"]["name"] = name
        change(manifest)
        return manifest

    return {
        "unknown-preset": variant(
            "unknown-preset", lambda m: m["inference"]["preset"].update(name="falcon-9b")
        ),
        "too-small-sku": variant(
            "too-small-sku",
            lambda m: (
                m["inference"]["preset"].update(name="falcon-40b"),
                m["resource"].update(instanceType="Standard_NC6s_v3"),
            ),
        ),
        "non-gpu-sku": variant("non-gpu-sku", lambda m: m["resource"].update(instanceType="Standard_E8s_v5")),
        "too-many-nodes": variant("too-many-nodes", lambda m: m["resource"].update(count=1001)),
        "expressions": variant(
            "expressions",
            lambda m: m["resource"]["labelSelector"].update(
                matchExpressions=[{"key": "apps", "operator": "In", "values": ["falcon-7b", "falcon-40b"]}]
            ),
        ),
        "tuning-too": variant(
            "tuning-too",
            lambda m: m.update(
                tuning={
                    "method": "qlora",
                    "input": {"urls": ["https://example.com/data.parquet"]},
                    "output": {"image": "example.azurecr.io/adapter:0.1"},
                }
            ),
        ),
    }


def refuse_like_the_controller(custom: Any, manifest: dict[str, Any], namespace: str) -> str:
    """Create the object, then write the status the controller writes for a refused spec; its message."""
    manifest = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
    report = validate_workspace(parse_workspace(manifest))
    assert not report.ok, manifest["metadata"]["name"]
    message = str(WorkspaceInvalid(report.errors)).replace("\n", "; ")
    name = manifest["metadata"]["name"]
    version = manifest["apiVersion"].split("/")[1]
    custom.create_namespaced_custom_object(API_GROUP, version, namespace, PLURAL, manifest)
    status = invalid_status(message)
    custom.patch_namespaced_custom_object_status(
        API_GROUP, STORAGE_VERSION, namespace, PLURAL, name, {"status": status}
    )
    (written,) = [c["message"] for c in status["conditions"] if c["type"] == "WorkspaceSucceeded"]
    return str(written)


@pytest.fixture
def cluster(control_plane: ControlPlane) -> Iterator[tuple[ControlPlane, str, dict[str, str]]]:
    """The CRD, a fresh namespace and the six refused Workspaces in it; the namespace deleted after."""
    control_plane.kubectl("apply", "--server-side", "-f", str(ROOT / "deploy/crds/workspace.kaito.sh.yaml"))
    control_plane.kubectl("wait", "--for=condition=Established", "crd/workspaces.kaito.sh", "--timeout=60s")
    namespace = f"ops-{os.getpid()}"
    control_plane.kubectl("create", "namespace", namespace)
    api = control_plane.api_client()
    try:
        custom = kube_client.CustomObjectsApi(api)
        messages = {name: refuse_like_the_controller(custom, m, namespace) for name, m in _refusals().items()}
        yield control_plane, namespace, messages
    finally:
        api.close()
        control_plane.kubectl("delete", "namespace", namespace, "--wait=false")


def cli_env(env: WorkflowEnvironment, cp: ControlPlane, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KAITO_TEMPORAL_ADDRESS": target_of(env),
        "KUBECONFIG": str(cp.kubeconfig),
        "KAITO_STATE_DIR": str(tmp_path / "no-stack"),
        "TERM": "xterm-256color",
    }


async def in_pipe(environ: dict[str, str], *argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kaitoctl", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in environ.items() if k != "COLUMNS"},
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(), err.decode()


class Terminal:
    """kaitoctl on a pseudo-terminal of WIDTH columns; what it drew, escape codes removed."""

    def __init__(self, environ: dict[str, str], *argv: str) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, WIDTH, 0, 0))
        env = {k: v for k, v in environ.items() if k not in ("COLUMNS", "LINES")}
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kaitoctl", *argv], stdin=slave, stdout=slave, stderr=slave, env=env,
            close_fds=True,
        )  # fmt: skip
        os.close(slave)
        self._master = master
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:
                return  # EIO: the child closed the terminal
            if not chunk:
                return
            self._chunks.append(chunk)

    @property
    def raw(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw)

    def finish(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        os.close(self._master)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


async def run_on_terminal(environ: dict[str, str], *argv: str) -> tuple[int, str]:
    """In a thread: the worker answering the CLI's queries runs on this event loop."""
    term = Terminal(environ, *argv)
    try:
        return await asyncio.to_thread(term.finish), term.text
    finally:
        term.stop()


@pytest.fixture
async def worker_and_ready(
    dev_server: WorkflowEnvironment,
) -> AsyncIterator[tuple[WorkflowEnvironment, FakeCloud]]:
    """A provisioning worker over the fake cloud, and one workspace (phi-3-mini) provisioned to Ready."""
    cloud = FakeCloud(ready_nodes=1, ready_replicas=1)
    async with Worker(
        dev_server.client, task_queue=TASK_QUEUE, workflows=[WorkspaceWorkflow], activities=cloud.activities()
    ):
        code, _, err = await in_pipe(
            {**os.environ, "KAITO_TEMPORAL_ADDRESS": target_of(dev_server)},
            "workspace", "apply", "-f", str(ROOT / "examples" / "workspace-phi-3-mini.yaml"),
        )  # fmt: skip
        assert code == 0, err
        await wait_for_phase(
            dev_server.client.get_workflow_handle("workspace/default/workspace-phi-3-mini"), Phase.READY
        )
        yield dev_server, cloud


async def check_get_shows_conditions_without_wrapping_a_message_over_many_lines(
    environ: dict[str, str],
) -> None:
    code, out, err = await in_pipe(environ, "workspace", "get", "workspace-phi-3-mini")
    assert code == 0, err
    assert "Phase:" in out and "Ready" in out and SKU in out
    conditions = out.split("Conditions:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert conditions[0].split() == ["TYPE", "STATUS", "REASON", "AGE"]
    typed = [line.split()[0] for line in conditions[1:] if not line.startswith("  ")]
    assert "WorkspaceSucceeded" in typed and "InferenceReady" in typed
    messages = [line for line in conditions[1:] if line.startswith("  ")]
    assert messages and len(messages) <= len(typed), "a message a condition, one line each in a pipe"

    code, screen = await run_on_terminal(environ, "workspace", "get", "workspace-phi-3-mini")
    assert code == 0, screen
    lines = screen.splitlines()
    assert all(len(line) <= WIDTH for line in lines)
    block = screen.split("Conditions:", 1)[1].split("Phases:", 1)[0]
    wrapped = [line for line in block.splitlines() if line.startswith("  ")]
    assert len(wrapped) <= 2 * len(typed), "each message takes the whole width: a line or two, not fifteen"

    data = yaml.safe_load(
        (await in_pipe(environ, "workspace", "get", "workspace-phi-3-mini", "-o", "yaml"))[1]
    )
    assert data["phase"] == "Ready" and data["conditions"][0]["lastTransitionTime"]


def _rows(text: str) -> dict[str, list[str]]:
    """The NAME column's value → the row's cells split on runs of 3+ spaces (kubectl's gap)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0].split()[:2] == ["NAMESPACE", "NAME"], text
    return {re.split(r" {3,}", line)[1]: re.split(r" {3,}", line) for line in lines[1:]}


async def test_list_and_get_read_well_in_a_pipe_and_at_80_columns(
    cluster: tuple[ControlPlane, str, dict[str, str]],
    worker_and_ready: tuple[WorkflowEnvironment, FakeCloud],
    tmp_path: Path,
) -> None:
    cp, namespace, messages = cluster
    env, _ = worker_and_ready
    environ = cli_env(env, cp, tmp_path)

    async def listed() -> str | None:
        code, out, err = await in_pipe(environ, "workspace", "list")
        assert code == 0 and not err, err
        return out if "workspace-phi-3-mini" in out else None

    out = await wait_for_async(listed, "the Ready workspace in the list", timeout=20)
    rows = _rows(out)
    assert "…" not in out, "a pipe never gets a shortened cell"
    ready = rows["workspace-phi-3-mini"]
    assert ready[:5] == ["default", "workspace-phi-3-mini", "Ready", SKU, "1/1"]
    for name, message in messages.items():
        row = rows[name]
        assert row[0] == namespace and row[2] == "Failed", row
        assert row[-1] == message, "the whole reason, on one line"

    wide = _rows((await in_pipe(environ, "workspace", "list", "-o", "wide"))[1])
    assert wide["workspace-phi-3-mini"][3:5] == ["Ready", "phi-3-mini-4k-instruct"]
    as_yaml = yaml.safe_load((await in_pipe(environ, "workspace", "list", "-o", "yaml"))[1])
    assert {row["name"] for row in as_yaml} == {"workspace-phi-3-mini", *messages}

    code, screen = await run_on_terminal(environ, "workspace", "list")
    assert code == 0, screen
    lines = [line for line in screen.splitlines() if line.strip()]
    assert all(len(line) <= WIDTH for line in lines), screen
    head = re.split(r" {3,}", lines[0])
    assert head == ["NAMESPACE", "NAME", "STATE", "INSTANCE", "NODES"], "headers never cut: " + screen
    rows_at_80 = [line for line in lines[1:] if not line.startswith("  ")]
    assert len(rows_at_80) == 1 + len(messages), screen
    for line in rows_at_80:
        cells = re.split(r" {3,}", line)
        assert len(cells) == 5 and "…" not in line, "identity columns are never cut: " + line
    for name, message in messages.items():
        below = lines[lines.index(next(line for line in rows_at_80 if f"   {name}   " in line)) + 1]
        assert below.startswith("  ") and message.startswith(below.strip().removesuffix("…")), below
    assert not any(line.startswith("  serving") for line in lines), "a Ready workspace needs no why"

    await check_get_shows_conditions_without_wrapping_a_message_over_many_lines(environ)


async def test_get_watch_follows_the_phases_with_an_eta_from_earlier_provisionings(
    worker_and_ready: tuple[WorkflowEnvironment, FakeCloud],
    control_plane: ControlPlane,
    tmp_path: Path,
) -> None:
    env, cloud = worker_and_ready
    environ = cli_env(env, control_plane, tmp_path)
    manifest = yaml.safe_load((ROOT / "examples" / "workspace-phi-3-mini.yaml").read_text())
    watched: list[str] = []
    for name in ("watched-in-pipe", "watched-on-tty"):
        manifest["metadata"]["name"] = name
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(manifest))
        watched.append(name)

    # Hold the pool step open: the watch must show it running with its ETA before it finishes.
    gate = cloud.gates[ActivityName.ENSURE_AGENT_POOL] = asyncio.Event()
    assert (await in_pipe(environ, "workspace", "apply", "-f", str(tmp_path / "watched-in-pipe.yaml")))[
        0
    ] == 0
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kaitoctl", "workspace", "get", "watched-in-pipe", "--watch",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=environ,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        seen: list[str] = []

        async def line_with(text: str) -> str | None:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            assert line, f"the watch ended before {text!r}: {seen}"
            seen.append(line.rstrip())
            return line if text in line else None

        running = await wait_for_async(lambda: line_with("CreatingNodePool"), "the pool phase", timeout=30)
        assert "eta ~" in running and "(p50 of 1)" in running, running
        gate.set()
        await wait_for_async(lambda: line_with("Ready"), "Ready", timeout=30)
        code = await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert code == 0
    took = [line for line in seen if " took " in line]
    assert any("CreatingNodePool" in line for line in took), seen
    assert all(re.match(r"\d\d:\d\d:\d\d  \S", line) for line in seen), "one timestamped line an event"

    # On a terminal: the steps redrawn in place, an ETA column from the two earlier provisionings.
    gate.clear()
    assert (await in_pipe(environ, "workspace", "apply", "-f", str(tmp_path / "watched-on-tty.yaml")))[0] == 0
    term = Terminal(environ, "workspace", "get", "watched-on-tty", "--watch")
    try:
        await wait_for_async(
            lambda: asyncio.sleep(0, "p50 of 2" in term.text and "GPU agent pool" in term.text),
            "the live table with its ETA", timeout=30, explain=lambda: term.text,
        )  # fmt: skip
        assert "ETA" in term.text
        gate.set()
        code = await asyncio.to_thread(term.finish)
    finally:
        term.stop()
    assert code == 0, term.text
    final = term.text.split("watched-on-tty: Ready")[-1]
    assert final.count("✔") == 6, final
    assert all(len(line) <= WIDTH for line in final.splitlines()), final
    wait_for(lambda: cloud.calls.get("ensure_agent_pool", 0) >= 3, "three pools made")

    # The teardown, followed the same way until the workflow has ended.
    code, out, err = await in_pipe(environ, "workspace", "delete", "watched-in-pipe", "--watch")
    assert code == 0, err
    assert "delete requested" in out and re.search(r"\d\d:\d\d:\d\d  Deleted", out), out
    assert cloud.calls.get("delete_agent_pool", 0) >= 1
