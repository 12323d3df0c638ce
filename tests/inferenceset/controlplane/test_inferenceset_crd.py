"""The InferenceSet CRD on a real apiserver: KAITO's example manifests apply unchanged (both versions),
`replicas` defaults to 1 and refuses -1, `kubectl scale` works through the scale subresource (its
selector from status), and `kubectl get inferenceset` shows KAITO's columns."""

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from activities.cluster_manifests import crds
from localcloud.controlplane import REPO_ROOT, ControlPlane
from tests.inferenceset.conftest import INFERENCESET_EXAMPLES, kaito_inferenceset
from tests.waiting import wait_for

pytestmark = pytest.mark.controlplane

CRD = REPO_ROOT / "deploy" / "crds" / "inferenceset.kaito.sh.yaml"
NAME = "inferencesets.kaito.sh"


def filled_in(example: Path) -> str:
    """The example as a user applies it: the one placeholder KAITO leaves, the HF token, filled in."""
    token = base64.b64encode(b"hf_not_a_real_token").decode()
    return example.read_text().replace("<base64-encoded-huggingface-token>", token)


@pytest.fixture(scope="module")
def inferenceset_crd(control_plane: ControlPlane, api_client: Any) -> Iterator[None]:
    control_plane.kubectl("apply", "-f", str(CRD))
    ext: Any = client.ApiextensionsV1Api(api_client)

    def established() -> bool:
        conditions = ext.read_custom_resource_definition(NAME).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_for(established, timeout=30, what="the InferenceSet CRD Established")
    yield


def test_the_bootstrap_installs_it_beside_the_workspace_crd() -> None:
    names = [crd["metadata"]["name"] for crd in crds()]
    assert names[0] == "workspaces.kaito.sh" and NAME in names


def test_names_versions_and_the_scale_subresource(api_client: Any, inferenceset_crd: None) -> None:
    crd: Any = client.ApiextensionsV1Api(api_client).read_custom_resource_definition(NAME)
    assert crd.spec.names.kind == "InferenceSet" and sorted(crd.spec.names.short_names) == ["is", "isets"]
    assert crd.spec.names.categories == ["inferenceset"]
    versions = {v.name: (v.served, v.storage) for v in crd.spec.versions}
    assert versions == {"v1alpha1": (True, False), "v1beta1": (True, True)}
    for version in crd.spec.versions:
        scale = version.subresources.scale
        assert (scale.spec_replicas_path, scale.status_replicas_path, scale.label_selector_path) == (
            ".spec.replicas", ".status.replicas", ".status.selector"
        )  # fmt: skip
        columns = [(c.name, c.type, c.json_path) for c in version.additional_printer_columns]
        assert columns == [
            ("Replicas", "integer", ".spec.replicas"),
            ("ReadyReplicas", "integer", ".status.readyReplicas"),
            ("Age", "date", ".metadata.creationTimestamp"),
        ]


@pytest.mark.parametrize("example", INFERENCESET_EXAMPLES, ids=lambda p: Path(p).name)
def test_kaito_example_applies_unchanged(
    control_plane: ControlPlane, inferenceset_crd: None, namespace: str, example: Path
) -> None:
    text = filled_in(example)
    done = control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=text, check=False)
    # Some examples name the default namespace; kubectl refuses -n against it, so apply them as they are.
    if done.returncode != 0 and "does not match the namespace" in done.stderr:
        done = control_plane.kubectl("apply", "-f", "-", input=text, check=False)
        namespace = "default"
    assert done.returncode == 0, done.stderr
    name = kaito_inferenceset(example.name)["metadata"]["name"]
    shown = json.loads(
        control_plane.kubectl("get", "inferenceset", name, "-n", namespace, "-o", "json").stdout
    )
    assert shown["spec"]["replicas"] >= 1 and shown["spec"]["template"]["inference"]["preset"]["name"]
    control_plane.kubectl("delete", "inferenceset", name, "-n", namespace, "--wait=false")


def test_replicas_default_to_one_and_refuse_negatives(
    control_plane: ControlPlane, api_client: Any, inferenceset_crd: None, namespace: str
) -> None:
    custom: Any = client.CustomObjectsApi(api_client)
    manifest = kaito_inferenceset("kaito_inferenceset_phi_4_mini.yaml")
    manifest["metadata"] = {"name": "defaults"}
    del manifest["spec"]["replicas"]
    created = custom.create_namespaced_custom_object(
        "kaito.sh", "v1alpha1", namespace, "inferencesets", manifest
    )
    assert created["spec"]["replicas"] == 1
    manifest["metadata"] = {"name": "negative"}
    manifest["spec"]["replicas"] = -1
    with pytest.raises(ApiException) as refused:
        custom.create_namespaced_custom_object("kaito.sh", "v1alpha1", namespace, "inferencesets", manifest)
    assert refused.value.status == 422 and "spec.replicas" in str(refused.value.body)


def test_kubectl_scale_and_the_columns(
    control_plane: ControlPlane, api_client: Any, inferenceset_crd: None, namespace: str
) -> None:
    custom: Any = client.CustomObjectsApi(api_client)
    manifest = kaito_inferenceset("kaito_inferenceset_phi_4_mini.yaml")
    manifest["metadata"] = {"name": "scaled"}
    manifest["spec"]["replicas"] = 2
    custom.create_namespaced_custom_object("kaito.sh", "v1alpha1", namespace, "inferencesets", manifest)
    status = {"replicas": 2, "readyReplicas": 1, "selector": "inferenceset.kaito.sh/created-by=scaled"}
    custom.patch_namespaced_custom_object_status(
        "kaito.sh", "v1beta1", namespace, "inferencesets", "scaled", {"status": status}
    )
    table = control_plane.kubectl("get", "isets", "scaled", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "REPLICAS", "READYREPLICAS", "AGE"]
    assert table[1].split()[:3] == ["scaled", "2", "1"]

    control_plane.kubectl("scale", "inferenceset", "scaled", "-n", namespace, "--replicas=0")
    scale = custom.get_namespaced_custom_object_scale(
        "kaito.sh", "v1alpha1", namespace, "inferencesets", "scaled"
    )
    assert scale["spec"].get("replicas", 0) == 0  # the Scale object omits a zero
    shown = custom.get_namespaced_custom_object("kaito.sh", "v1beta1", namespace, "inferencesets", "scaled")
    assert shown["spec"]["replicas"] == 0
    assert scale["status"] == {"replicas": 2, "selector": "inferenceset.kaito.sh/created-by=scaled"}
    control_plane.kubectl("scale", "is", "scaled", "-n", namespace, "--replicas=3", "--current-replicas=0")
    shown = custom.get_namespaced_custom_object("kaito.sh", "v1beta1", namespace, "inferencesets", "scaled")
    assert shown["spec"]["replicas"] == 3
