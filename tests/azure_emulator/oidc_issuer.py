"""A tiny HTTPS OpenID Connect issuer for tests: discovery document + JWKS, and JWTs shaped like the
projected service-account tokens a kube-apiserver signs.

It has its own CA (not the emulator's), so the tests exercise the emulator's configurable issuer trust the
same way the kube-apiserver's issuer will later.
"""

from __future__ import annotations

import ssl
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import trustme
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE = "api://AzureADTokenExchange"


class TestIssuer:
    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, path: str = "/issuer/") -> None:
        self._dir = directory
        self._path = path
        self._ca = trustme.CA(organization_name="test OIDC issuer")
        self.ca_file = directory / "issuer-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        base = self._path.rstrip("/")
        app.router.add_get(base + "/.well-known/openid-configuration", self._discovery)
        app.router.add_get(base + "/openid/v1/jwks", self._jwks)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        self._runner = runner
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"https://127.0.0.1:{port}{self._path}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _discovery(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        return web.json_response(
            {
                "issuer": self.url,
                "jwks_uri": self.url.rstrip("/") + "/openid/v1/jwks",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        public: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return web.json_response({"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]})

    def rotate(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex

    def mint(
        self,
        subject: str = "system:serviceaccount:kaito-system:kaito-worker",
        *,
        audience: str = AUDIENCE,
        issuer: str | None = None,
        lifetime: int = 3600,
        issued_at: float | None = None,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
    ) -> str:
        """A service-account-shaped JWT; any field can be made wrong for negative tests."""
        now = int(issued_at if issued_at is not None else time.time())
        namespace, _, account = subject.removeprefix("system:serviceaccount:").partition(":")
        claims = {
            "iss": issuer or self.url,
            "sub": subject,
            "aud": [audience],
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": account, "uid": str(uuid.uuid4())},
            },
        }
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})
