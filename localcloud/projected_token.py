"""What the kubelet does for a pod with a projected service-account token volume, for a host process.

On AKS the workload-identity webhook gives the worker pod a projected token (audience
api://AzureADTokenExchange) at AZURE_FEDERATED_TOKEN_FILE, and the kubelet rewrites the file before the
token expires. The local cloud runs the worker as a host process, so this does the same: a TokenRequest
for the worker's service account through the real kube-apiserver, written atomically (a temporary file
in the same directory, then rename — a reader never sees half a token), renewed at 80 % of its lifetime
as the kubelet does, retried on failure while the old token is still valid.

The token is signed by the apiserver's service-account key and carries its issuer; the Azure emulator
verifies it against the apiserver's own JWKS, exactly as Entra verifies an AKS token.
"""

import asyncio
import logging
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kubernetes.client import ApiClient, AuthenticationV1TokenRequest, CoreV1Api, V1TokenRequestSpec

from localcloud.atomic_file import write_atomically
from workflows.identity_contracts import TOKEN_EXCHANGE_AUDIENCE

log = logging.getLogger("kaito.localcloud.token")
KUBELET_REFRESH_FRACTION = 0.8  # the kubelet renews a projected token older than 80 % of its TTL


@dataclass
class ProjectedServiceAccountToken:
    """Keeps `path` holding a valid token of `namespace/service_account` for `audience`."""

    kube: ApiClient
    namespace: str
    service_account: str
    path: Path
    _: KW_ONLY
    audience: str = TOKEN_EXCHANGE_AUDIENCE
    expiration_seconds: int = 3600
    refresh_fraction: float = KUBELET_REFRESH_FRACTION
    retry_seconds: float = 5.0
    issued_at: datetime | None = field(default=None, init=False)
    expires_at: datetime | None = field(default=None, init=False)
    refreshes: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._core = CoreV1Api(self.kube)

    def _request(self) -> tuple[str, datetime]:
        body = AuthenticationV1TokenRequest(
            spec=V1TokenRequestSpec(audiences=[self.audience], expiration_seconds=self.expiration_seconds)
        )
        answer = self._core.create_namespaced_service_account_token(
            self.service_account, self.namespace, body
        )
        status = answer.status
        if status is None or not status.token or not isinstance(status.expiration_timestamp, datetime):
            raise RuntimeError(f"TokenRequest for {self.namespace}/{self.service_account} returned no token")
        return str(status.token), status.expiration_timestamp

    async def refresh(self) -> datetime:
        """One TokenRequest, written to the file; returns the token's expiry."""
        token, expires = await asyncio.to_thread(self._request)
        await asyncio.to_thread(write_atomically, self.path, token)
        self.issued_at = datetime.now(UTC)
        self.expires_at = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
        self.refreshes += 1
        log.info(
            "wrote a token of system:serviceaccount:%s:%s for %s to %s (expires %s)",
            self.namespace, self.service_account, self.audience, self.path, self.expires_at.isoformat(),
        )  # fmt: skip
        return self.expires_at

    def next_refresh(self) -> datetime:
        """When the kubelet would renew the current token: at `refresh_fraction` of its lifetime."""
        assert self.issued_at is not None and self.expires_at is not None
        return self.issued_at + (self.expires_at - self.issued_at) * self.refresh_fraction

    async def run(self) -> None:
        """Refresh now (unless a token was just written), then before each expiry, until cancelled."""
        due = self.next_refresh() if self.expires_at is not None else datetime.now(UTC)
        while True:
            wait = (due - datetime.now(UTC)).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)  # the renewal schedule itself, as the kubelet keeps it
            try:
                await self.refresh()
                due = self.next_refresh()
            except Exception:
                log.exception("token refresh failed; retrying in %.0fs", self.retry_seconds)
                due = datetime.now(UTC) + timedelta(seconds=self.retry_seconds)
