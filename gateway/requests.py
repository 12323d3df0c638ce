"""What the gateway reads from a request: which workspace it is for, and how long its caller waits.

A request reaches the gateway by one of two doors, and each names the workspace:

- an in-cluster client calls the workspace's Service (`http://<svc>.<ns>.svc…`); kube-proxy sends it
  to a gateway pod (our EndpointSlice) and the Host header still names the Service;
- a caller outside the cluster goes through the apiserver's service proxy, which adds `X-Forwarded-Uri`
  (`/api/v1/namespaces/<ns>/services/<svc>[:port]/proxy/…`) and keeps the caller's Host.

X-Forwarded-Uri wins when it names a Service other than the gateway's own; otherwise the Host does. A
Host that is an IP (a client of the ClusterIP) names no Service, so such a request is refused saying why.
"""

import re
from dataclasses import dataclass
from ipaddress import ip_address

from multidict import CIMultiDictProxy

from workflows.workspace_contracts import WAKE_GATEWAY_APP

WAIT_HEADER = "X-Kaito-Wake-Timeout"  # seconds the caller's request may be held while the workspace wakes
WAKE_HEADER = "X-Kaito-Wake"  # "no-wait": answer 503 with Retry-After at once, waking it meanwhile
NO_WAIT = "no-wait"
DEFAULT_WAIT_SECONDS = 15 * 60.0
MAX_WAIT_SECONDS = 24 * 3600.0

_PROXIED = re.compile(r"^/api/v1/namespaces/([^/]+)/services/(?:https?:)?([^/:]+)(?::[^/]*)?/proxy(?:/|$)")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class BadRequest(ValueError):
    """A request the gateway cannot act on; the message says which header and why."""


@dataclass(frozen=True)
class Target:
    namespace: str
    service: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.service}"


def target_of(headers: "CIMultiDictProxy[str]") -> Target:
    """The workspace Service a request is for (its name is the workspace's)."""
    forwarded = _PROXIED.match(headers.get("X-Forwarded-Uri", ""))
    if forwarded and forwarded[2] != WAKE_GATEWAY_APP:
        return Target(forwarded[1], forwarded[2])
    host = headers.get("Host", "").strip().lower()
    if host.startswith("["):  # [IPv6]:port
        name = host[1 : host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if _is_ip(name):
        raise BadRequest(
            f"Host {host!r} is an IP address: call the workspace's Service by name (<name>.<namespace>.svc)"
        )
    parts = name.split(".")
    if len(parts) < 2 or not all(_DNS_LABEL.match(p) for p in parts[:2]):
        raise BadRequest(f"Host {host!r} does not name a workspace Service (<name>.<namespace>.svc)")
    return Target(namespace=parts[1], service=parts[0])


def _is_ip(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def wait_seconds(headers: "CIMultiDictProxy[str]") -> float:
    """The caller's deadline for the wake, from X-Kaito-Wake-Timeout (seconds), default 15 minutes."""
    text = headers.get(WAIT_HEADER)
    if text is None:
        return DEFAULT_WAIT_SECONDS
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"{WAIT_HEADER}: {text!r} is not a number of seconds") from None
    if not 0 < value <= MAX_WAIT_SECONDS:
        raise BadRequest(f"{WAIT_HEADER}: {text!r} is not between 0 and {MAX_WAIT_SECONDS:.0f} seconds")
    return value


def no_wait(headers: "CIMultiDictProxy[str]") -> bool:
    """X-Kaito-Wake: no-wait asks for an immediate answer; any other value is refused."""
    text = headers.get(WAKE_HEADER)
    if text is None:
        return False
    if text.strip().lower() != NO_WAIT:
        raise BadRequest(f"{WAKE_HEADER}: {text!r} is not {NO_WAIT!r}")
    return True
