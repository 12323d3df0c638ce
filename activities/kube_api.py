"""The one way an activity talks to Kubernetes: a blocking `kubernetes` call in a thread, its failure
sorted into "retry" or "no retry can fix this", and server-side apply under a field manager.

The `kubernetes` client is synchronous, so `call` runs each call in a thread and the worker's event loop
never blocks. What it raises becomes a Temporal `ApplicationError` by one rule set:

* retryable: 408, 409 (a concurrent writer; the next attempt re-reads or re-applies), 429 and every 5xx;
  no answer (connection refused or reset, TLS failure, timeout: urllib3 errors, `OSError`, and the
  client's own status-0 `ApiException`), type `KubernetesUnreachable`; a kind the apiserver does not serve
  (yet: a CRD applied a moment ago), type `KubernetesApiNotServed`.
* final: every other 4xx, chiefly 401 (the credential), 403 (RBAC: the next attempt has the same rights)
  and 422 (the object is invalid).
* 404, chosen per call: final by default (the namespace or parent object is gone); retryable with
  `missing_retries=True`, where an API or a CRD may not be served yet; "absent" with `call_if_present`,
  which returns None, for reads and deletes to which a missing object is an answer.

An answer's type is `Kubernetes<status>` and its message `<doing>: HTTP <status> <reason>: <message>`,
with reason and message from the apiserver's `Status` body (the HTTP reason phrase when there is none);
details carry `{"status", "reason", "message"}`, `status` None when the apiserver did not answer.
"""

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError as KindNotServed
from temporalio.exceptions import ApplicationError
from urllib3.exceptions import HTTPError as TransportError

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 409, 429})
NOT_FOUND = 404
UNREACHABLE = "KubernetesUnreachable"
NOT_SERVED = "KubernetesApiNotServed"

# Everything a `kubernetes` call can raise that `classify` understands: the apiserver's answers (the
# dynamic client's errors subclass ApiException), an unserved kind, and no answer at all.
KUBE_FAILURES: tuple[type[BaseException], ...] = (ApiException, KindNotServed, TransportError, OSError)


def status_of(error: ApiException) -> tuple[str, str]:
    """(reason, message) from the apiserver's `Status` body; else the HTTP reason phrase and raw text."""
    body = error.body.decode(errors="replace") if isinstance(error.body, bytes) else error.body or ""
    try:
        status = json.loads(body)
    except ValueError:
        status = None
    if isinstance(status, dict):
        return str(status.get("reason") or error.reason or ""), str(status.get("message") or "")
    return str(error.reason or ""), body.strip()[:200]


def classify(error: BaseException, doing: str, *, missing_retries: bool = False) -> ApplicationError:
    """An ApplicationError, retryable or final as the module docstring says."""
    http = int(error.status or 0) if isinstance(error, ApiException) else 0
    if isinstance(error, ApiException) and http:
        reason, message = status_of(error)
        retry = http in RETRYABLE_STATUS or http >= 500 or (http == NOT_FOUND and missing_retries)
        said = f"HTTP {http} {reason}".rstrip() + (f": {message}" if message else "")
        return ApplicationError(
            f"{doing}: {said}",
            {"status": http, "reason": reason, "message": message},
            type=f"Kubernetes{http}",
            non_retryable=not retry,
        )
    if isinstance(error, KindNotServed):
        kind, message = NOT_SERVED, f"the apiserver does not serve it (yet): {error}"
    else:
        cause = error.reason if isinstance(error, ApiException) else error
        kind, message = UNREACHABLE, f"no answer from the apiserver: {type(error).__name__}: {cause}"
    return ApplicationError(
        f"{doing}: {message}", {"status": None, "reason": kind, "message": message}, type=kind
    )


def answered(error: ApplicationError) -> bool:
    """Whether a `classify`d failure is an HTTP answer (the apiserver, or what it proxies, said no)."""
    details = error.details[0] if error.details else None
    return isinstance(details, dict) and details.get("status") is not None


async def call(doing: str, fn: Callable[[], T], *, missing_retries: bool = False) -> T:
    """Run `fn` in a thread; a Kubernetes failure becomes `classify`'s ApplicationError."""
    try:
        return await asyncio.to_thread(fn)
    except KUBE_FAILURES as err:
        raise classify(err, doing, missing_retries=missing_retries) from None


async def call_if_present(doing: str, fn: Callable[[], T]) -> T | None:
    """`call` for reads and deletes to which a missing object is an answer: 404 returns None."""
    try:
        return await asyncio.to_thread(fn)
    except ApiException as err:
        if err.status == NOT_FOUND:
            return None
        raise classify(err, doing) from None
    except KUBE_FAILURES as err:
        raise classify(err, doing) from None


# ---- server-side apply ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """An object's resourceVersion before a server-side apply (None: it did not exist) and after."""

    name: str
    before: str | None
    after: str | None

    @property
    def created(self) -> bool:
        return self.before is None

    @property
    def changed(self) -> bool:
        """The apiserver keeps the resourceVersion of an object an apply leaves as it was."""
        return self.before is not None and self.before != self.after


def object_name(body: dict[str, Any]) -> str:
    """`Kind/namespace/name`, or `Kind/name` for a cluster-scoped object."""
    meta = body["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{body['kind']}/{where}{meta['name']}"


async def dynamic_client(api: ApiClient, doing: str, *, missing_retries: bool = False) -> DynamicClient:
    """A dynamic client (its constructor reads the apiserver's discovery documents)."""
    return await call(
        f"{doing}: discover the API", lambda: DynamicClient(api), missing_retries=missing_retries
    )


def _resource_version(obj: Any) -> str | None:
    return None if obj is None else str(obj.metadata.resourceVersion)


def _server_side_apply(dynamic: DynamicClient, body: dict[str, Any], field_manager: str) -> Any:
    resource = dynamic.resources.get(api_version=body["apiVersion"], kind=body["kind"])
    return resource.server_side_apply(
        body=body,
        namespace=body["metadata"].get("namespace"),
        field_manager=field_manager,
        force_conflicts=True,
    )


def _apply_reporting(
    dynamic: DynamicClient, body: dict[str, Any], field_manager: str
) -> tuple[str | None, str | None]:
    resource = dynamic.resources.get(api_version=body["apiVersion"], kind=body["kind"])
    try:
        found = resource.get(name=body["metadata"]["name"], namespace=body["metadata"].get("namespace"))
    except ApiException as err:
        if err.status != NOT_FOUND:
            raise
        found = None
    return _resource_version(found), _resource_version(_server_side_apply(dynamic, body, field_manager))


async def apply(
    dynamic: DynamicClient,
    body: dict[str, Any],
    *,
    field_manager: str,
    doing: str,
    missing_retries: bool = False,
) -> None:
    """Server-side apply `body` under `field_manager`, taking its fields from any other manager, so a
    retry or a re-run is a no-op; `doing` names the step, the object's name is added."""
    await call(
        f"{doing}: {object_name(body)}",
        lambda: _server_side_apply(dynamic, body, field_manager),
        missing_retries=missing_retries,
    )


async def apply_reporting(
    dynamic: DynamicClient,
    body: dict[str, Any],
    *,
    field_manager: str,
    doing: str,
    missing_retries: bool = False,
) -> Applied:
    """`apply`, reading the object first to report whether the apply created or changed it (one GET
    more, for the bootstrap's summary of what it did)."""
    name = object_name(body)
    before, after = await call(
        f"{doing}: {name}",
        lambda: _apply_reporting(dynamic, body, field_manager),
        missing_retries=missing_retries,
    )
    return Applied(name=name, before=before, after=after)
