"""Emulated Entra ID: the v2 token endpoint (client secret and federated client assertion) and the
discovery documents MSAL-based credentials read.

The assertion path does what Entra does for workload identity: find the identity by client_id, require a
federated credential whose issuer, subject and audience match the assertion exactly, verify the signature
with the issuer's published keys, check the validity window, then issue an ARM access token for the
identity's principal. Failures are AADSTS errors shaped as Entra sends them.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any

import jwt
from aiohttp import web

from localcloud.azure.context import ArmCall, Cloud
from localcloud.azure.errors import EntraError
from localcloud.azure.managed_identities import credentials_of, identity_by_client_id
from localcloud.azure.oidc import ALGORITHMS, IssuerFetchError
from localcloud.azure.tokens import ARM_AUDIENCES

log = logging.getLogger(__name__)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW = 300  # seconds; Entra tolerates five minutes


def _required(name: str) -> EntraError:
    return EntraError(
        400, "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'."
    )


def _check_tenant(cloud: Cloud, tenant: str) -> None:
    if tenant.lower() != cloud.config.tenant_id.lower():
        raise EntraError(
            400,
            "invalid_request",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you "
            "have the correct tenant ID and are signing into the correct cloud.",
        )


def _resource(scope: str) -> str:
    scopes = scope.split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        raise EntraError(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. "
            "Client credential flows must have a scope value with /.default suffixed to the "
            "resource identifier (application ID URI).",
        )
    resource = scopes[0].removesuffix("/.default")
    if resource not in ARM_AUDIENCES:
        raise EntraError(
            400,
            "invalid_resource",
            500011,
            f"The resource principal named {resource} was not "
            "found in the tenant. This can happen if the application has not been installed by the "
            "administrator of the tenant.",
        )
    return resource


async def token(call: ArmCall) -> web.Response:
    cloud = call.cloud
    tenant = call.param("tenant")
    _check_tenant(cloud, tenant)
    form = await call.request.post()
    fields = {k: str(v) for k, v in form.items()}
    grant = fields.get("grant_type")
    if not grant:
        raise _required("grant_type")
    if grant != "client_credentials":
        raise EntraError(
            400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'."
        )
    client_id = fields.get("client_id")
    if not client_id:
        raise _required("client_id")
    scope = fields.get("scope")
    if not scope:
        raise _required("scope")
    resource = _resource(scope)
    if "client_secret" in fields:
        object_id = _check_secret(cloud, tenant, client_id, fields["client_secret"])
    elif "client_assertion" in fields:
        if fields.get("client_assertion_type") != ASSERTION_TYPE:
            raise EntraError(
                400, "invalid_request", 50027, f"Invalid client_assertion_type; expected '{ASSERTION_TYPE}'."
            )
        object_id = await _check_assertion(cloud, tenant, client_id, fields["client_assertion"])
    else:
        raise EntraError(
            400,
            "invalid_request",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is "
            "required for the 'client_credentials' grant type.",
        )
    access_token, expires_in = cloud.tokens.mint(object_id=object_id, app_id=client_id, resource=resource)
    body = {
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access_token,
    }
    return web.Response(
        text=json.dumps(body),
        content_type="application/json",
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _check_secret(cloud: Cloud, tenant: str, client_id: str, secret: str) -> str:
    cfg = cloud.config
    if client_id.lower() != cfg.operator_client_id.lower():
        raise EntraError(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
        )
    if not hmac.compare_digest(secret.encode(), cfg.operator_client_secret.encode()):
        raise EntraError(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being "
            "sent in the request is the client secret value, not the client secret ID, for a secret "
            f"added to app '{client_id}'.",
        )
    return cfg.operator_principal_id


async def _check_assertion(cloud: Cloud, tenant: str, client_id: str, assertion: str) -> str:
    identity = identity_by_client_id(cloud, client_id)
    if identity is None:
        raise EntraError(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
        )
    try:
        header = jwt.get_unverified_header(assertion)
        claims: dict[str, Any] = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise EntraError(
            400, "invalid_request", 50027, f"JWT token is invalid or malformed. ({exc})"
        ) from exc
    iss, sub, aud = str(claims.get("iss", "")), str(claims.get("sub", "")), claims.get("aud", [])
    audiences = [aud] if isinstance(aud, str) else [str(a) for a in aud] if isinstance(aud, list) else []
    matching = [
        fic
        for fic in credentials_of(cloud, identity)
        if fic["properties"]["issuer"] == iss
        and fic["properties"]["subject"] == sub
        and set(fic["properties"]["audiences"]) & set(audiences)
    ]
    if not matching:
        raise EntraError(
            400,
            "invalid_request",
            70021,
            "No matching federated identity record found for "
            f"presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion "
            f"Audience: '{','.join(audiences)}'. https://docs.microsoft.com/azure/active-directory/"
            "develop/workload-identity-federation",
        )
    alg = str(header.get("alg", ""))
    if alg not in ALGORITHMS:
        raise EntraError(
            401,
            "invalid_client",
            700027,
            f"Client assertion contains an invalid signature. "
            f"[Reason - The signing algorithm '{alg}' is not supported.]",
        )
    try:
        key = await cloud.issuers.key_for(iss, str(header.get("kid", "")))
    except IssuerFetchError as exc:
        raise EntraError(
            401, "invalid_client", 50166, f"Request to External OIDC endpoint failed. ({exc})"
        ) from exc
    if key is None:
        raise EntraError(
            401,
            "invalid_client",
            700027,
            "Client assertion contains an invalid signature. [Reason "
            f"- The key was not found., Thumbprint of key used by client: '{header.get('kid')}']",
        )
    try:
        jwt.decode(
            assertion,
            key,
            algorithms=[alg],
            leeway=CLOCK_SKEW,
            options={"verify_aud": False, "verify_iss": False, "require": ["exp"]},
        )
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError) as exc:
        now = datetime.now(UTC).strftime("%m/%d/%Y %H:%M:%S")
        raise EntraError(
            400,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range. "
            f"Current time: {now}, assertion valid from {_ts(claims.get('nbf'))}, expiry time of "
            f"assertion {_ts(claims.get('exp'))}.",
        ) from exc
    except jwt.InvalidTokenError as exc:
        raise EntraError(
            401, "invalid_client", 700027, f"Client assertion contains an invalid signature. [Reason - {exc}]"
        ) from exc
    log.info(
        "client assertion verified: client_id=%s iss=%s sub=%s aud=%s kid=%s alg=%s, signature checked "
        "against %s; federated credential %s",
        client_id, iss, sub, ",".join(audiences), header.get("kid"), alg,
        cloud.issuers.jwks_uris.get(iss, "the issuer's JWKS"), matching[0].get("name"),
    )  # fmt: skip
    return str(identity["properties"]["principalId"])


def _ts(value: object) -> str:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%m/%d/%Y %H:%M:%S")
    return "(none)"


async def openid_configuration(call: ArmCall) -> web.Response:
    cloud = call.cloud
    tenant = call.param("tenant")
    _check_tenant(cloud, tenant)
    root = f"{cloud.base_url}/{tenant}"
    doc = {
        "token_endpoint": f"{root}/oauth2/v2.0/token",
        "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
        "jwks_uri": f"{root}/discovery/v2.0/keys",
        "issuer": f"{root}/v2.0",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
    }
    return web.json_response(doc)


async def keys(call: ArmCall) -> web.Response:
    _check_tenant(call.cloud, call.param("tenant"))
    return web.json_response({"keys": [call.cloud.tokens.jwk()]})
