"""Leader election for the controllers: two replicas, one active, through a coordination.k8s.io Lease.

kopf has no leader election of its own (its peering pauses every operator of equal priority), so
`python -m controllers` first takes a Lease, as kube-controller-manager does: the standby replica waits
(serving its liveness probe meanwhile), the leader renews every `renew` seconds and runs kopf. A leader
that cannot renew before its lease runs out exits, so two replicas are never active at once; Kubernetes
restarts it and it waits as the standby. Renewals replace the Lease at the resourceVersion read, so
two candidates racing for an expired lease cannot both win. On a clean exit the leader releases the
Lease and the standby takes over at once instead of after the lease duration.

Switched on by `KAITO_CONTROLLER_LEADER_ELECTION=true` (the chart and the bootstrap set it); the Lease
lives in `KAITO_CONTROLLER_LEASE_NAMESPACE` (default: the pod's own namespace).
"""

import atexit
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from kubernetes import client as kube_client
from kubernetes import config as kube_config

log = logging.getLogger("kaito.controllers.leadership")
LEASE_NAME = "kaito-controller"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass(frozen=True)
class LeaseTimings:
    duration: float = 15.0  # a leader that has not renewed for this long is gone
    renew: float = 5.0  # how often the leader renews
    retry: float = 2.0  # how often the standby tries to take over


class Elector:
    """One candidate for the Lease `name` in `namespace`."""

    def __init__(
        self,
        api: Any,
        namespace: str,
        identity: str,
        name: str = LEASE_NAME,
        timings: LeaseTimings | None = None,
    ) -> None:
        self._api = kube_client.CoordinationV1Api(api)
        self.namespace, self.name, self.identity = namespace, name, identity
        self.timings = timings or LeaseTimings()

    def _spec(self, now: datetime, previous: Any = None) -> Any:
        transitions = (previous.lease_transitions or 0) + 1 if previous is not None else 0
        return kube_client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=max(int(self.timings.duration), 1),
            acquire_time=now,
            renew_time=now,
            lease_transitions=transitions,
        )

    def try_acquire_or_renew(self) -> bool:
        """True when this candidate holds the Lease now (taken, renewed, or found expired and taken)."""
        now = datetime.now(UTC)
        try:
            lease = self._api.read_namespaced_lease(self.name, self.namespace)
        except kube_client.ApiException as error:
            if error.status != 404:
                raise
            body = kube_client.V1Lease(
                metadata=kube_client.V1ObjectMeta(name=self.name, namespace=self.namespace),
                spec=self._spec(now),
            )
            try:
                self._api.create_namespaced_lease(self.namespace, body)
                return True
            except kube_client.ApiException as race:
                if race.status == 409:
                    return False  # another candidate created it first
                raise
        spec: Any = lease.spec
        if spec is None:
            lease.spec = self._spec(now)
        elif spec.holder_identity == self.identity:
            spec.renew_time = now
        elif spec.holder_identity and not self._expired(spec, now):
            return False
        else:
            lease.spec = self._spec(now, previous=spec)
        try:
            self._api.replace_namespaced_lease(self.name, self.namespace, lease)
            return True
        except kube_client.ApiException as error:
            if error.status == 409:
                return False  # changed since we read it: someone else renewed or took it
            raise

    def _expired(self, spec: Any, now: datetime) -> bool:
        renewed = spec.renew_time or spec.acquire_time
        if renewed is None:
            return True
        if renewed.tzinfo is None:
            renewed = renewed.replace(tzinfo=UTC)
        return bool(renewed + timedelta(seconds=spec.lease_duration_seconds or self.timings.duration) < now)

    def holder(self) -> str | None:
        lease = self._api.read_namespaced_lease(self.name, self.namespace)
        return lease.spec.holder_identity if lease.spec else None

    def release(self) -> None:
        """Give the Lease up if we hold it, so the standby need not wait for it to expire."""
        try:
            lease = self._api.read_namespaced_lease(self.name, self.namespace)
            if lease.spec and lease.spec.holder_identity == self.identity:
                lease.spec.holder_identity = None
                lease.spec.renew_time = None
                self._api.replace_namespaced_lease(self.name, self.namespace, lease)
        except kube_client.ApiException as error:
            log.warning("could not release the Lease %s/%s: %s", self.namespace, self.name, error.reason)


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "8")
        self.end_headers()
        self.wfile.write(b"standby\n")

    def log_message(self, *_: Any) -> None:
        return


@contextmanager
def standby_liveness(url: str | None) -> Iterator[None]:
    """While waiting for the Lease, answer the liveness probe kopf will answer once it runs."""
    if not url:
        yield
        return
    parsed = urlparse(url)
    server = ThreadingHTTPServer((parsed.hostname or "0.0.0.0", parsed.port or 8080), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def wait_for_leadership(elector: Elector, liveness_url: str | None = None) -> None:
    with standby_liveness(liveness_url):
        announced = False
        while not elector.try_acquire_or_renew():
            if not announced:
                log.info(
                    "standby: %s holds the Lease %s/%s", elector.holder(), elector.namespace, elector.name
                )
                announced = True
            time.sleep(elector.timings.retry)
    log.info("leader: %s holds the Lease %s/%s", elector.identity, elector.namespace, elector.name)


def keep_renewing(elector: Elector, stop: threading.Event) -> None:
    """Renew until stopped; exit the process if the Lease cannot be kept (never two active leaders)."""
    last = time.monotonic()
    while not stop.wait(elector.timings.renew):
        try:
            held = elector.try_acquire_or_renew()
        except (kube_client.ApiException, OSError) as error:
            log.warning("renewing the Lease failed: %s", error)
            held = None
        if held:
            last = time.monotonic()
        elif held is False or time.monotonic() - last > elector.timings.duration - elector.timings.renew:
            log.error(
                "lost the Lease %s/%s: exiting so that only one controller is active",
                elector.namespace,
                elector.name,
            )
            os._exit(1)


def _namespace() -> str:
    configured = os.environ.get("KAITO_CONTROLLER_LEASE_NAMESPACE")
    if configured:
        return configured
    if SERVICE_ACCOUNT_NAMESPACE.exists():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    return "default"


def _api_client() -> Any:
    try:
        kube_config.load_incluster_config()  # type: ignore[no-untyped-call,unused-ignore]
        return kube_client.ApiClient()
    except kube_config.ConfigException:
        return kube_config.new_client_from_config(config_file=os.environ.get("KUBECONFIG"))


def hold_leadership_if_configured() -> None:
    """Block until this replica leads (when leader election is on), then keep the Lease in the background."""
    if os.environ.get("KAITO_CONTROLLER_LEADER_ELECTION", "").lower() not in ("1", "true", "yes"):
        return
    elector = Elector(_api_client(), _namespace(), os.environ.get("HOSTNAME") or socket.gethostname())
    wait_for_leadership(elector, os.environ.get("KAITO_CONTROLLER_LIVENESS"))
    stop = threading.Event()
    threading.Thread(target=keep_renewing, args=(elector, stop), name="lease-renewal", daemon=True).start()

    def release() -> None:
        stop.set()
        elector.release()

    atexit.register(release)
