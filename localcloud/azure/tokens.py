"""Access tokens the emulated Entra issues and emulated ARM accepts (RS256 JWTs, v1 ARM token claims).

The signing key lives in the state file: the SDKs cache tokens for an hour, and a restarted emulator must
keep accepting the ones it issued before.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from localcloud.azure.errors import ArmError

# Audiences ARM accepts: the resource part of "https://management.azure.com/.default" and its old alias.
ARM_AUDIENCES = (
    "https://management.azure.com",
    "https://management.azure.com/",
    "https://management.core.windows.net",
    "https://management.core.windows.net/",
)


def new_signing_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class TokenAuthority:
    def __init__(self, signing_key_pem: str, tenant_id: str, lifetime_seconds: int) -> None:
        loaded = serialization.load_pem_private_key(signing_key_pem.encode(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError("the token signing key must be RSA")
        self._key = loaded
        self._public = loaded.public_key()
        der = self._public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = hashlib.sha256(der).hexdigest()[:27]
        self.tenant_id = tenant_id
        self.lifetime = lifetime_seconds

    @property
    def issuer(self) -> str:
        return f"https://sts.windows.net/{self.tenant_id}/"

    def jwk(self) -> dict[str, Any]:
        """The public signing key as a JWK (served at the tenant's jwks_uri)."""
        raw: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._public))
        return {**raw, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def mint(self, *, object_id: str, app_id: str, resource: str) -> tuple[str, int]:
        """(token, expires_in) for an app-only token, shaped like Entra's v1 ARM tokens."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": resource,
            "iss": self.issuer,
            "iat": now,
            "nbf": now - 5,
            "exp": now + self.lifetime,
            "tid": self.tenant_id,
            "oid": object_id,
            "sub": object_id,
            "appid": app_id,
            "appidacr": "2",
            "idtyp": "app",
            "ver": "1.0",
            "uti": uuid.uuid4().hex[:22],
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "x5t": self.kid})
        return token, self.lifetime

    def verify(self, authorization: str | None) -> tuple[str, str]:
        """(object id, app id) from an `Authorization: Bearer` header, or ARM's 401."""
        if not authorization:
            raise _unauthenticated(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                "The authentication failed because of missing 'Authorization' header.",
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthenticated(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                "The authentication failed because of invalid 'Authorization' header.",
            )
        try:
            claims = jwt.decode(
                token.strip(),
                self._public,
                algorithms=["RS256"],
                audience=list(ARM_AUDIENCES),
                issuer=self.issuer,
                options={"require": ["exp", "oid", "appid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _unauthenticated(
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time is earlier than current UTC time.",
                "The access token has expired.",
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise _unauthenticated(
                "InvalidAuthenticationToken",
                f"The access token is invalid. ({exc})",
                "The access token is invalid.",
            ) from exc
        return str(claims["oid"]), str(claims["appid"])


def _unauthenticated(code: str, message: str, description: str) -> ArmError:
    challenge = (
        f'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", '
        f'error_description="{description}"'
    )
    return ArmError(401, code, message, headers={"WWW-Authenticate": challenge})
