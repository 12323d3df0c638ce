"""The apiserver is a working OIDC issuer for Azure workload identity.

A relying party (Entra ID, or our Azure emulator) fetches the discovery document and the JWKS
anonymously over HTTPS and verifies a projected service-account token against them.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import jwt
import pytest

from localcloud.controlplane import ControlPlane

pytestmark = pytest.mark.controlplane

AUDIENCE = "api://AzureADTokenExchange"


def _anonymous_get(url: str, ctx: ssl.SSLContext) -> Any:
    with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
        return json.loads(r.read())


def _token(core: Any, namespace: str, audience: str) -> str:
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "kaito-worker"}})
    resp = core.create_namespaced_service_account_token(
        "kaito-worker", namespace, {"spec": {"audiences": [audience], "expirationSeconds": 3600}}
    )
    token: str = resp.status.token
    return token


def test_token_request_verifies_against_anonymous_discovery(
    control_plane: ControlPlane, core: Any, namespace: str
) -> None:
    token = _token(core, namespace, AUDIENCE)
    ctx = control_plane.ssl_context(client_cert=False)  # trust the run's CA, present no identity

    discovery = _anonymous_get(f"{control_plane.issuer}/.well-known/openid-configuration", ctx)
    assert discovery["issuer"] == control_plane.issuer
    assert discovery["jwks_uri"] == f"{control_plane.apiserver_url}/openid/v1/jwks"
    assert "RS256" in discovery["id_token_signing_alg_values_supported"]
    jwks = jwt.PyJWKSet.from_dict(_anonymous_get(discovery["jwks_uri"], ctx))

    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=control_plane.issuer)
    assert claims["sub"] == f"system:serviceaccount:{namespace}:kaito-worker"
    assert claims["aud"] == [AUDIENCE]
    assert claims["exp"] - claims["iat"] == 3600

    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key.key, algorithms=["RS256"], audience="api://SomethingElse")


def test_anonymous_user_sees_only_discovery(control_plane: ControlPlane) -> None:
    """Anonymous auth is on for discovery, yet grants nothing else."""
    ctx = control_plane.ssl_context(client_cert=False)
    with pytest.raises(urllib.error.HTTPError) as err:
        _anonymous_get(f"{control_plane.apiserver_url}/api/v1/namespaces", ctx)
    assert err.value.code == 403
    body = json.loads(err.value.read())
    assert "system:anonymous" in body["message"]
