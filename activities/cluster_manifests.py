"""What kaito-temporal installs in a cluster, as pure functions of a `ClusterSetup`.

Pure so that every field is unit-tested without a cluster, and so that the bootstrap's activities
(`activities.cluster_setup`) and any other installer (a Helm chart, say) render the same objects.

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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from workflows.bootstrap_contracts import (
    WI_CLIENT_ID_ANNOTATION,
    WI_TENANT_ID_ANNOTATION,
    WI_USE_LABEL,
    ClusterSetup,
)
from workflows.workspace_spec import API_GROUP, PLURAL

# Who applies these objects: their `app.kubernetes.io/managed-by` label and the server-side-apply field
# manager of the bootstrap.
FIELD_MANAGER = "kaito-bootstrap"
CRD_FILE = Path(__file__).resolve().parent.parent / "deploy" / "crds" / "workspace.kaito.sh.yaml"
CRD_NAME = f"{PLURAL}.{API_GROUP}"
PART_OF = {"app.kubernetes.io/part-of": "kaito-temporal", "app.kubernetes.io/managed-by": FIELD_MANAGER}
WORKER = "kaito-worker"
CONTROLLER = "kaito-controller"
WORKER_CLUSTER = "kaito-worker-cluster"
CONTROLLER_PROBE_PORT = 8080
RBAC = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class ComponentDefaults:
    """What the bootstrap worker's settings say about the in-cluster components."""

    image: str = "kaito-temporal:0.1.0"
    temporal_address: str = "temporal-frontend.temporal.svc.cluster.local:7233"
    temporal_namespace: str = "default"
    # Optional Secret whose keys become env vars (KAITO_TEMPORAL_API_KEY, TLS paths, ...).
    temporal_secret: str = "kaito-temporal"


def workspace_crd() -> dict[str, Any]:
    """The Workspace CRD from deploy/crds (v1alpha1 served, v1beta1 stored)."""
    docs = [d for d in yaml.safe_load_all(CRD_FILE.read_text()) if d]
    crds = [d for d in docs if d.get("kind") == "CustomResourceDefinition"]
    if len(crds) != 1:
        raise ValueError(f"{CRD_FILE} holds {len(crds)} CustomResourceDefinitions; it must hold exactly one")
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


def _cluster_role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": _meta(name), "rules": rules}


def worker_role() -> dict[str, Any]:
    """The worker's rights on namespaced objects (bound cluster-wide, or per workspace namespace)."""
    return _cluster_role(
        WORKER,
        [
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
    )


def worker_cluster_role() -> dict[str, Any]:
    """Always cluster-wide, read only: Nodes (the Ready GPU nodes of a workspace) and the list of all
    Workspaces (the scale-to-zero sweep looks at every one)."""
    return _cluster_role(WORKER_CLUSTER, [_rule([""], ["nodes"], READ), _rule([API_GROUP], [PLURAL], READ)])


def controller_role() -> dict[str, Any]:
    """kopf, cluster-wide and standalone: watch Workspaces (finalizer and annotations by patch),
    Nodes and StatefulSets; post Events."""
    return _cluster_role(
        CONTROLLER,
        [
            _rule([API_GROUP], [PLURAL], ["get", "list", "watch", "patch", "update"]),
            _rule([""], ["nodes"], READ),
            _rule(["apps"], ["statefulsets"], READ),
            _rule([""], ["pods"], READ),  # an inference pod's crash loop or OOM kill reaches the status
            EVENTS_RULE,
        ],
    )


def _subject(setup: ClusterSetup, account: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": account, "namespace": setup.namespace}


def _binding(name: str, role: str, subject: dict[str, str], namespace: str | None = None) -> dict[str, Any]:
    """A binding of a ClusterRole: cluster-wide, or a RoleBinding granting it only in `namespace`."""
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding" if namespace is None else "RoleBinding",
        "metadata": _meta(name, namespace),
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": [subject],
    }


def bindings(setup: ClusterSetup) -> list[dict[str, Any]]:
    """The worker's namespaced rights cluster-wide, or only in `workspace_namespaces` when given."""
    worker = _subject(setup, setup.worker_service_account)
    out = [
        _binding(WORKER_CLUSTER, WORKER_CLUSTER, worker),
        _binding(CONTROLLER, CONTROLLER, _subject(setup, setup.controller_service_account)),
    ]
    if setup.workspace_namespaces is None:
        out.append(_binding(WORKER, WORKER, worker))
    else:
        out.extend(_binding(WORKER, WORKER, worker, ns) for ns in setup.workspace_namespaces)
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


def _common_env(defaults: ComponentDefaults) -> list[dict[str, Any]]:
    """Where both components find Temporal."""
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
        "env": [*_common_env(defaults), *env],
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
