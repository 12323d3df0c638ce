"""Least privilege, against the real apiserver and the emulator through the real SDKs:

* the provisioning worker and the controllers reach Kubernetes with their own service-account tokens
  (not the admin kubeconfig), so the bootstrap's RBAC is what every other test exercises;
* neither can read a Secret anywhere, nor touch objects outside the namespaces it was granted;
* the worker's managed identity gets 403 from ARM outside the cluster's scope;
* Entra refuses a token of another service account presented for the worker's identity;
* the inference Service is ClusterIP.
"""

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.identity.aio import ClientAssertionCredential, WorkloadIdentityCredential
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.msi.aio import ManagedServiceIdentityClient
from azure.mgmt.msi.models import Identity

from tests.e2e.conftest import Stack
from tests.security.conftest import (
    CONTROLLER_SA,
    NAMESPACE,
    WORKER_SA,
    WORKSPACE,
    as_component,
    azure_kwargs,
    environment,
    kubeconfig_of,
    kubeconfig_user,
)
from workflows.identity_contracts import TOKEN_EXCHANGE_AUDIENCE

pytestmark = pytest.mark.controlplane


NEVER_FOR_THE_WORKER = [
    ("create", "configmaps"),
    ("create", "pods/exec"),
    ("create", "serviceaccounts/token"),
    ("patch", "nodes"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
]
NEVER_FOR_THE_CONTROLLERS = [
    ("create", "statefulsets.apps"),
    ("patch", "statefulsets.apps"),
    ("create", "services"),
    ("delete", "workspaces.kaito.sh"),
    ("create", "configmaps"),
    ("patch", "nodes"),
    ("create", "pods"),
]


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def whoami(stack: Stack, name: str) -> str:
    done = as_component(stack, name, "auth", "whoami", "-o", "json")
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["status"]["userInfo"]["username"])


@pytest.mark.parametrize(("name", "account"), [("worker", WORKER_SA), ("controllers", CONTROLLER_SA)])
def test_worker_and_controllers_authenticate_as_their_service_accounts(
    stack: Stack, name: str, account: str
) -> None:
    config = kubeconfig_of(stack, name)
    assert config != Path(stack.info.kubeconfig), f"the {name} must not hold the admin kubeconfig"
    user = kubeconfig_user(config)
    assert set(user) == {"tokenFile"}, f"no client certificate, no inline token: {user}"
    token = Path(user["tokenFile"]).read_text().strip()
    assert claims(token)["sub"] == f"system:serviceaccount:{NAMESPACE}:{account}"
    assert whoami(stack, name) == f"system:serviceaccount:{NAMESPACE}:{account}"
    assert not any(k in environment(stack, name) for k in ("AZURE_CLIENT_SECRET", "KUBECONFIG_ADMIN"))


def can(stack: Stack, name: str, verb: str, resource: str, namespace: str | None = None) -> bool:
    """`kubectl auth can-i` asked with the component's own token (a SelfSubjectAccessReview)."""
    scope = ["-n", namespace] if namespace else ["--all-namespaces"]
    done = as_component(stack, name, "auth", "can-i", verb, resource, *scope)
    return bool(done.stdout.strip() == "yes")


@pytest.mark.parametrize("name", ["worker", "controllers"])
def test_no_secret_is_readable_anywhere(stack: Stack, name: str) -> None:
    for verb in ("get", "list", "watch"):
        for namespace in ("default", NAMESPACE, "kube-system", None):
            assert not can(stack, name, verb, "secrets", namespace), (
                f"{name} can {verb} secrets in {namespace}"
            )
    real = as_component(stack, name, "get", "secrets", "-n", "default")
    assert real.returncode != 0 and "forbidden" in real.stderr.lower(), real.stderr


def test_the_worker_touches_workload_objects_only_in_its_workspace_namespace(stack: Stack) -> None:
    for verb, resource in [("patch", "statefulsets.apps"), ("create", "services"), ("delete", "services")]:
        assert can(stack, "worker", verb, resource, "default"), f"the worker needs {verb} {resource}"
        for outside in ("kube-system", NAMESPACE, "other"):
            assert not can(stack, "worker", verb, resource, outside), f"{verb} {resource} in {outside}"
    for verb, resource in NEVER_FOR_THE_WORKER:
        assert not can(stack, "worker", verb, resource, "default"), f"the worker can {verb} {resource}"
    real = as_component(
        stack, "worker", "create", "service", "clusterip", "intruder", "--tcp=80", "-n", "kube-system"
    )
    assert real.returncode != 0 and "forbidden" in real.stderr.lower(), real.stderr


def test_the_controllers_only_watch_and_patch_workspaces(stack: Stack) -> None:
    assert can(stack, "controllers", "patch", "workspaces.kaito.sh", "default")
    for verb, resource in NEVER_FOR_THE_CONTROLLERS:
        for namespace in ("default", "kube-system"):
            assert not can(stack, "controllers", verb, resource, namespace), f"{verb} {resource}"
    real = as_component(
        stack, "controllers", "scale", "statefulset", WORKSPACE, "--replicas=0", "-n", "default"
    )
    assert real.returncode != 0 and "forbidden" in real.stderr.lower(), real.stderr


def _worker_credential(stack: Stack) -> WorkloadIdentityCredential:
    env = environment(stack, "worker")
    credential, _ = azure_kwargs(stack)
    return WorkloadIdentityCredential(
        tenant_id=env["AZURE_TENANT_ID"], client_id=env["AZURE_CLIENT_ID"],
        token_file_path=env["AZURE_FEDERATED_TOKEN_FILE"], **credential,
    )  # fmt: skip


async def test_the_worker_identity_gets_403_from_arm_outside_the_cluster(stack: Stack) -> None:
    _, client = azure_kwargs(stack)
    subscription = environment(stack, "worker")["KAITO_SUBSCRIPTION_ID"]
    rg = environment(stack, "worker")["KAITO_RESOURCE_GROUP"]
    cluster = environment(stack, "worker")["KAITO_CLUSTER_NAME"]
    async with _worker_credential(stack) as credential:
        async with ContainerServiceClient(credential, subscription, **client) as aks:
            pools = [p.name async for p in aks.agent_pools.list(rg, cluster)]  # inside its scope: allowed
            assert pools, "the worker reads its own cluster's pools"
            for outside in (
                lambda: aks.managed_clusters.get(rg, "another-cluster"),
                lambda: aks.agent_pools.get("another-rg", cluster, "gpu"),
            ):
                with pytest.raises(HttpResponseError) as refused:
                    await outside()
                assert refused.value.status_code == 403, refused.value
                assert refused.value.error is not None and refused.value.error.code == "AuthorizationFailed"
        async with ManagedServiceIdentityClient(credential, subscription, **client) as msi:
            with pytest.raises(HttpResponseError) as refused:
                await msi.user_assigned_identities.create_or_update(
                    rg, "escalate", Identity(location="eastus")
                )
            assert refused.value.status_code == 403, "no identity of its own making"


async def test_entra_refuses_a_token_of_another_service_account(stack: Stack) -> None:
    """The controllers' service-account token, presented for the worker's managed identity: no match."""
    env = environment(stack, "worker")
    other = stack.kubectl(
        "create", "token", CONTROLLER_SA, "-n", NAMESPACE, f"--audience={TOKEN_EXCHANGE_AUDIENCE}"
    ).stdout.strip()
    assert claims(other)["sub"] == f"system:serviceaccount:{NAMESPACE}:{CONTROLLER_SA}"
    credential_kwargs, _ = azure_kwargs(stack)

    async with ClientAssertionCredential(
        env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], lambda: other, **credential_kwargs
    ) as credential:
        with pytest.raises(ClientAuthenticationError) as refused:
            await credential.get_token("https://management.azure.com/.default")
    assert "AADSTS70021" in str(refused.value), refused.value
    assert other not in str(refused.value), "the refusal does not echo the assertion"


def test_the_inference_service_is_cluster_ip(stack: Stack) -> None:
    service = json.loads(stack.kubectl("get", "service", WORKSPACE, "-n", "default", "-o", "json").stdout)
    assert service["spec"]["type"] == "ClusterIP"
    assert not service["spec"].get("externalIPs") and "nodePort" not in service["spec"]["ports"][0]
