"""charts/kaito-temporal: generated from the bootstrap's builders, linted and rendered by the Go-built helm,
applied to the real control plane, and its RBAC checked with the service accounts' own tokens."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as kube_client

from activities import cluster_manifests as cm
from controllers.leadership import Elector, LeaseTimings
from localcloud.controlplane import ControlPlane
from tests.conftest import ROOT
from workflows.bootstrap_contracts import ClusterSetup

CHART = ROOT / "charts" / "kaito-temporal"
MODES = {
    "local": [],
    "mtls": ["--set", "temporal.mode=mtls", "--set", "temporal.mtls.serverName=temporal.example"],
    "cloud": ["--set", "temporal.mode=cloud", "--set", "temporal.address=ns.a1b2c.tmprl.cloud:7233"],
}


def generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate_chart", ROOT / "scripts" / "generate_chart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(helm: Path, *args: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(helm), "template", "kaito", str(CHART), "--include-crds", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def key(body: dict[str, Any]) -> str:
    meta = body["metadata"]
    return "/".join(part for part in (body["kind"], meta.get("namespace"), meta["name"]) if part)


def test_the_committed_chart_is_what_the_builders_generate() -> None:
    assert generator().differences() == [], "run: .venv/bin/python scripts/generate_chart.py"


@pytest.mark.parametrize("mode", sorted(MODES))
def test_helm_lints_and_renders_every_temporal_mode(helm: Path, mode: str) -> None:
    lint = subprocess.run(
        [str(helm), "lint", "--strict", str(CHART), *MODES[mode]], capture_output=True, text=True, timeout=120
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    rendered = {key(b): b for b in render(helm, *MODES[mode])}
    worker = rendered["Deployment/kaito-system/kaito-worker"]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in worker["containers"][0]["env"]}
    if mode == "mtls":
        assert env["KAITO_TEMPORAL_TLS_CLIENT_CERT"]["value"] == "/etc/kaito/temporal-tls/tls.crt"
        assert env["KAITO_TEMPORAL_TLS_SERVER_NAME"]["value"] == "temporal.example"
        assert {"name": "temporal-tls", "secret": {"secretName": "kaito-temporal-tls"}} in worker["volumes"]
    elif mode == "cloud":
        assert env["KAITO_TEMPORAL_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "kaito-temporal-cloud"
        assert env["KAITO_TEMPORAL_TLS"]["value"] == "true"
    else:
        assert not any(name.startswith("KAITO_TEMPORAL_TLS") for name in env)


def _values(setup: ClusterSetup, defaults: cm.ComponentDefaults) -> list[str]:
    pairs = {
        "namespace.name": setup.namespace, "image": setup.image or defaults.image,
        "azure.subscriptionId": setup.subscription_id, "azure.resourceGroup": setup.resource_group,
        "azure.clusterName": setup.cluster_name, "workloadIdentity.clientId": setup.client_id,
        "workloadIdentity.tenantId": setup.tenant_id, "worker.replicas": str(setup.worker_replicas),
        "controller.replicas": str(setup.controller_replicas), "temporal.address": defaults.temporal_address,
        "temporal.namespace": defaults.temporal_namespace,
    }  # fmt: skip
    args = [arg for k, v in pairs.items() for arg in ("--set-string" if k != "worker.replicas" and
            k != "controller.replicas" else "--set", f"{k}={v}")]  # fmt: skip
    if setup.workspace_namespaces:
        args += ["--set", f"rbac.workspaceNamespaces={{{','.join(setup.workspace_namespaces)}}}"]
    return args


@pytest.mark.parametrize("narrow", [False, True], ids=["cluster-wide", "per-namespace"])
def test_the_chart_renders_exactly_what_the_bootstrap_applies(helm: Path, narrow: bool) -> None:
    setup = ClusterSetup(
        subscription_id="0000-sub", resource_group="rg-kaito", cluster_name="aks-kaito", location="westus3",
        namespace="kaito-ops", worker_service_account="kaito-worker",
        controller_service_account="kaito-controller",
        client_id="11111111-2222-3333-4444-555555555555", tenant_id="66666666-7777-8888-9999-000000000000",
        image="registry.example/kaito-temporal:9.9.9", worker_replicas=3, controller_replicas=2,
        workspace_namespaces=["team-a", "team-b"] if narrow else None,
    )  # fmt: skip
    defaults = cm.ComponentDefaults(temporal_address="temporal.example:7233", temporal_namespace="prod")
    bootstrap = [
        *cm.crds(), *cm.access_manifests(setup),
        *cm.component_manifests(setup, defaults), *cm.service_manifests(setup),
    ]  # fmt: skip
    chart = render(helm, *_values(setup, defaults))
    assert {key(b): b for b in chart} == {key(b): b for b in bootstrap}, "one source: the same objects"


def kubectl_as(cp: ControlPlane, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert cp.bin_dir is not None
    return subprocess.run(
        [str(cp.bin_dir / "kubectl"), "--kubeconfig=/dev/null", f"--server={cp.apiserver_url}",
         f"--certificate-authority={cp.ca_cert}", f"--token={token}", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def can(cp: ControlPlane, token: str, verb: str, resource: str, namespace: str | None = None) -> bool:
    """A SelfSubjectAccessReview as the token's own identity (`kubectl auth can-i`)."""
    scope = ["-n", namespace] if namespace else ["--all-namespaces"]
    resource, _, subresource = resource.partition("/")
    sub = [f"--subresource={subresource}"] if subresource else []
    done = kubectl_as(cp, token, "auth", "can-i", verb, resource, *sub, *scope)
    assert done.stdout.strip() in ("yes", "no"), done.stderr
    return done.stdout.strip() == "yes"


def test_applied_to_the_control_plane_and_rbac_holds_for_the_service_accounts_tokens(
    helm: Path, control_plane: ControlPlane
) -> None:
    cp = control_plane
    ns = f"kt-{os.getpid()}"
    values = ["--set", "namespace.create=false", "--set", f"namespace.name={ns}"]
    values += ["--set-string", "workloadIdentity.clientId=abc"]
    rendered = render(helm, *values)
    release = f"kaito-{os.getpid()}"
    # As an operator installs it: helm itself, into the control plane (adopting objects a bootstrap made).
    installed = subprocess.run(
        [str(helm), "install", release, str(CHART), "-n", ns, "--create-namespace", "--take-ownership",
         "--kubeconfig", str(cp.kubeconfig), *values],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    try:
        assert installed.returncode == 0, installed.stderr
        assert "STATUS: deployed" in installed.stdout
        for body in rendered:  # every object is there, as the apiserver stored it
            where = ["-n", body["metadata"]["namespace"]] if body["metadata"].get("namespace") else []
            cp.kubectl("get", f"{body['kind']}/{body['metadata']['name']}", *where)
        sa = cp.kubectl("get", "serviceaccount", "kaito-worker", "-n", ns, "-o", "yaml").stdout
        assert yaml.safe_load(sa)["metadata"]["annotations"]["azure.workload.identity/client-id"] == "abc"

        # TokenRequest: each service account's own short-lived token.
        worker = cp.kubectl("create", "token", "kaito-worker", "-n", ns, "--duration=10m").stdout.strip()
        controller = cp.kubectl(
            "create", "token", "kaito-controller", "-n", ns, "--duration=10m"
        ).stdout.strip()

        assert kubectl_as(
            cp, worker, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"
        ).stdout == (f"system:serviceaccount:{ns}:kaito-worker")
        allowed = [
            (worker, "create", "workspaces.kaito.sh", "team-x"),
            (worker, "patch", "workspaces.kaito.sh/status", "team-x"),
            (worker, "patch", "statefulsets.apps/scale", "team-x"),
            (worker, "create", "services/proxy", "team-x"),
            (worker, "get", "pods/proxy", "team-x"),
            (worker, "list", "nodes", None),
            (controller, "patch", "workspaces.kaito.sh", "team-x"),
            # a refused manifest gets its WorkspaceSucceeded=False condition from the controller
            (controller, "patch", "workspaces.kaito.sh/status", "team-x"),
            (controller, "patch", "inferencesets.kaito.sh/status", "team-x"),
            (controller, "watch", "pods", "team-x"),  # inference pods' crash loops become signals
            (worker, "get", "configmaps", "team-x"),  # an inference.config ConfigMap is checked
            (controller, "watch", "statefulsets.apps", "team-x"),
            (controller, "create", "leases.coordination.k8s.io", ns),
        ]
        denied = [
            (worker, "get", "secrets", "team-x"),
            (worker, "delete", "nodes", None),
            (worker, "create", "pods", "team-x"),
            (worker, "patch", "workspaces.kaito.sh", "team-x"),
            (worker, "create", "leases.coordination.k8s.io", ns),
            (controller, "create", "statefulsets.apps", "team-x"),
            (controller, "get", "secrets", ns),
            (controller, "patch", "pods", "team-x"),
            (worker, "create", "configmaps", "team-x"),
            (controller, "delete", "workspaces.kaito.sh", "team-x"),
            (controller, "create", "leases.coordination.k8s.io", "default"),
        ]
        assert [a[1:] for a in allowed if not can(cp, *a[:3], a[3])] == [], "rights the components need"
        assert [d[1:] for d in denied if can(cp, *d[:3], d[3])] == [], "rights they must not have"

        # Real calls with the tokens: the worker reads nodes, never secrets; the controllers take their Lease.
        assert kubectl_as(cp, worker, "get", "nodes", "-o", "name").returncode == 0
        forbidden = kubectl_as(cp, worker, "get", "secrets", "-n", ns)
        assert forbidden.returncode != 0 and "Forbidden" in forbidden.stderr
        api = kube_client.ApiClient(_token_config(cp, controller))
        try:
            leader = Elector(api, ns, "controller-a", timings=LeaseTimings(duration=30))
            assert leader.try_acquire_or_renew() and leader.try_acquire_or_renew(), "create, then renew"
            other = Elector(api, ns, "controller-b", name="some-other-lease")
            with pytest.raises(kube_client.ApiException) as refused:
                other._api.read_namespaced_lease("kaito-controller-x", ns)
            assert refused.value.status == 403, "only its own Lease can be read"
            leader.release()
        finally:
            api.close()
    finally:
        subprocess.run(
            [str(helm), "uninstall", release, "-n", ns, "--kubeconfig", str(cp.kubeconfig)],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        cp.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


def _token_config(cp: ControlPlane, token: str) -> kube_client.Configuration:
    config = kube_client.Configuration()
    config.host = cp.apiserver_url
    config.ssl_ca_cert = str(cp.ca_cert)
    config.api_key = {"authorization": f"Bearer {token}"}
    return config


def test_generator_check_fails_on_a_hand_edit(tmp_path: Path) -> None:
    module = generator()
    module.CHART = tmp_path / "kaito-temporal"
    for name, text in module.files().items():
        (module.CHART / name).parent.mkdir(parents=True, exist_ok=True)
        (module.CHART / name).write_text(text)
    assert module.differences() == []
    deployments = module.CHART / "templates" / "deployments.yaml"
    deployments.write_text(deployments.read_text().replace("periodSeconds: 20", "periodSeconds: 21"))
    assert module.differences() == ["templates/deployments.yaml: differs from the generator's output"]
