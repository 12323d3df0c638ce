"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (fake kubelets), built from Go modules by scripts/build-control-plane.sh.

Why real binaries: the project relies on validation, defaulting, RBAC, TokenRequest, OIDC
discovery, garbage collection and scheduling, none of which a fake API server reproduces.

Usage::

    with ControlPlane() as cp:
        cp.kubectl("get", "nodes")
        api = cp.api_client()           # kubernetes.client.ApiClient

Every run gets fresh ports, PKI and data directory. Processes run in their own sessions and are
stopped by PID on exit; a reaper process (localcloud.reaper) kills them if this process dies
without cleaning up (SIGKILL, crash).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from localcloud.pki import CertPair, Pki
from localcloud.ports import free_port
from localcloud.processes import log_tail, process_start_time

BIN_ENV = "KAITO_CONTROLPLANE_BIN"
"""Directory with prebuilt binaries; when set, the build script is not run."""
KEEP_ENV = "KAITO_CONTROLPLANE_KEEP"
"""Set to 1 to keep the working directory (logs, certs, etcd data) after stop."""

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-control-plane.sh"
STAGES_DIR = Path(__file__).resolve().parent / "kwok_stages"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")

KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
"""kwok manages exactly the Nodes carrying this annotation, as kwokctl-created fake nodes do."""

_POLL_S = 0.1


class ControlPlaneError(RuntimeError):
    """A component failed to start or become ready."""


def find_bin_dir() -> Path:
    """Directory holding the control-plane binaries.

    `KAITO_CONTROLPLANE_BIN` wins; otherwise the build script is run, which returns at once when
    the versioned cache is populated and builds (tens of minutes, cold) when it is not.
    """
    env = os.environ.get(BIN_ENV)
    if env:
        path = Path(env)
        missing = [b for b in BINARIES if not os.access(path / b, os.X_OK)]
        if missing:
            raise ControlPlaneError(f"{BIN_ENV}={env} lacks executables: {', '.join(missing)}")
        return path
    if not BUILD_SCRIPT.exists():
        raise ControlPlaneError(f"{BUILD_SCRIPT} not found; set {BIN_ENV} to a directory with {BINARIES}")
    out = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


def rss_bytes(pid: int) -> int | None:
    """Resident set size of `pid` from /proc, or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    start_time: int


@dataclass
class Ports:
    """The loopback ports of one run."""

    etcd: int = field(default_factory=free_port)
    etcd_peer: int = field(default_factory=free_port)
    apiserver: int = field(default_factory=free_port)
    controller_manager: int = field(default_factory=free_port)
    scheduler: int = field(default_factory=free_port)
    kwok: int = field(default_factory=free_port)


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok on 127.0.0.1.

    Attributes once started: `kubeconfig` (admin, system:masters), `apiserver_url`, `ca_cert`,
    `issuer` (service-account issuer = `apiserver_url`), `bin_dir`, `workdir`, `ports`,
    `pids` (component -> PID) and `timings` (component -> seconds from spawn to ready, plus
    "total").
    """

    def __init__(
        self,
        bin_dir: Path | str | None = None,
        *,
        workdir: Path | str | None = None,
        pod_cidr: str = "10.244.0.0/16",
        service_cidr: str = "10.96.0.0/16",
        startup_timeout: float = 180.0,
        keep_workdir: bool | None = None,
        extra_args: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Configure a run; nothing starts until `start()` / `with`.

        `pod_cidr` is kwok's pod-IP pool. It must not be loopback: the apiserver accepts loopback
        pod IPs, but EndpointSlice validation rejects them, so Services would get no endpoints.
        `extra_args` appends flags per component name (see COMPONENTS).
        """
        self.bin_dir = Path(bin_dir) if bin_dir is not None else None
        self._workdir_arg = Path(workdir) if workdir is not None else None
        self.pod_cidr = pod_cidr
        self.service_cidr = service_cidr
        self.startup_timeout = startup_timeout
        self.keep_workdir = keep_workdir if keep_workdir is not None else os.environ.get(KEEP_ENV) == "1"
        self.extra_args = {k: list(v) for k, v in (extra_args or {}).items()}
        self.ports = Ports()
        self.apiserver_url = f"https://127.0.0.1:{self.ports.apiserver}"
        self.issuer = self.apiserver_url
        self.workdir = Path()
        self.kubeconfig = Path()
        self.ca_cert = Path()
        self.admin: CertPair | None = None
        self.timings: dict[str, float] = {}
        self._procs: list[_Proc] = []
        self.spawned: dict[str, int] = {}
        """Every PID this run started, kept after stop so callers can check nothing leaked."""
        self._reaper: subprocess.Popen[bytes] | None = None
        self._started = False

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> Self:
        """Start every component in dependency order and wait until each is ready."""
        if self._started:
            raise ControlPlaneError("already started")
        self._started = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process by PID (SIGTERM to its group, SIGKILL after a grace period)."""
        procs, self._procs = self._procs, []
        # Clients first and together, then the apiserver, then its storage.
        for group in (
            [p for p in procs if p.name not in ("kube-apiserver", "etcd")],
            [p for p in procs if p.name == "kube-apiserver"],
            [p for p in procs if p.name == "etcd"],
        ):
            for p in group:
                _signal_group(p.popen.pid, signal.SIGTERM)
            for p in group:
                try:
                    p.popen.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    _signal_group(p.popen.pid, signal.SIGKILL)
                    p.popen.wait()
                self._tell_reaper(f"-{p.popen.pid}")
        if self._reaper is not None:
            assert self._reaper.stdin is not None
            with contextlib.suppress(OSError):
                self._reaper.stdin.close()
            self._reaper.wait(timeout=30)
            self._reaper = None
        if self.workdir != Path() and not self.keep_workdir and self._workdir_arg is None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    # ----------------------------------------------------------------- public helpers
    @property
    def pids(self) -> dict[str, int]:
        """Component name -> PID of the running processes."""
        return {p.name: p.popen.pid for p in self._procs}

    def exit_code(self, name: str) -> int | None:
        """The exit status of component `name` once it has exited (reaping it), None while it runs."""
        return next((p.popen.poll() for p in self._procs if p.name == name), None)

    def restart(self, name: str) -> int:
        """Start component `name` again after it exited: same flags, ports, PKI and etcd data; its PID."""
        args, probe = self._restartable()[name]
        old = next(p for p in self._procs if p.name == name)
        self._procs.remove(old)
        self._tell_reaper(f"-{old.popen.pid}")
        proc = self._spawn(name, args())
        self._wait(time.monotonic() + self.startup_timeout, (proc, probe))
        return proc.popen.pid

    def _restartable(self) -> dict[str, tuple[Callable[[], list[str]], Callable[[], bool]]]:
        anon = self.ssl_context(client_cert=False)
        healthz = "https://127.0.0.1:{}/healthz"
        return {
            "etcd": (self._etcd_args, lambda: _http_ok(f"http://127.0.0.1:{self.ports.etcd}/health")),
            "kube-apiserver": (self._apiserver_args, lambda: _http_ok(f"{self.apiserver_url}/readyz", anon)),
            "kube-controller-manager": (
                self._controller_manager_args,
                lambda: _http_ok(healthz.format(self.ports.controller_manager), anon),
            ),
            "kube-scheduler": (
                self._scheduler_args,
                lambda: _http_ok(healthz.format(self.ports.scheduler), anon),
            ),
            "kwok": (self._kwok_args, lambda: _http_ok(healthz.format(self.ports.kwok), anon)),
        }

    @property
    def reaper_pid(self) -> int | None:
        """PID of the orphan reaper, for tests that check it."""
        return self._reaper.pid if self._reaper is not None else None

    def log_path(self, component: str) -> Path:
        """Combined stdout/stderr of a component."""
        return self.workdir / "logs" / f"{component}.log"

    def rss(self) -> dict[str, int]:
        """Resident memory in bytes per running component."""
        out = {}
        for p in self._procs:
            value = rss_bytes(p.popen.pid)
            if value is not None:
                out[p.name] = value
        return out

    def kubectl_cmd(self, *args: str) -> list[str]:
        """argv for kubectl against this cluster."""
        assert self.bin_dir is not None
        # Discovery cache inside the run's work dir: not in ~/.kube, and never stale across runs.
        cache = self.workdir / "kubectl-cache"
        return [
            str(self.bin_dir / "kubectl"),
            f"--kubeconfig={self.kubeconfig}",
            f"--cache-dir={cache}",
            *args,
        ]

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl; raises CalledProcessError (with stderr) when `check` and it fails."""
        return subprocess.run(
            self.kubectl_cmd(*args), input=input, capture_output=True, text=True, check=check, timeout=timeout
        )

    def api_client(self) -> Any:
        """A new `kubernetes.client.ApiClient` for the admin identity."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))  # type: ignore[no-untyped-call,unused-ignore]

    def ssl_context(self, *, client_cert: bool = True) -> ssl.SSLContext:
        """TLS context trusting this run's CA; with the admin client cert unless told otherwise."""
        ctx = ssl.create_default_context(cafile=str(self.ca_cert))
        if client_cert:
            assert self.admin is not None
            ctx.load_cert_chain(str(self.admin.cert), str(self.admin.key))
        return ctx

    def request(self, method: str, path: str, body: Any = None, *, anonymous: bool = False) -> Any:
        """JSON request to the apiserver; returns the decoded body or raises HTTPError."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.apiserver_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(
            req, context=self.ssl_context(client_cert=not anonymous), timeout=10
        ) as r:
            return json.loads(r.read() or b"null")

    # ----------------------------------------------------------------- internals
    def _start(self) -> None:
        t0 = time.monotonic()
        if self.bin_dir is None:
            self.bin_dir = find_bin_dir()
        self.workdir = self._workdir_arg or Path(tempfile.mkdtemp(prefix="kaito-controlplane-"))
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        self._start_reaper()
        self._write_pki_and_kubeconfigs()
        deadline = t0 + self.startup_timeout

        p = self._spawn("etcd", self._etcd_args())
        self._wait(deadline, (p, lambda: _http_ok(f"http://127.0.0.1:{self.ports.etcd}/health")))

        p = self._spawn("kube-apiserver", self._apiserver_args())
        anon = self.ssl_context(client_cert=False)
        self._wait(deadline, (p, lambda: _http_ok(f"{self.apiserver_url}/readyz", anon)))
        self._allow_anonymous_oidc_discovery()

        kcm = self._spawn("kube-controller-manager", self._controller_manager_args())
        sched = self._spawn("kube-scheduler", self._scheduler_args())
        kwok = self._spawn("kwok", self._kwok_args())
        self._wait(
            deadline,
            (
                kcm,
                lambda: (
                    _http_ok(f"https://127.0.0.1:{self.ports.controller_manager}/healthz", anon)
                    # The ServiceAccount controller has run: pods can be admitted in "default".
                    and self._exists("/api/v1/namespaces/default/serviceaccounts/default")
                ),
            ),
            (sched, lambda: _http_ok(f"https://127.0.0.1:{self.ports.scheduler}/readyz", anon)),
            # kwok serves /healthz only after its node and pod controllers have started.
            (kwok, lambda: _http_ok(f"https://127.0.0.1:{self.ports.kwok}/healthz", anon)),
        )
        self.timings["total"] = time.monotonic() - t0

    def _start_reaper(self) -> None:
        self._reaper = subprocess.Popen(
            [sys.executable, "-m", "localcloud.reaper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=str(REPO_ROOT),
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
            },
            start_new_session=True,  # a signal to our process group must not take the reaper with it
        )
        if not self.keep_workdir and self._workdir_arg is None:
            self._tell_reaper(f"rm {self.workdir}")

    def _tell_reaper(self, line: str) -> None:
        if self._reaper is None or self._reaper.stdin is None:
            return
        with contextlib.suppress(OSError):
            self._reaper.stdin.write(line.encode() + b"\n")
            self._reaper.stdin.flush()

    def _write_pki_and_kubeconfigs(self) -> None:
        pki = Pki(self.workdir / "pki")
        self.ca_cert = pki.ca_cert
        self._sa = pki.service_account_keys()
        self._apiserver_cert = pki.issue(
            "kube-apiserver",
            "kube-apiserver",
            server=True,
            dns_names=(
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ips=(_first_service_ip(self.service_cidr),),
        )
        # Presented to kwok's kubelet API (logs/exec); kwok does not authenticate it.
        self._kubelet_client = pki.issue(
            "apiserver-kubelet-client", "kube-apiserver-kubelet-client", client=True
        )
        self._front_proxy = pki.issue("front-proxy-client", "front-proxy-client", client=True)
        self.admin = pki.issue("admin", "kaito-admin", organizations=("system:masters",), client=True)
        self._serving = pki.issue("components-serving", "localhost", server=True)
        # kubeadm's identities: the bootstrap ClusterRoles are bound to exactly these users.
        kcm = pki.issue("kube-controller-manager", "system:kube-controller-manager", client=True)
        sched = pki.issue("kube-scheduler", "system:kube-scheduler", client=True)
        kwok = pki.issue("kwok", "kwok-controller", organizations=("system:masters",), client=True)
        self.kubeconfig = self._write_kubeconfig("admin", self.admin)
        self._kubeconfigs = {
            "kube-controller-manager": self._write_kubeconfig("kube-controller-manager", kcm),
            "kube-scheduler": self._write_kubeconfig("kube-scheduler", sched),
            "kwok": self._write_kubeconfig("kwok", kwok),
        }

    def _write_kubeconfig(self, user: str, pair: CertPair) -> Path:
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "kaito-local",
                    "cluster": {"server": self.apiserver_url, "certificate-authority": str(self.ca_cert)},
                }
            ],
            "users": [
                {"name": user, "user": {"client-certificate": str(pair.cert), "client-key": str(pair.key)}}
            ],
            "contexts": [{"name": "kaito-local", "context": {"cluster": "kaito-local", "user": user}}],
            "current-context": "kaito-local",
        }
        path = self.workdir / f"{user}.kubeconfig"
        path.write_text(yaml.safe_dump(cfg))
        path.chmod(0o600)
        return path

    def _etcd_args(self) -> list[str]:
        client = f"http://127.0.0.1:{self.ports.etcd}"
        peer = f"http://127.0.0.1:{self.ports.etcd_peer}"
        return [
            "--name=node0",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=node0={peer}",
            "--unsafe-no-fsync",  # test data is disposable; fsync dominates latency on small VMs
            "--auto-compaction-retention=1",
            "--log-level=warn",
        ]

    def _apiserver_args(self) -> list[str]:
        return [
            f"--etcd-servers=http://127.0.0.1:{self.ports.etcd}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports.apiserver}",
            # Loopback cannot be written to the `kubernetes` Endpoints, so no endpoint reconciler.
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={self.workdir / 'apiserver'}",
            f"--tls-cert-file={self._apiserver_cert.cert}",
            f"--tls-private-key-file={self._apiserver_cert.key}",
            f"--client-ca-file={self.ca_cert}",
            # Front proxy (aggregated APIs); also lets delegated authn in KCM/scheduler find a CA.
            f"--requestheader-client-ca-file={self.ca_cert}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={self._front_proxy.cert}",
            f"--proxy-client-key-file={self._front_proxy.key}",
            f"--kubelet-client-certificate={self._kubelet_client.cert}",
            f"--kubelet-client-key={self._kubelet_client.key}",
            "--authorization-mode=Node,RBAC",
            "--anonymous-auth=true",
            "--allow-privileged=true",
            f"--service-cluster-ip-range={self.service_cidr}",
            # Workload identity: the issuer is this https URL, so the apiserver serves
            # /.well-known/openid-configuration and the JWKS that a relying party (Entra ID, the
            # Azure emulator) fetches anonymously.
            f"--service-account-issuer={self.issuer}",
            f"--service-account-jwks-uri={self.issuer}/openid/v1/jwks",
            f"--service-account-signing-key-file={self._sa.key}",
            f"--service-account-key-file={self._sa.cert}",
            "--profiling=false",
        ]

    def _component_common(self, name: str, port: int) -> list[str]:
        kc = self._kubeconfigs[name]
        return [
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={self._serving.cert}",
            f"--tls-private-key-file={self._serving.key}",
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
            "--leader-elect=false",
            "--profiling=false",
        ]

    def _controller_manager_args(self) -> list[str]:
        return [
            *self._component_common("kube-controller-manager", self.ports.controller_manager),
            f"--root-ca-file={self.ca_cert}",
            f"--service-account-private-key-file={self._sa.key}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={self.service_cidr}",
            "--cluster-name=kaito-local",
        ]

    def _scheduler_args(self) -> list[str]:
        return self._component_common("kube-scheduler", self.ports.scheduler)

    def _kwok_args(self) -> list[str]:
        key, value = KWOK_NODE_ANNOTATION
        args = [
            f"--kubeconfig={self._kubeconfigs['kwok']}",
            f"--manage-nodes-with-annotation-selector={key}={value}",
            # Liveness through a Lease, like a real kubelet; kwok renews it.
            "--node-lease-duration-seconds=40",
            f"--cidr={self.pod_cidr}",
            f"--server-address=127.0.0.1:{self.ports.kwok}",
            f"--tls-cert-file={self._serving.cert}",
            f"--tls-private-key-file={self._serving.key}",
        ]
        for stage in sorted(STAGES_DIR.glob("*.yaml")):
            args.append(f"--config={stage}")
        return args

    def _spawn(self, name: str, args: list[str]) -> _Proc:
        assert self.bin_dir is not None
        log = self.log_path(name)
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "GODEBUG")}
        with log.open("ab") as fh:
            popen = subprocess.Popen(
                [str(self.bin_dir / name), *args, *self.extra_args.get(name, [])],
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=str(self.workdir),
                env=env,
                start_new_session=True,  # own process group: stopped as a unit, immune to our ^C
            )
        st = process_start_time(popen.pid) or 0
        self._tell_reaper(f"+{popen.pid} {st}")
        proc = _Proc(name, popen, log, st)
        self.spawned[name] = popen.pid
        self._procs.append(proc)
        self.timings[name] = time.monotonic()  # replaced by the duration once ready
        return proc

    def _wait(self, deadline: float, *checks: tuple[_Proc, Callable[[], bool]]) -> None:
        """Poll each component's readiness probe until all pass; record each one's time to ready.

        Fails fast with the log tail when a process exits, and at the deadline.
        """
        pending = list(checks)
        while pending:
            for check in list(pending):
                proc, ready = check
                code = proc.popen.poll()
                if code is not None:
                    raise ControlPlaneError(f"{proc.name} exited with {code}:\n{log_tail(proc.log, 40)}")
                if ready():
                    self.timings[proc.name] = time.monotonic() - self.timings[proc.name]
                    pending.remove(check)
            if pending and time.monotonic() > deadline:
                names = ", ".join(p.name for p, _ in pending)
                raise ControlPlaneError(
                    f"not ready after {self.startup_timeout}s: {names}\n{log_tail(pending[0][0].log, 40)}"
                )
            if pending:
                time.sleep(_POLL_S)

    def _exists(self, path: str) -> bool:
        try:
            self.request("GET", path)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return False
            raise
        except OSError:
            return False
        return True

    def _allow_anonymous_oidc_discovery(self) -> None:
        """Bind system:service-account-issuer-discovery to unauthenticated users (as AKS does).

        A restart on a kept work dir finds the binding in etcd already (409): that is the desired state.
        """
        try:
            self._create_discovery_binding()
        except urllib.error.HTTPError as err:
            if err.code != 409:
                raise

    def _create_discovery_binding(self) -> None:
        self.request(
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "service-account-issuer-discovery-unauthenticated"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "system:service-account-issuer-discovery",
                },
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Group",
                        "name": "system:unauthenticated",
                    }
                ],
            },
        )


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _http_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=2) as r:
            return bool(r.status == 200)
    except (OSError, ssl.SSLError):
        return False


def _first_service_ip(cidr: str) -> str:
    return str(next(ipaddress.ip_network(cidr).hosts()))
