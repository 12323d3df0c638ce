"""Verifying a federated assertion against its issuer, as Entra does: discovery document -> jwks_uri -> key.

Only issuers that a federated credential names are ever fetched (no fetching of arbitrary `iss` values).
The CA bundle is configurable so the same code trusts a test issuer now and the kube-apiserver's
service-account issuer later.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from localcloud.azure.certs import client_context

ACCEPT = "application/json, application/jwk-set+json, */*;q=0.5"
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]


class IssuerFetchError(Exception):
    """The issuer's discovery document or JWKS could not be fetched or was malformed."""


class IssuerKeys:
    """Fetches and caches issuers' signing keys; refetches on an unknown `kid` (key rotation)."""

    def __init__(self, ca_files: list[Path], cache_seconds: float = 300.0, timeout: float = 10.0) -> None:
        self._ca_files = ca_files
        self._cache_seconds = cache_seconds
        self._timeout = timeout
        self._cache: dict[str, tuple[float, dict[str, jwt.PyJWK]]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0
        self.jwks_uris: dict[str, str] = {}  # issuer -> the jwks_uri its discovery document named

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=client_context(self._ca_files))
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        return self._session

    async def _get_json(self, url: str) -> dict[str, Any]:
        if not url.startswith("https://"):
            raise IssuerFetchError(f"refusing non-HTTPS URL {url}")
        try:
            # The kube-apiserver serves its JWKS as application/jwk-set+json and answers 406 to a
            # request that accepts only application/json.
            async with self._client().get(url, headers={"Accept": ACCEPT}) as resp:
                if resp.status != 200:
                    raise IssuerFetchError(f"GET {url} answered {resp.status}")
                doc = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise IssuerFetchError(f"GET {url} failed: {exc}") from exc
        if not isinstance(doc, dict):
            raise IssuerFetchError(f"GET {url} did not return a JSON object")
        return doc

    async def _fetch(self, issuer: str) -> dict[str, jwt.PyJWK]:
        self.fetches += 1
        discovery = await self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if discovery.get("issuer") != issuer:
            raise IssuerFetchError(
                f"discovery document names issuer {discovery.get('issuer')!r}, not {issuer!r}"
            )
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise IssuerFetchError("discovery document has no jwks_uri")
        jwks = await self._get_json(jwks_uri)
        self.jwks_uris[issuer] = jwks_uri
        keys: dict[str, jwt.PyJWK] = {}
        for raw in jwks.get("keys", []):
            try:
                key = jwt.PyJWK(raw)
            except jwt.PyJWKError:
                continue  # a key type this verifier does not understand; Entra skips those too
            keys[str(raw.get("kid", ""))] = key
        if not keys:
            raise IssuerFetchError(f"{jwks_uri} holds no usable keys")
        return keys

    async def key_for(self, issuer: str, kid: str) -> jwt.PyJWK | None:
        async with self._lock:
            cached = self._cache.get(issuer)
            fresh = cached is not None and time.monotonic() - cached[0] < self._cache_seconds
            if cached is not None and fresh and kid in cached[1]:
                return cached[1][kid]
            keys = await self._fetch(issuer)
            self._cache[issuer] = (time.monotonic(), keys)
            if kid in keys:
                return keys[kid]
            return keys[""] if "" in keys and len(keys) == 1 else None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
