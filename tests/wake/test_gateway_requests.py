"""Which workspace a request at the wake gateway is for, and how long its caller waits: each door's
headers, and every header the gateway cannot act on refused with what is wrong."""

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.requests import DEFAULT_WAIT_SECONDS, BadRequest, Target, no_wait, target_of, wait_seconds


def headers(**values: str) -> "CIMultiDictProxy[str]":
    return CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in values.items()}))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"Host": "phi.default.svc.cluster.local"}, Target("default", "phi")),
        ({"Host": "phi.team-a.svc:80"}, Target("team-a", "phi")),
        ({"Host": "phi.team-a"}, Target("team-a", "phi")),
        # Through the apiserver's proxy of the workspace's Service (a workspace in the gateway's namespace).
        (
            {
                "Host": "127.0.0.1:6443",
                "X-Forwarded-Uri": "/api/v1/namespaces/ops/services/phi:80/proxy/v1/models",
            },
            Target("ops", "phi"),
        ),
        (
            {"Host": "x.y", "X-Forwarded-Uri": "/api/v1/namespaces/ops/services/http:phi:http/proxy/"},
            Target("ops", "phi"),
        ),
        # Through the gateway's own Service: the Host names the workspace.
        (
            {
                "Host": "phi.default.svc",
                "X-Forwarded-Uri": "/api/v1/namespaces/kaito-system/services/kaito-wake-gateway:80/proxy/v1",
            },
            Target("default", "phi"),
        ),
    ],
)
def test_the_workspace_comes_from_the_forwarded_uri_or_the_host(
    given: dict[str, str], expected: Target
) -> None:
    assert target_of(headers(**given)) == expected


@pytest.mark.parametrize(
    ("host", "says"),
    [("10.0.0.7:80", "is an IP address"), ("[fd00::1]:80", "is an IP address"), ("phi", "does not name"),
     ("PHI_.default", "does not name"), ("", "does not name")],
)  # fmt: skip
def test_a_host_that_names_no_service_is_refused(host: str, says: str) -> None:
    with pytest.raises(BadRequest, match=says):
        target_of(headers(Host=host))


def test_the_wait_is_the_callers_up_to_a_day_and_15_minutes_by_default() -> None:
    assert wait_seconds(headers()) == DEFAULT_WAIT_SECONDS == 900
    assert wait_seconds(headers(X_Kaito_Wake_Timeout="300")) == 300
    for bad in ("soon", "0", "-5", "86401"):
        with pytest.raises(BadRequest, match="X-Kaito-Wake-Timeout"):
            wait_seconds(headers(X_Kaito_Wake_Timeout=bad))


def test_no_wait_is_asked_by_one_value_only() -> None:
    assert not no_wait(headers())
    assert no_wait(headers(X_Kaito_Wake="no-wait")) and no_wait(headers(X_Kaito_Wake="No-Wait"))
    with pytest.raises(BadRequest, match="X-Kaito-Wake: 'later'"):
        no_wait(headers(X_Kaito_Wake="later"))
