"""The Workspace CRD on a real apiserver: KAITO manifests apply unchanged, bad types are refused,
and `kubectl get workspace` shows KAITO's columns."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client import ApiException

from localcloud.controlplane import REPO_ROOT, ControlPlane
from tests.waiting import wait_for

pytestmark = pytest.mark.controlplane

CRD = REPO_ROOT / "deploy" / "crds" / "workspace.kaito.sh.yaml"
EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.yaml"))
V1BETA1_COLUMNS = [
    "NAME", "INSTANCE", "RESOURCEREADY", "INFERENCEREADY", "JOBSTARTED", "WORKSPACESUCCEEDED",
    "TARGETNODECOUNT", "STATE", "AGE",
]  # fmt: skip


@pytest.fixture(scope="module")
def workspace_crd(control_plane: ControlPlane, api_client: Any) -> Iterator[None]:
    control_plane.kubectl("apply", "-f", str(CRD))
    ext: Any = client.ApiextensionsV1Api(api_client)

    def established() -> bool:
        conds = ext.read_custom_resource_definition("workspaces.kaito.sh").status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conds)

    wait_for(established, timeout=30, what="CRD Established")
    yield


@pytest.fixture
def custom(api_client: Any, workspace_crd: None) -> Any:
    return client.CustomObjectsApi(api_client)


def _workspace(name: str, **resource: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": name},
        "resource": {"instanceType": "Standard_NC12s_v3", "labelSelector": {"matchLabels": {"apps": name}}}
        | resource,
        "inference": {"preset": {"name": "falcon-7b"}},
    }


def _table(text: str) -> list[dict[str, str]]:
    """Rows of kubectl's column output, cut at the header's column offsets (cells may be empty)."""
    header, *rows = text.splitlines()
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return [{header[a:b].strip(): row[a:b].strip() for a, b in bounds} for row in rows]


def test_crd_names_and_versions(api_client: Any, workspace_crd: None) -> None:
    crd: Any = client.ApiextensionsV1Api(api_client).read_custom_resource_definition("workspaces.kaito.sh")
    assert crd.spec.group == "kaito.sh"
    assert crd.spec.scope == "Namespaced"
    assert crd.spec.names.kind == "Workspace"
    assert sorted(crd.spec.names.short_names) == ["wk", "wks"]
    versions = {v.name: (v.served, v.storage, v.subresources.status is not None) for v in crd.spec.versions}
    assert versions == {"v1alpha1": (True, False, True), "v1beta1": (True, True, True)}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: Path(p).name)
def test_example_manifest_is_accepted(control_plane: ControlPlane, custom: Any, example: Path) -> None:
    manifest = yaml.safe_load(example.read_text())
    ns = manifest["metadata"].get("namespace", "default")
    name = manifest["metadata"]["name"]
    # kubectl validates with Strict field validation: an unknown or misplaced field would fail here.
    control_plane.kubectl("apply", "-n", ns, "-f", str(example))
    try:
        stored = custom.get_namespaced_custom_object("kaito.sh", "v1beta1", ns, "workspaces", name)
        assert stored["resource"]["instanceType"] == manifest["resource"]["instanceType"]
        assert stored["resource"]["labelSelector"] == manifest["resource"]["labelSelector"]
        assert stored["inference"]["preset"]["name"] == manifest["inference"]["preset"]["name"]
        # No schema default (KAITO's is 1): unset means "size the pool from the preset", everywhere.
        assert "count" not in stored["resource"]
    finally:
        control_plane.kubectl("delete", "-n", ns, "-f", str(example), "--wait=false")


@pytest.mark.parametrize(
    ("resource", "field"),
    [({"instanceType": 5}, "resource.instanceType"), ({"count": "two"}, "resource.count")],
)
def test_wrong_field_type_is_rejected(
    custom: Any, namespace: str, resource: dict[str, Any], field: str
) -> None:
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(
            "kaito.sh", "v1beta1", namespace, "workspaces", _workspace("bad", **resource)
        )
    assert err.value.status == 422
    assert field in str(err.value.body)


def test_spec_fields_under_spec_are_refused(
    control_plane: ControlPlane, namespace: str, workspace_crd: None
) -> None:
    """KAITO's fields live at the top level; the common mistake of nesting them is caught."""
    bad = _workspace("nested")
    bad["spec"] = {"resource": bad.pop("resource"), "inference": bad.pop("inference")}
    result = control_plane.kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(bad), check=False
    )
    assert result.returncode != 0
    assert 'unknown field "spec"' in result.stderr


def test_kubectl_get_shows_kaito_columns(control_plane: ControlPlane, custom: Any, namespace: str) -> None:
    custom.create_namespaced_custom_object("kaito.sh", "v1beta1", namespace, "workspaces", _workspace("cols"))
    custom.patch_namespaced_custom_object_status(
        "kaito.sh",
        "v1beta1",
        namespace,
        "workspaces",
        "cols",
        {
            "status": {
                "state": "Ready",
                "targetNodeCount": 1,
                "conditions": [
                    {
                        "type": t,
                        "status": "True",
                        "reason": "Probe",
                        "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z",
                    }
                    for t in ("ResourceReady", "InferenceReady", "WorkspaceSucceeded")
                ],
            }
        },
    )
    out = control_plane.kubectl("get", "workspace", "-n", namespace).stdout
    assert out.splitlines()[0].split() == V1BETA1_COLUMNS
    row = _table(out)[0]
    assert row | {"AGE": ""} == {
        "NAME": "cols",
        "INSTANCE": "Standard_NC12s_v3",
        "RESOURCEREADY": "True",
        "INFERENCEREADY": "True",
        "JOBSTARTED": "",  # no such condition: an empty cell
        "WORKSPACESUCCEEDED": "True",
        "TARGETNODECOUNT": "1",
        "STATE": "Ready",
        "AGE": "",
    }

    # The older version's column set (no TargetNodeCount / State). Spelled out in full: kubectl
    # expands a short name ("wk.v1alpha1.kaito.sh") to the preferred version, dropping v1alpha1.
    alpha = control_plane.kubectl("get", "workspaces.v1alpha1.kaito.sh", "-n", namespace).stdout.splitlines()
    assert alpha[0].split() == [c for c in V1BETA1_COLUMNS if c not in ("TARGETNODECOUNT", "STATE")]
    assert control_plane.kubectl("get", "wks", "-n", namespace, "-o", "name").stdout.strip() == (
        "workspace.kaito.sh/cols"
    )


def test_status_is_a_subresource(custom: Any, namespace: str) -> None:
    """Writes to the main resource cannot change status (the controller owns it)."""
    body = _workspace("st") | {"status": {"state": "Ready"}}
    created = custom.create_namespaced_custom_object("kaito.sh", "v1beta1", namespace, "workspaces", body)
    assert "state" not in created.get("status", {})


def test_kubectl_is_the_built_version(control_plane: ControlPlane) -> None:
    out = subprocess.run(
        control_plane.kubectl_cmd("version", "-o", "yaml"), capture_output=True, text=True, check=True
    ).stdout
    versions = yaml.safe_load(out)
    assert versions["clientVersion"]["gitVersion"].startswith("v1.36.")
    assert versions["serverVersion"]["gitVersion"] == versions["clientVersion"]["gitVersion"]
