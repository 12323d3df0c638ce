"""Hostile input through `kaitoctl workspace validate` and `apply`: always one clear error, never a traceback.

`apply` validates before it reaches anything, so for every refused file it exits 2 without contacting
Temporal or the cluster (the settings point at a closed port: reaching it would exit 1 instead).
The fuzz example count is small by default and larger under `-m long` (HYPOTHESIS_PROFILE=long).
"""

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kaitoctl.main import app
from workflows.workspace_validation import WorkspaceInvalid, parse_workspace, validate_workspace

settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

runner = CliRunner()
VALID = """apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: {name}
resource:
  instanceType: Standard_NC24ads_A100_v4
  labelSelector:
    matchLabels:
      apps: phi-4
inference:
  preset:
    name: phi-4
"""

BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
    + ["kind: Workspace"]
)

CASES: dict[str, tuple[str, str]] = {
    # name: (file text, a phrase the one error must contain)
    "empty file": ("", "no documents: the file is empty"),
    "only comments": ("# nothing\n---\n", "no documents"),
    "a list": ("- 1\n- 2\n", "expected a Kubernetes object (a mapping), got list"),
    "a scalar": ("42\n", "got int"),
    "a string": ("just text\n", "got str"),
    "no kind": ("apiVersion: kaito.sh/v1beta1\nmetadata: {name: x}\n", "no kind"),
    "kind a number": ("kind: 7\n", "no kind"),
    "bad yaml": ("kind: Workspace\nmetadata: [\n", "not valid YAML at line"),
    "tabs": ("kind: Workspace\n\tname: x\n", "not valid YAML"),
    "billion laughs": (BILLION_LAUGHS, "through its YAML aliases"),
    "many aliases": ("a: &a 1\nb: [" + ",".join(["*a"] * 150) + "]\n", "more than 100 YAML aliases"),
    "deep nesting": ("a: " + "[" * 200 + "]" * 200 + "\n", "nested more than 64 levels"),
    "wrong type count": (
        VALID.format(name="w").replace("resource:\n", "resource:\n  count: two\n"),
        "valid integer",
    ),
    "wrong type labels": (
        VALID.format(name="w").replace("apps: phi-4", "apps: [1, 2]"),
        "matchLabels.apps",
    ),
    "unknown field": (VALID.format(name="w") + "extra: 1\n", "extra: unknown field"),
    "spec nesting": (VALID.format(name="w") + "spec: {}\n", "KAITO Workspaces have no spec"),
    "huge count": (
        VALID.format(name="w").replace("resource:\n", "resource:\n  count: 99999999999999999999\n"),
        "more than an AKS node pool holds",
    ),
    "negative count": (
        VALID.format(name="w").replace("resource:\n", "resource:\n  count: -3\n"),
        "is not a node count",
    ),
    "name at 55": (VALID.format(name="w" * 55), "at most 54"),
    "name of 300": (VALID.format(name="w" * 300), "at most 54"),
    "unicode name": (VALID.format(name="wörk-ßpace"), "is not a DNS-1123 label"),
    "emoji label": (VALID.format(name="w").replace("apps: phi-4", "apps: 🦙"), "not a valid label value"),
    "huge label": (VALID.format(name="w").replace("apps: phi-4", "apps: " + "x" * 5000), "valid label value"),
    "null bytes": (VALID.format(name="w").replace("phi-4\n", "phi-4\x00\n", 1), "not valid YAML"),
    "second bad doc": (VALID.format(name="w") + "---\n- x\n", "document 2 of 2"),
    "json garbage": ('{"kind": "Workspace", "metadata": "x"}', "apiVersion: expected one of"),
    "json wrong metadata": (
        '{"apiVersion": "kaito.sh/v1beta1", "kind": "Workspace", "metadata": "x"}',
        "metadata: Input should be a valid dictionary",
    ),
    "wrong api": (VALID.format(name="w").replace("kaito.sh/v1beta1", "kaito.sh/v9"), "apiVersion"),
    "configmap without name": ("apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n", "ConfigMap.metadata.name"),
    "configmap bad data": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: [1]}\n",
        "must map file names to text",
    ),
    "config bomb": (
        VALID.format(name="w").replace("    name: phi-4\n", "    name: phi-4\n  config: cm\n")
        + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata:\n  inference_config.yaml: |\n"
        + "".join(f"    {line}\n" for line in BILLION_LAUGHS.splitlines()),
        "through its YAML aliases",
    ),
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    return path


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Temporal address nothing listens on, and no kubeconfig: apply must not get that far."""
    monkeypatch.setenv("KAITO_TEMPORAL_ADDRESS", "127.0.0.1:9")
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("verb", ["validate", "apply"])
def test_each_class_gets_one_clear_error(tmp_path: Path, case: str, verb: str, unreachable: None) -> None:
    text, phrase = CASES[case]
    result = runner.invoke(app, ["workspace", verb, "-f", str(write(tmp_path, text))])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert phrase in result.output, result.output
    assert result.output.count("error:") == 1


def test_a_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00\x01kind: Workspace")
    result = runner.invoke(app, ["workspace", "validate", "-f", str(path)])
    assert result.exit_code == 2 and "not UTF-8 text" in result.output


def test_a_name_at_the_limit_is_accepted(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["workspace", "validate", "-f", str(write(tmp_path, VALID.format(name="w" * 54)))]
    )
    assert result.exit_code == 0, result.output


# ---- property-based: any Workspace-shaped document is a clear refusal or a valid workspace ------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=80))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
names = st.one_of(st.text(max_size=70), st.from_regex(r"[a-z][a-z0-9-]{0,60}[a-z0-9]", fullmatch=True))
presets = st.one_of(
    st.sampled_from(["phi-4", "falcon-7b", "llama-3.1-8b-instruct", "gpt-oss-120b"]), st.text()
)
skus = st.one_of(st.sampled_from(["Standard_NC24ads_A100_v4", "Standard_NV36ads_A10_v5", ""]), st.text())
workspaces = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from(["kaito.sh/v1alpha1", "kaito.sh/v1beta1"]),
        "kind": st.just("Workspace"),
        "metadata": st.fixed_dictionaries(
            {"name": names}, optional={"namespace": names, "annotations": values, "labels": values}
        ),
        "resource": st.fixed_dictionaries(
            {},
            optional={
                "instanceType": skus,
                "count": st.one_of(st.integers(-5, 10**12), values),
                "labelSelector": st.one_of(
                    st.fixed_dictionaries({"matchLabels": st.dictionaries(names, names, max_size=3)}), values
                ),
                "preferredNodes": values,
            },
        ),
        "inference": st.one_of(
            st.fixed_dictionaries(
                {"preset": st.fixed_dictionaries({"name": presets})},
                optional={"adapters": values, "config": values},
            ),
            values,
        ),
    },
    optional={"tuning": values, "extra": values},
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(workspaces)
def test_fuzzed_workspaces_are_refused_clearly_or_valid(manifest: dict[str, Any]) -> None:
    try:
        ws = parse_workspace(manifest)
    except WorkspaceInvalid as invalid:
        assert invalid.problems and all(p.message for p in invalid.problems)
        return
    report = validate_workspace(ws)
    assert all(str(p) for p in report.errors)


@pytest.mark.long
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(workspaces)
def test_fuzzed_files_through_validate_never_trace_back(tmp_path: Path, manifest: dict[str, Any]) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(manifest, allow_unicode=True))
    result = runner.invoke(app, ["workspace", "validate", "-f", str(path)])
    assert result.exit_code in (0, 2) and "Traceback" not in result.output, result.output
