"""The bootstrap's Kubernetes activities: check the kubeconfig reaches the right cluster, then install
what `activities.cluster_manifests` describes.

Each object is server-side applied under one field manager, so a re-run or a retry changes nothing that
is already as desired; comparing its resourceVersion before and after tells the bootstrap's result which
objects this run created or changed. A 404 is retried here: right after the CRD is applied, its API may
not be served yet.
"""

import asyncio
import json
from functools import partial
from typing import Any, cast

from kubernetes.client import ApiClient, ApiextensionsV1Api, WellKnownApi
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import kube_api
from activities.azure_waits import heartbeat
from activities.cluster_manifests import (
    CRD_NAME,
    FIELD_MANAGER,
    ComponentDefaults,
    access_manifests,
    component_manifests,
    crds,
    service_manifests,
)
from workflows.bootstrap_contracts import AppliedObjects, BootstrapActivity, ClusterIssuer, ClusterSetup

__all__ = ["ClusterSetupActivities", "ComponentDefaults", "apply_objects", "crd_established"]

CRD_ESTABLISHED_SECONDS = 60


async def apply_objects(api: ApiClient, bodies: list[dict[str, Any]], doing: str) -> AppliedObjects:
    """Apply each body in order; report which ones this call created or changed."""
    dynamic = await kube_api.dynamic_client(api, doing, missing_retries=True)
    result = AppliedObjects()
    for body in bodies:
        applied = await kube_api.apply_reporting(
            dynamic, body, field_manager=FIELD_MANAGER, doing=doing, missing_retries=True
        )
        result.applied.append(applied.name)
        if applied.created:
            result.created.append(applied.name)
        elif applied.changed:
            result.changed.append(applied.name)
        heartbeat(f"applied {applied.name}")
    return result


def crd_established(api: ApiClient, name: str = CRD_NAME) -> bool:
    crd = ApiextensionsV1Api(api).read_custom_resource_definition(name)
    conditions = (crd.status.conditions if crd.status else None) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


class ClusterSetupActivities:
    """The bootstrap's Kubernetes activities, bound to an admin client for the cluster being set up."""

    def __init__(
        self, api: ApiClient, defaults: ComponentDefaults | None = None, *, poll_seconds: float = 0.2
    ) -> None:
        self._api = api
        self._defaults = defaults or ComponentDefaults()
        self._poll = poll_seconds

    @activity.defn(name=BootstrapActivity.CHECK_KUBE_TARGET)
    async def check_kube_target(self, issuer: ClusterIssuer) -> str:
        """Refuse to install into another cluster: the apiserver's service-account issuer must be exactly
        the issuer ARM reports (also what Entra compares the tokens' `iss` with)."""
        doing = "read the apiserver's OIDC discovery document"
        wellknown = WellKnownApi(self._api)
        response = await kube_api.call(
            doing,
            partial(wellknown.get_service_account_issuer_open_id_configuration, _preload_content=False),
            missing_retries=True,
        )
        raw = cast(Any, response).data.decode(errors="replace")
        try:
            served = str(json.loads(raw)["issuer"])
        except (TypeError, ValueError, KeyError):
            raise ApplicationError(f"{doing}: not an OIDC discovery document: {raw!r:.200}") from None
        if served != issuer.issuer_url:
            raise ApplicationError(
                f"the kubeconfig reaches a cluster whose service-account issuer is {served!r}, but ARM "
                f"says {issuer.cluster_id} issues {issuer.issuer_url!r}: wrong kubeconfig (or the "
                "apiserver's --service-account-issuer differs, and no token it signs would be accepted)",
                type="KubeconfigTargetMismatch",
                non_retryable=True,
            )
        return served

    @activity.defn(name=BootstrapActivity.INSTALL_CRD)
    async def install_workspace_crd(self, setup: ClusterSetup) -> AppliedObjects:
        """Apply every CRD in deploy/crds and wait until the apiserver serves each one (Established)."""
        applied = await apply_objects(self._api, crds(), "apply the CRDs")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CRD_ESTABLISHED_SECONDS
        names = [crd["metadata"]["name"] for crd in crds()]
        while not await kube_api.call(
            "read the CRDs", lambda: all(crd_established(self._api, n) for n in names), missing_retries=True
        ):
            if loop.time() > deadline:
                raise ApplicationError(
                    f"{CRD_NAME} is not Established after {CRD_ESTABLISHED_SECONDS}s",
                    type="CrdNotEstablished",
                )
            heartbeat(f"waiting for {CRD_NAME} to be Established")
            await asyncio.sleep(self._poll)
        return applied

    @activity.defn(name=BootstrapActivity.APPLY_ACCESS)
    async def apply_identity_and_rbac(self, setup: ClusterSetup) -> AppliedObjects:
        doing = f"apply namespace {setup.namespace}, service accounts and RBAC"
        return await apply_objects(self._api, access_manifests(setup), doing)

    @activity.defn(name=BootstrapActivity.APPLY_COMPONENTS)
    async def apply_components(self, setup: ClusterSetup) -> AppliedObjects:
        bodies = [*component_manifests(setup, self._defaults), *service_manifests(setup)]
        return await apply_objects(self._api, bodies, "apply the worker and controller Deployments")
