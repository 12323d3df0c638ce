"""The bootstrap's Kubernetes side: what kaito-temporal installs in a cluster, and the activities that do it.

The manifests are pure functions of a `ClusterSetup` (unit-tested field by field); the activities
server-side apply them under one field manager, so a re-run or a retry changes nothing that is already
as desired (the apiserver keeps the resourceVersion of an object an apply does not change).

What is installed:
* the Workspace CRD (`deploy/crds/workspace.kaito.sh.yaml`, the one file both humans and this code use);
* the namespace (`kaito-system`) and two service accounts: the worker's, annotated with the managed
  identity's client and tenant ids for the AKS workload-identity webhook, and the controllers', which
  never talks to Azure;
* least-privilege RBAC — the worker: Workspaces (create, delete, status), StatefulSets (+ scale),
  Services (+ the service proxy for health checks), Pods read (+ the pod proxy for /metrics), Events,
  Nodes and all Workspaces read; the
  controllers: Workspaces watch and patch (finalizer, annotations), Nodes and StatefulSets watch, Events.
  No leases: kopf runs standalone and Temporal workers need no leader election;
* the worker and controller Deployments; worker pods carry `azure.workload.identity/use: "true"`, so the
  webhook projects a service-account token (audience api://AzureADTokenExchange) and sets
  AZURE_CLIENT_ID / AZURE_TENANT_ID / AZURE_FEDERATED_TOKEN_FILE / AZURE_AUTHORITY_HOST for
  `DefaultAzureCredential`. The worker holds no secret.
"""

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from kubernetes.client import ApiClient, ApiextensionsV1Api, WellKnownApi
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError
from kubernetes.dynamic.exceptions import ResourceNotFoundError as KindNotFound
from temporalio import activity
from temporalio.exceptions import ApplicationError
from urllib3.exceptions import HTTPError as TransportError

from activities.azure_waits import heartbeat
from workflows.bootstrap_contracts import (
    WI_CLIENT_ID_ANNOTATION,
    WI_TENANT_ID_ANNOTATION,
    WI_USE_LABEL,
    AppliedObjects,
    BootstrapActivity,
    ClusterIssuer,
    ClusterSetup,
)
from workflows.workspace_spec import API_GROUP, PLURAL

FIELD_MANAGER = "kaito-bootstrap"
CRD_FILE = Path(__file__).resolve().parent.parent / "deploy" / "crds" / "workspace.kaito.sh.yaml"
CRD_NAME = f"{PLURAL}.{API_GROUP}"
PART_OF = {"app.kubernetes.io/part-of": "kaito-temporal", "app.kubernetes.io/managed-by": FIELD_MANAGER}
WORKER = "kaito-worker"
CONTROLLER = "kaito-controller"
WORKER_CLUSTER = "kaito-worker-cluster"
CONTROLLER_PROBE_PORT = 8080
T = TypeVar("T")


@dataclass(frozen=True)
class ComponentDefaults:
    """What the bootstrap worker's settings say about the in-cluster components."""

    image: str = "kaito-temporal:0.1.0"
    temporal_address: str = "temporal-frontend.temporal.svc.cluster.local:7233"
    temporal_namespace: str = "default"
    # Optional Secret whose keys become env vars (KAITO_TEMPORAL_API_KEY, TLS paths, ...).
    temporal_secret: str = "kaito-temporal"


# ---- manifests ------------------------------------------------------------------------------------


def workspace_crd() -> dict[str, Any]:
    """The Workspace CRD from deploy/crds (v1alpha1 served, v1beta1 stored)."""
    docs = [d for d in yaml.safe_load_all(CRD_FILE.read_text()) if d]
    crds = [d for d in docs if d.get("kind") == "CustomResourceDefinition"]
    assert len(crds) == 1, f"{CRD_FILE} must hold exactly one CRD"
    crd: dict[str, Any] = crds[0]
    crd.setdefault("metadata", {}).setdefault("labels", {}).update(PART_OF)
    return crd


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(PART_OF)}
    if namespace is not None:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


def namespace(setup: ClusterSetup) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(setup.namespace)}


def worker_service_account(setup: ClusterSetup) -> dict[str, Any]:
    """The worker's identity in the cluster, bound to the managed identity by the federated credential."""
    annotations = {WI_CLIENT_ID_ANNOTATION: setup.client_id, WI_TENANT_ID_ANNOTATION: setup.tenant_id}
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(setup.worker_service_account, setup.namespace, annotations=annotations),
    }


def controller_service_account(setup: ClusterSetup) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(setup.controller_service_account, setup.namespace),
    }


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


READ = ["get", "list", "watch"]
EVENTS_RULE = _rule(["", "events.k8s.io"], ["events"], ["create", "patch"])


def worker_role() -> dict[str, Any]:
    """The worker's rights on namespaced objects (bound cluster-wide, or per workspace namespace)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(WORKER),
        "rules": [
            _rule([API_GROUP], [PLURAL], ["get", "list", "watch", "create", "delete"]),
            _rule([API_GROUP], [f"{PLURAL}/status"], ["get", "patch", "update"]),
            _rule(
                ["apps"], ["statefulsets"], ["get", "list", "watch", "create", "patch", "update", "delete"]
            ),
            _rule(["apps"], ["statefulsets/scale"], ["get", "patch", "update"]),
            _rule([""], ["services"], ["get", "list", "create", "patch", "update", "delete"]),
            # Health checks go through the apiserver's service proxy (GET and POST); the scale-to-zero
            # sweep reads each inference pod's /metrics through the pod proxy (GET).
            _rule([""], ["services/proxy"], ["get", "create"]),
            _rule([""], ["pods"], READ),
            _rule([""], ["pods/proxy"], ["get"]),
            EVENTS_RULE,
        ],
    }


def worker_cluster_role() -> dict[str, Any]:
    """Always cluster-wide, read only: Nodes (the Ready GPU nodes of a workspace) and the list of all
    Workspaces (the scale-to-zero sweep looks at every one)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(WORKER_CLUSTER),
        "rules": [_rule([""], ["nodes"], READ), _rule([API_GROUP], [PLURAL], READ)],
    }


def controller_role() -> dict[str, Any]:
    """kopf, cluster-wide and standalone: watch Workspaces (finalizer and annotations by patch),
    Nodes and StatefulSets; post Events."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(CONTROLLER),
        "rules": [
            _rule([API_GROUP], [PLURAL], ["get", "list", "watch", "patch", "update"]),
            _rule([""], ["nodes"], ["get", "list", "watch"]),
            _rule(["apps"], ["statefulsets"], ["get", "list", "watch"]),
            EVENTS_RULE,
        ],
    }


def _subject(setup: ClusterSetup, account: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": account, "namespace": setup.namespace}


def _cluster_binding(name: str, role: str, subject: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _meta(name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [subject],
    }


def _namespace_binding(name: str, in_namespace: str, role: str, subject: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(name, in_namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [subject],
    }


def bindings(setup: ClusterSetup) -> list[dict[str, Any]]:
    """The worker's namespaced rights cluster-wide, or only in `workspace_namespaces` when given."""
    worker = _subject(setup, setup.worker_service_account)
    out = [
        _cluster_binding(WORKER_CLUSTER, WORKER_CLUSTER, worker),
        _cluster_binding(CONTROLLER, CONTROLLER, _subject(setup, setup.controller_service_account)),
    ]
    if setup.workspace_namespaces is None:
        out.append(_cluster_binding(WORKER, WORKER, worker))
    else:
        out.extend(_namespace_binding(WORKER, ns, WORKER, worker) for ns in setup.workspace_namespaces)
    return out


def access_manifests(setup: ClusterSetup) -> list[dict[str, Any]]:
    """Namespace, service accounts, roles and bindings, in the order they must be applied."""
    return [
        namespace(setup),
        worker_service_account(setup),
        controller_service_account(setup),
        worker_role(),
        worker_cluster_role(),
        controller_role(),
        *bindings(setup),
    ]


def _common_env(setup: ClusterSetup, defaults: ComponentDefaults) -> list[dict[str, Any]]:
    return [
        {"name": "KAITO_TEMPORAL_ADDRESS", "value": defaults.temporal_address},
        {"name": "KAITO_TEMPORAL_NAMESPACE", "value": defaults.temporal_namespace},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
    ]


def _container(
    name: str, setup: ClusterSetup, defaults: ComponentDefaults, module: str, env: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "name": name,
        "image": setup.image or defaults.image,
        "command": ["python", "-m", module],
        "env": [*_common_env(setup, defaults), *env],
        "envFrom": [{"secretRef": {"name": defaults.temporal_secret, "optional": True}}],
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def _deployment(
    name: str,
    setup: ClusterSetup,
    replicas: int,
    account: str,
    container: dict[str, Any],
    *,
    pod_labels: dict[str, str] | None = None,
    grace_seconds: int = 30,
) -> dict[str, Any]:
    selector = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, setup.namespace),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": {**selector, **PART_OF, **(pod_labels or {})}},
                "spec": {
                    "serviceAccountName": account,
                    "terminationGracePeriodSeconds": grace_seconds,
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def worker_deployment(setup: ClusterSetup, defaults: ComponentDefaults) -> dict[str, Any]:
    """The provisioning worker: workload identity (no secret), the cluster it manages, a graceful stop
    shorter than the pod's grace period so running activities finish on a rollout."""
    env = [
        {"name": "KAITO_SUBSCRIPTION_ID", "value": setup.subscription_id},
        {"name": "KAITO_RESOURCE_GROUP", "value": setup.resource_group},
        {"name": "KAITO_CLUSTER_NAME", "value": setup.cluster_name},
        {"name": "KAITO_LOCATION", "value": setup.location},
        {"name": "KAITO_GRACEFUL_SHUTDOWN", "value": "PT60S"},
        # Only the workload identity: DefaultAzureCredential must never fall through to IMDS.
        {"name": "AZURE_TOKEN_CREDENTIALS", "value": "WorkloadIdentityCredential"},
    ]
    return _deployment(
        WORKER,
        setup,
        setup.worker_replicas,
        setup.worker_service_account,
        _container("worker", setup, defaults, "worker", env),
        pod_labels={WI_USE_LABEL: "true"},
        grace_seconds=90,
    )


def controller_deployment(setup: ClusterSetup, defaults: ComponentDefaults) -> dict[str, Any]:
    """The kopf controllers: Workspace → workflow, node/workload readiness → signals; no Azure access."""
    env = [{"name": "KAITO_CONTROLLER_LIVENESS", "value": f"http://0.0.0.0:{CONTROLLER_PROBE_PORT}/healthz"}]
    container = _container("controllers", setup, defaults, "controllers", env)
    container["ports"] = [{"name": "health", "containerPort": CONTROLLER_PROBE_PORT}]
    container["livenessProbe"] = {
        "httpGet": {"path": "/healthz", "port": "health"},
        "periodSeconds": 20,
        "failureThreshold": 3,
    }
    return _deployment(
        CONTROLLER, setup, setup.controller_replicas, setup.controller_service_account, container
    )


def component_manifests(setup: ClusterSetup, defaults: ComponentDefaults) -> list[dict[str, Any]]:
    return [worker_deployment(setup, defaults), controller_deployment(setup, defaults)]


def object_name(body: dict[str, Any]) -> str:
    meta = body["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{body['kind']}/{where}{meta['name']}"


# ---- applying -------------------------------------------------------------------------------------


def _kube_error(err: BaseException, doing: str) -> ApplicationError:
    """409/429/5xx, no answer, and an API the apiserver does not serve yet retry; 401/403/422 are final."""
    if isinstance(err, ApiException):
        status = int(err.status or 0)
        retry = status in (0, 404, 409, 429) or status >= 500
        detail = _reason(err)
        return ApplicationError(
            f"{doing}: HTTP {status} {detail}", type=f"Kubernetes{status}", non_retryable=not retry
        )
    return ApplicationError(f"{doing}: {type(err).__name__}: {err}", type=type(err).__name__)


def _reason(err: ApiException) -> str:
    try:
        message = json.loads(err.body or "{}").get("message")
    except (TypeError, ValueError):
        message = None
    return str(message or err.reason or "")


KUBE_FAILURES: tuple[type[BaseException], ...] = (ApiException, KindNotFound, TransportError, OSError)


async def _call(doing: str, fn: Callable[[], T]) -> T:
    try:
        return await asyncio.to_thread(fn)
    except KUBE_FAILURES as err:
        raise _kube_error(err, doing) from None


def _resource_version(obj: Any) -> str | None:
    return None if obj is None else str(obj.metadata.resourceVersion)


def apply_one(dynamic: DynamicClient, body: dict[str, Any]) -> tuple[str | None, str | None]:
    """Server-side apply one body (blocking): its resourceVersion before (None: absent) and after."""
    resource = dynamic.resources.get(api_version=body["apiVersion"], kind=body["kind"])
    namespace_ = body["metadata"].get("namespace")
    try:
        before = _resource_version(resource.get(name=body["metadata"]["name"], namespace=namespace_))
    except NotFoundError:
        before = None
    applied = resource.server_side_apply(
        body=body, namespace=namespace_, field_manager=FIELD_MANAGER, force_conflicts=True
    )
    return before, _resource_version(applied)


async def apply_objects(api: ApiClient, bodies: list[dict[str, Any]], doing: str) -> AppliedObjects:
    """Apply each body in order; report which ones this call created or changed."""
    dynamic = await _call(f"{doing}: discover the API", lambda: DynamicClient(api))
    result = AppliedObjects()
    for body in bodies:
        name = object_name(body)
        before, after = await _call(f"{doing}: {name}", partial(apply_one, dynamic, body))
        result.applied.append(name)
        if before is None:
            result.created.append(name)
        elif before != after:
            result.changed.append(name)
        heartbeat(f"applied {name}")
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
        response = await _call(
            doing, partial(wellknown.get_service_account_issuer_open_id_configuration, _preload_content=False)
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
        """Apply the Workspace CRD and wait until the apiserver serves it (Established)."""
        applied = await apply_objects(self._api, [workspace_crd()], "apply the Workspace CRD")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not await _call("read the Workspace CRD", lambda: crd_established(self._api)):
            if loop.time() > deadline:
                raise ApplicationError(f"{CRD_NAME} is not Established after 60s", type="CrdNotEstablished")
            heartbeat(f"waiting for {CRD_NAME} to be Established")
            await asyncio.sleep(self._poll)
        return applied

    @activity.defn(name=BootstrapActivity.APPLY_ACCESS)
    async def apply_identity_and_rbac(self, setup: ClusterSetup) -> AppliedObjects:
        doing = f"apply namespace {setup.namespace}, service accounts and RBAC"
        return await apply_objects(self._api, access_manifests(setup), doing)

    @activity.defn(name=BootstrapActivity.APPLY_COMPONENTS)
    async def apply_components(self, setup: ClusterSetup) -> AppliedObjects:
        bodies = component_manifests(setup, self._defaults)
        return await apply_objects(self._api, bodies, "apply the worker and controller Deployments")
