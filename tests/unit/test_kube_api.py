"""Which Kubernetes failures retry and which are final, 404 per call, and what the message says."""

import json
from collections.abc import Callable

import pytest
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ForbiddenError, ResourceNotFoundError
from temporalio.exceptions import ApplicationError
from urllib3.exceptions import MaxRetryError, NewConnectionError

from activities import kube_api
from activities.kube_api import Applied, answered, call, call_if_present, classify


def refusal(status: int, reason: str = "Reason", message: str = "the apiserver says why") -> ApiException:
    """What the client raises for an apiserver answer: the HTTP status and a metav1.Status body."""
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": status}
    return ApiException(status=status, reason="HTTP phrase", body=json.dumps({**body, "message": message}))


def raising(error: BaseException) -> Callable[[], object]:
    def fn() -> object:
        raise error

    return fn


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_conflicts_throttling_and_server_faults_retry(status: int) -> None:
    err = classify(refusal(status), "apply Service/default/x")
    assert not err.non_retryable and err.type == f"Kubernetes{status}"


@pytest.mark.parametrize("status", [400, 401, 403, 405, 410, 422])
def test_client_errors_are_final(status: int) -> None:
    err = classify(refusal(status), "apply Service/default/x")
    assert err.non_retryable and err.type == f"Kubernetes{status}"


def test_404_is_final_unless_the_call_expects_an_api_not_served_yet() -> None:
    assert classify(refusal(404, "NotFound"), "create the Workspace").non_retryable
    assert not classify(refusal(404, "NotFound"), "list the Workspaces", missing_retries=True).non_retryable


def test_the_message_says_the_step_then_the_apiserver_status_once() -> None:
    message = 'Workspace.kaito.sh "w" is invalid: spec.resource.count: Invalid value: 0'
    err = classify(refusal(422, "Invalid", message), "create the Workspace")
    assert err.message == f"create the Workspace: HTTP 422 Invalid: {message}"
    assert err.details == ({"status": 422, "reason": "Invalid", "message": message},)
    assert answered(err)


def test_an_answer_without_a_status_body_keeps_the_http_reason_and_text() -> None:
    err = classify(
        ApiException(status=503, reason="Service Unavailable", body="upstream down"), "read /metrics"
    )
    assert err.message == "read /metrics: HTTP 503 Service Unavailable: upstream down"
    assert classify(ApiException(status=403, reason="Forbidden"), "x").message == "x: HTTP 403 Forbidden"


def test_the_dynamic_clients_errors_are_classified_as_their_status() -> None:
    err = classify(ForbiddenError(refusal(403, "Forbidden", "cannot patch")), "apply RBAC")
    assert err.non_retryable and err.message == "apply RBAC: HTTP 403 Forbidden: cannot patch"


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
        MaxRetryError(None, "/api/v1/nodes", NewConnectionError(None, "Failed to establish a connection")),  # type: ignore[arg-type]
        ApiException(status=0, reason="SSLError\ncertificate verify failed"),
    ],
    ids=["refused", "timeout", "urllib3", "tls"],
)
def test_no_answer_from_the_apiserver_retries(error: BaseException) -> None:
    err = classify(error, "list nodes")
    assert not err.non_retryable and err.type == kube_api.UNREACHABLE
    assert err.message.startswith(f"list nodes: no answer from the apiserver: {type(error).__name__}")
    assert not answered(err)


def test_a_kind_the_apiserver_does_not_serve_yet_retries() -> None:
    err = classify(ResourceNotFoundError("No matches found for {'kind': 'Workspace'}"), "apply the Workspace")
    assert not err.non_retryable and err.type == kube_api.NOT_SERVED


async def test_call_returns_the_value_and_raises_the_classified_error() -> None:
    assert await call("read", lambda: 7) == 7
    with pytest.raises(ApplicationError) as refused:
        await call("scale the workload", raising(refusal(403, "Forbidden", "no rights")))
    assert refused.value.non_retryable and "scale the workload: HTTP 403" in refused.value.message
    with pytest.raises(ApplicationError) as missing:
        await call("list the Workspaces", raising(refusal(404)), missing_retries=True)
    assert not missing.value.non_retryable


async def test_call_leaves_other_errors_alone() -> None:
    with pytest.raises(KeyError):
        await call("read", raising(KeyError("not a Kubernetes failure")))


async def test_call_if_present_treats_404_as_absent_and_nothing_else() -> None:
    assert await call_if_present("delete the Service", raising(refusal(404, "NotFound"))) is None
    assert await call_if_present("read", lambda: "found") == "found"
    with pytest.raises(ApplicationError) as refused:
        await call_if_present("delete the Service", raising(refusal(403)))
    assert refused.value.non_retryable
    with pytest.raises(ApplicationError) as unreachable:
        await call_if_present("delete the Service", raising(ConnectionResetError("reset")))
    assert not unreachable.value.non_retryable


def test_an_apply_reports_created_changed_or_neither() -> None:
    assert Applied("Namespace/x", before=None, after="1").created
    assert Applied("Namespace/x", before="1", after="2").changed
    same = Applied("Namespace/x", before="2", after="2")
    assert not same.created and not same.changed


def test_object_names() -> None:
    assert kube_api.object_name({"kind": "Namespace", "metadata": {"name": "x"}}) == "Namespace/x"
    service = {"kind": "Service", "metadata": {"name": "s", "namespace": "n"}}
    assert kube_api.object_name(service) == "Service/n/s"
