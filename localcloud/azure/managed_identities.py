"""Microsoft.ManagedIdentity: user-assigned identities and their federated identity credentials.

An identity's clientId/principalId are minted once and survive re-PUTs (they are what role assignments and
the workload's token request name). Creating one registers its service principal in the directory, which
role assignments see only after the configured replication delay.
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from urllib.parse import urlparse

from aiohttp import web

from localcloud.azure.context import ArmCall, Cloud, arm_json, check_location, required_location
from localcloud.azure.errors import ArmError, invalid_content, not_found
from localcloud.azure.state import Json

IDENTITY_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"
FIC_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"
IDENTITY_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$")
FIC_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,119}$")
MAX_FICS = 20


def identity_id(subscription_id: str, resource_group: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
    )


def _find(cloud: Cloud, call: ArmCall) -> Json:
    rg = cloud.check_resource_group(call.param("sub"), call.param("rg"))
    rec = cloud.state.identities.get(identity_id(call.param("sub"), rg, call.param("identity")).lower())
    if rec is None:
        raise not_found(IDENTITY_TYPE, call.param("identity"), rg)
    return rec


def identity_by_client_id(cloud: Cloud, client_id: str) -> Json | None:
    for rec in cloud.state.identities.values():
        if rec["properties"]["clientId"].lower() == client_id.lower():
            return rec
    return None


def credentials_of(cloud: Cloud, identity: Json) -> list[Json]:
    prefix = identity["id"].lower() + "/federatedidentitycredentials/"
    return [fic for key, fic in cloud.state.federated_credentials.items() if key.startswith(prefix)]


async def put_identity(call: ArmCall) -> web.Response:
    cloud = call.cloud
    rg = cloud.check_resource_group(call.param("sub"), call.param("rg"))
    name = call.param("identity")
    body = await call.body()
    location = required_location(body)
    if not IDENTITY_NAME.match(name):
        raise ArmError(
            400,
            "InvalidResourceName",
            f"Resource name {name} is invalid. The name can contain only "
            "letters, numbers, underscores and hyphens, must start with a letter or number and be 3 to "
            "128 characters long.",
        )
    tags = body.get("tags") or {}
    if not isinstance(tags, dict):
        raise invalid_content("'tags' must be an object")
    iid = identity_id(call.param("sub"), rg, name)
    existing = cloud.state.identities.get(iid.lower())
    if existing is not None:
        check_location(existing, name, rg, location)
        existing["tags"] = tags
        cloud.store.save()
        return arm_json(existing, 200)
    principal_id, client_id = str(uuid.uuid4()), str(uuid.uuid4())
    identity: Json = {
        "id": iid,
        "name": name,
        "type": IDENTITY_TYPE,
        "location": location.replace(" ", "").lower(),
        "tags": tags,
        "properties": {
            "tenantId": cloud.config.tenant_id,
            "principalId": principal_id,
            "clientId": client_id,
            "isolationScope": "None",
        },
    }
    cloud.state.identities[iid.lower()] = identity
    cloud.state.principals[principal_id] = {
        "type": "ServicePrincipal",
        "createdAt": time.time(),
        "clientId": client_id,
        "displayName": name,
    }
    cloud.store.save()
    return arm_json(identity, 201)


async def get_identity(call: ArmCall) -> web.Response:
    return arm_json(_find(call.cloud, call))


async def list_identities(call: ArmCall) -> web.Response:
    rg = call.cloud.check_resource_group(call.param("sub"), call.param("rg"))
    prefix = identity_id(call.param("sub"), rg, "").lower()
    return arm_json({"value": [i for k, i in call.cloud.state.identities.items() if k.startswith(prefix)]})


async def delete_identity(call: ArmCall) -> web.Response:
    cloud = call.cloud
    try:
        identity = _find(cloud, call)
    except ArmError as exc:
        if exc.code == "ResourceNotFound":
            return web.Response(status=204)
        raise
    for fic in credentials_of(cloud, identity):
        del cloud.state.federated_credentials[fic["id"].lower()]
    del cloud.state.identities[identity["id"].lower()]
    cloud.state.principals.pop(identity["properties"]["principalId"], None)
    cloud.store.save()
    return web.Response(status=200)


def _fic_error(message: str) -> ArmError:
    return ArmError(400, "BadRequest", message)


def _validate_fic(props: object) -> Json:
    if not isinstance(props, dict):
        raise invalid_content("the federated identity credential must have a 'properties' object")
    issuer, subject, audiences = props.get("issuer"), props.get("subject"), props.get("audiences")
    if not isinstance(issuer, str) or not issuer:
        raise _fic_error("Issuer is required.")
    parsed = urlparse(issuer)
    if parsed.scheme != "https" or not parsed.netloc or len(issuer) > 600:
        raise _fic_error(
            f"Invalid issuer '{issuer}': the issuer must be an https URL of at most 600 characters."
        )
    if not isinstance(subject, str) or not subject or len(subject) > 600:
        raise _fic_error("Subject is required and must be at most 600 characters.")
    if (
        not isinstance(audiences, list)
        or len(audiences) != 1
        or not all(isinstance(a, str) and a for a in audiences)
    ):
        raise _fic_error("Audiences must contain exactly one value, e.g. 'api://AzureADTokenExchange'.")
    return {"issuer": issuer, "subject": subject, "audiences": list(audiences)}


async def put_credential(call: ArmCall) -> web.Response:
    cloud = call.cloud
    identity = _find(cloud, call)
    name = call.param("fic")
    if not FIC_NAME.match(name):
        raise ArmError(
            400,
            "InvalidResourceName",
            f"Resource name {name} is invalid. The name must start with a "
            "letter or number, contain only letters, numbers, hyphens and underscores, and be 3 to 120 "
            "characters long.",
        )
    props = _validate_fic((await call.body()).get("properties"))
    fid = f"{identity['id']}/federatedIdentityCredentials/{name}"
    siblings = credentials_of(cloud, identity)
    for other in siblings:
        same_pair = (
            other["properties"]["issuer"] == props["issuer"]
            and other["properties"]["subject"] == props["subject"]
        )
        if other["id"].lower() != fid.lower() and same_pair:
            raise _fic_error("Issuer and subject combination already exists for this Managed Identity.")
    existing = cloud.state.federated_credentials.get(fid.lower())
    if existing is None and len(siblings) >= MAX_FICS:
        raise _fic_error(f"Too many federated identity credentials: an identity can have at most {MAX_FICS}.")
    fic: Json = {"id": fid, "name": name, "type": FIC_TYPE, "properties": props}
    cloud.state.federated_credentials[fid.lower()] = fic
    cloud.store.save()
    return arm_json(copy.deepcopy(fic), 200 if existing is not None else 201)


def _find_credential(call: ArmCall) -> tuple[Json, Json | None]:
    identity = _find(call.cloud, call)
    fid = f"{identity['id']}/federatedIdentityCredentials/{call.param('fic')}"
    return identity, call.cloud.state.federated_credentials.get(fid.lower())


async def get_credential(call: ArmCall) -> web.Response:
    identity, fic = _find_credential(call)
    if fic is None:
        raise not_found(
            f"{IDENTITY_TYPE}/{identity['name']}/federatedIdentityCredentials",
            call.param("fic"),
            call.param("rg"),
        )
    return arm_json(fic)


async def list_credentials(call: ArmCall) -> web.Response:
    identity = _find(call.cloud, call)
    return arm_json({"value": credentials_of(call.cloud, identity)})


async def delete_credential(call: ArmCall) -> web.Response:
    _, fic = _find_credential(call)
    if fic is None:
        return web.Response(status=204)
    del call.cloud.state.federated_credentials[fic["id"].lower()]
    call.cloud.store.save()
    return web.Response(status=200)
