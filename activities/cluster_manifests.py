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
  controllers: Workspaces watch and patch (finalizer, annotations), Nodes and StatefulSets watch, Events,
  and their one leader-election Lease in their own namespace (two replicas, one active:
  `controllers.leadership`). Temporal workers need no leader election;
* the worker and controller Deployments (probes, resources, a PodDisruptionBudget each) and the worker's
  metrics Service;
* the wake gateway: one Deployment (and its Service and PodDisruptionBudget) that a suspended workspace's
  Service routes to; its service account may only use the service proxy (to forward a held request to
  the model once woken), and the worker may write Endpoints and EndpointSlices (the routing) and read
  the gateway's pods; worker pods carry `azure.workload.identity/use: "true"`, so the
  webhook projects a service-account token (audience api://AzureADTokenExchange) and sets
  AZURE_CLIENT_ID / AZURE_TENANT_ID / AZURE_FEDERATED_TOKEN_FILE / AZURE_AUTHORITY_HOST for
  `DefaultAzureCredential`. The worker holds no secret.

The Helm chart `charts/kaito-temporal` is generated from these functions (`scripts/generate_chart.py`;
a test keeps the committed chart equal to its output), so the bootstrap and the chart install the same.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from connections.temporal import TemporalSettings
from workflows.bootstrap_contracts import (
    WI_CLIENT_ID_ANNOTATION,
    WI_TENANT_ID_ANNOTATION,
    WI_USE_LABEL,
    ClusterSetup,
)
from workflows.workspace_contracts import WAKE_GATEWAY_APP, WAKE_GATEWAY_PORT
from workflows.workspace_spec import API_GROUP, PLURAL

# Who applies these objects: their `app.kubernetes.io/managed-by` label and the server-side-apply field
# manager of the bootstrap.
FIELD_MANAGER = "kaito-bootstrap"
CRD_DIR = Path(__file__).resolve().parent.parent / "deploy" / "crds"
CRD_FILE = CRD_DIR / "workspace.kaito.sh.yaml"
CRD_NAME = f"{PLURAL}.{API_GROUP}"
PART_OF = {"app.kubernetes.io/part-of": "kaito-temporal", "app.kubernetes.io/managed-by": FIELD_MANAGER}
WORKER = "kaito-worker"
CONTROLLER = "kaito-controller"
WORKER_CLUSTER = "kaito-worker-cluster"
GATEWAY = WAKE_GATEWAY_APP  # its Deployment, Service, service account and ClusterRole
GATEWAY_PODS_ROLE = "kaito-worker-gateway-pods"
CONTROLLER_PROBE_PORT = 8080
WORKER_METRICS_PORT = 9464
LEADER_LEASE = "kaito-controller"  # controllers.leadership.LEASE_NAME
LEADER_ROLE = "kaito-controller-leader"
RBAC = "rbac.authorization.k8s.io"
LEASES_GROUP = "coordination.k8s.io"
TEMPORAL_TLS_MOUNT = "/etc/kaito/temporal-tls"

TemporalMode = Literal["local", "mtls", "cloud"]


def temporal_variable(field_name: str) -> str:
    """The environment variable `connections.temporal.TemporalSettings` reads for one of its fields."""
    if field_name not in TemporalSettings.model_fields:
        raise KeyError(f"TemporalSettings has no field {field_name!r}")
    return f"{TemporalSettings.model_config.get('env_prefix', '')}{field_name}".upper()


@dataclass(frozen=True)
class TemporalConnection:
    """How the in-cluster components reach Temporal: a plain in-cluster frontend (`local`), a
    self-hosted cluster with mutual TLS (`mtls`: a kubernetes.io/tls Secret, with `ca.crt` for a private
    CA), or Temporal Cloud with an API key (`cloud`: a Secret key holding it)."""

    mode: TemporalMode = "local"
    tls_secret: str = "kaito-temporal-tls"
    server_name: str = ""
    api_key_secret: str = "kaito-temporal-cloud"
    api_key_key: str = "api-key"


@dataclass(frozen=True)
class ComponentDefaults:
    """What the bootstrap worker's settings say about the in-cluster components."""

    image: str = "kaito-temporal:0.1.0"
    temporal_address: str = "temporal-frontend.temporal.svc.cluster.local:7233"
    temporal_namespace: str = "default"
    # Optional Secret whose keys become env vars (KAITO_TEMPORAL_API_KEY, TLS paths, ...).
    temporal_secret: str = "kaito-temporal"
    temporal: TemporalConnection = field(default_factory=TemporalConnection)


def crds() -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in deploy/crds, the Workspace's first, labelled as ours."""
    found = [workspace_crd()]
    for path in sorted(CRD_DIR.glob("*.yaml")):
        if path != CRD_FILE:
            for doc in yaml.safe_load_all(path.read_text()):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    doc.setdefault("metadata", {}).setdefault("labels", {}).update(PART_OF)
                    found.append(doc)
    return found


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
            _rule([API_GROUP], ["inferencesets/status"], ["get", "patch", "update"]),
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
            # A suspended workspace's Service routes to the wake gateway: its Endpoints and EndpointSlice.
            _rule([""], ["endpoints"], ["get", "create", "delete"]),
            _rule(["discovery.k8s.io"], ["endpointslices"], ["get", "create", "delete"]),
            # A workspace's inference.config ConfigMap, read as KAITO's admission reads it.
            _rule([""], ["configmaps"], ["get"]),
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
            _rule([API_GROUP], ["inferencesets"], ["get", "list", "watch", "patch", "update"]),
            # A refused manifest gets its status (the validation message) from the controller.
            _rule([API_GROUP], [f"{PLURAL}/status", "inferencesets/status"], ["get", "patch"]),
            # kopf watches CRDs to learn which versions of the resources it handles are served.
            _rule(["apiextensions.k8s.io"], ["customresourcedefinitions"], READ),
            _rule([""], ["nodes"], READ),
            _rule(["apps"], ["statefulsets"], READ),
            _rule([""], ["pods"], READ),  # an inference pod's crash loop or OOM kill reaches the status
            EVENTS_RULE,
        ],
    )


def gateway_service_account(setup: ClusterSetup) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(GATEWAY, setup.namespace)}


def gateway_role() -> dict[str, Any]:
    """The wake gateway forwards a held request to the model through the service proxy, and keeps the
    routed Services' endpoints on its running pods (the code patches ours only, found by label; RBAC lets
    it neither create nor delete any)."""
    return _cluster_role(
        GATEWAY,
        [
            _rule([""], ["services/proxy"], ["get", "create"]),
            _rule([""], ["endpoints"], ["get", "patch"]),
            _rule(["discovery.k8s.io"], ["endpointslices"], ["list", "patch"]),
        ],
    )


def gateway_pods_role(setup: ClusterSetup) -> dict[str, Any]:
    """The worker and the gateway read the gateway's pods (their IPs are a suspended Service's endpoints),
    in the system namespace only: with `workspace_namespaces` set, the worker's rights do not reach there."""
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "Role",
        "metadata": _meta(GATEWAY_PODS_ROLE, setup.namespace),
        "rules": [_rule([""], ["pods"], ["get", "list"])],
    }


def gateway_bindings(setup: ClusterSetup) -> list[dict[str, Any]]:
    pods = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": _meta(GATEWAY_PODS_ROLE, setup.namespace),
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": GATEWAY_PODS_ROLE},
        "subjects": [_subject(setup, setup.worker_service_account), _subject(setup, GATEWAY)],
    }
    return [_binding(GATEWAY, GATEWAY, _subject(setup, GATEWAY)), pods]


def leader_election_role(setup: ClusterSetup) -> dict[str, Any]:
    """The controllers' Lease, in their namespace only: create it, then read and renew that one Lease."""
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "Role",
        "metadata": _meta(LEADER_ROLE, setup.namespace),
        "rules": [
            _rule(["coordination.k8s.io"], ["leases"], ["create"]),
            {
                **_rule(["coordination.k8s.io"], ["leases"], ["get", "update"]),
                "resourceNames": [LEADER_LEASE],
            },
        ],
    }


def leader_election_binding(setup: ClusterSetup) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": _meta(LEADER_ROLE, setup.namespace),
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": LEADER_ROLE},
        "subjects": [_subject(setup, setup.controller_service_account)],
    }


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
        leader_election_role(setup),
        leader_election_binding(setup),
        gateway_service_account(setup),
        gateway_role(),
        gateway_pods_role(setup),
        *gateway_bindings(setup),
    ]


def _common_env(defaults: ComponentDefaults) -> list[dict[str, Any]]:
    """Where both components find Temporal."""
    return [
        {"name": temporal_variable("address"), "value": defaults.temporal_address},
        {"name": temporal_variable("namespace"), "value": defaults.temporal_namespace},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        *temporal_env(defaults.temporal),
    ]


def temporal_env(connection: TemporalConnection) -> list[dict[str, Any]]:
    """The connection mode's settings: TLS files from the mounted Secret, or the Cloud API key."""
    if connection.mode == "mtls":
        env = [
            {"name": temporal_variable("tls_client_cert"), "value": f"{TEMPORAL_TLS_MOUNT}/tls.crt"},
            {"name": temporal_variable("tls_client_key"), "value": f"{TEMPORAL_TLS_MOUNT}/tls.key"},
            {"name": temporal_variable("tls_server_ca"), "value": f"{TEMPORAL_TLS_MOUNT}/ca.crt"},
        ]
        if connection.server_name:
            env.append({"name": temporal_variable("tls_server_name"), "value": connection.server_name})
        return env
    if connection.mode == "cloud":
        key_ref = {"name": connection.api_key_secret, "key": connection.api_key_key}
        return [
            {"name": temporal_variable("tls"), "value": "true"},
            {"name": temporal_variable("api_key"), "valueFrom": {"secretKeyRef": key_ref}},
        ]
    return []


def temporal_volumes(connection: TemporalConnection) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volumeMounts) of the mode: the client certificate Secret for mTLS, else none."""
    if connection.mode != "mtls":
        return [], []
    volume = {"name": "temporal-tls", "secret": {"secretName": connection.tls_secret}}
    return [volume], [{"name": "temporal-tls", "mountPath": TEMPORAL_TLS_MOUNT, "readOnly": True}]


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
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *temporal_volumes(defaults.temporal)[1]],
    }


def _deployment(
    name: str,
    setup: ClusterSetup,
    defaults: ComponentDefaults,
    replicas: int,
    account: str,
    container: dict[str, Any],
    *,
    pod_labels: dict[str, str] | None = None,
    pod_annotations: dict[str, str] | None = None,
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
                "metadata": {
                    "labels": {**selector, **PART_OF, **(pod_labels or {})},
                    "annotations": dict(pod_annotations or {}),
                },
                "spec": {
                    "serviceAccountName": account,
                    "terminationGracePeriodSeconds": grace_seconds,
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}, *temporal_volumes(defaults.temporal)[0]],
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
        # Prometheus (the SDK's metrics and ours) on every interface of the pod, path /metrics.
        {"name": "KAITO_METRICS_ADDRESS", "value": f"0.0.0.0:{WORKER_METRICS_PORT}"},
    ]
    container = _container("worker", setup, defaults, "worker", env)
    container["ports"] = [{"name": "metrics", "containerPort": WORKER_METRICS_PORT}]
    # The SDK runtime serves /metrics from the moment the process has read its settings.
    probe = {"httpGet": {"path": "/metrics", "port": "metrics"}, "periodSeconds": 20, "failureThreshold": 3}
    container["readinessProbe"] = {**probe, "periodSeconds": 10}
    container["livenessProbe"] = probe
    return _deployment(
        WORKER,
        setup,
        defaults,
        setup.worker_replicas,
        setup.worker_service_account,
        container,
        pod_labels={WI_USE_LABEL: "true"},
        pod_annotations={
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(WORKER_METRICS_PORT),
            "prometheus.io/path": "/metrics",
        },
        grace_seconds=90,
    )


def controller_deployment(setup: ClusterSetup, defaults: ComponentDefaults) -> dict[str, Any]:
    """The kopf controllers: Workspace → workflow, node/workload readiness → signals; no Azure access."""
    env = [
        {"name": "KAITO_CONTROLLER_LIVENESS", "value": f"http://0.0.0.0:{CONTROLLER_PROBE_PORT}/healthz"},
        # Two replicas, one active: the standby waits for the Lease (controllers.leadership).
        {"name": "KAITO_CONTROLLER_LEADER_ELECTION", "value": "true"},
        {"name": "KAITO_CONTROLLER_LEASE_NAMESPACE", "value": setup.namespace},
    ]
    container = _container("controllers", setup, defaults, "controllers", env)
    container["ports"] = [{"name": "health", "containerPort": CONTROLLER_PROBE_PORT}]
    container["livenessProbe"] = {
        "httpGet": {"path": "/healthz", "port": "health"},
        "periodSeconds": 20,
        "failureThreshold": 3,
    }
    return _deployment(
        CONTROLLER, setup, defaults, setup.controller_replicas, setup.controller_service_account, container
    )


def gateway_deployment(setup: ClusterSetup, defaults: ComponentDefaults) -> dict[str, Any]:
    """The wake gateway: stateless, so any number of replicas; each holds requests while a workspace wakes."""
    env = [{"name": "KAITO_WAKE_GATEWAY_ADDRESS", "value": f"0.0.0.0:{WAKE_GATEWAY_PORT}"}]
    container = _container("gateway", setup, defaults, "gateway", env)
    container["ports"] = [{"name": "http", "containerPort": WAKE_GATEWAY_PORT}]
    probe = {"httpGet": {"path": "/_wake-gateway/healthz", "port": "http"}, "periodSeconds": 10}
    container["readinessProbe"] = probe
    container["livenessProbe"] = {**probe, "periodSeconds": 20, "failureThreshold": 3}
    # A held request may wait minutes for GPU nodes: a rollout lets the held ones finish first.
    return _deployment(
        GATEWAY, setup, defaults, setup.gateway_replicas, GATEWAY, container, grace_seconds=900
    )


def gateway_service(setup: ClusterSetup) -> dict[str, Any]:
    """The gateway's own Service: how a caller reaches it through the apiserver's service proxy."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(GATEWAY, setup.namespace),
        "spec": {
            "selector": {"app.kubernetes.io/name": GATEWAY},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def disruption_budget(setup: ClusterSetup, name: str) -> dict[str, Any]:
    """At most one pod of the Deployment evicted at a time: a drain proceeds, never empties it at once."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(name, setup.namespace),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}}},
    }


def worker_metrics_service(setup: ClusterSetup) -> dict[str, Any]:
    """The workers' /metrics behind one Service, for a Prometheus scrape config or a ServiceMonitor."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(f"{WORKER}-metrics", setup.namespace),
        "spec": {
            "selector": {"app.kubernetes.io/name": WORKER},
            "ports": [{"name": "metrics", "port": WORKER_METRICS_PORT, "targetPort": "metrics"}],
        },
    }


def component_manifests(setup: ClusterSetup, defaults: ComponentDefaults) -> list[dict[str, Any]]:
    """The three Deployments: worker, controllers, wake gateway."""
    return [
        worker_deployment(setup, defaults),
        controller_deployment(setup, defaults),
        gateway_deployment(setup, defaults),
    ]


def service_manifests(setup: ClusterSetup) -> list[dict[str, Any]]:
    """What the Deployments need beside them: their disruption budgets and the metrics Service."""
    return [
        disruption_budget(setup, WORKER),
        disruption_budget(setup, CONTROLLER),
        disruption_budget(setup, GATEWAY),
        worker_metrics_service(setup),
        gateway_service(setup),
    ]
