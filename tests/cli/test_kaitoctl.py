"""`kaitoctl workspace validate|apply|get`: exit codes, single clear messages, nothing started on error."""

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kaitoctl.main import app
from tests.conftest import EXAMPLES, load_example

runner = CliRunner()


def write(tmp_path: Path, manifest: Any, name: str = "ws.yaml") -> Path:
    path = tmp_path / name
    path.write_text(manifest if isinstance(manifest, str) else yaml.safe_dump(manifest))
    return path


def broken(mutate: Any) -> Any:
    manifest = copy.deepcopy(load_example("workspace-falcon-7b.yaml"))
    mutate(manifest)
    return manifest


BAD_INPUTS: dict[str, tuple[Any, str]] = {
    "broken-yaml": ("apiVersion: kaito.sh/v1beta1\nkind: [Workspace\n", "not valid YAML at line 3"),
    "unknown-preset": (
        broken(lambda m: m["inference"]["preset"].update(name="falcon-9b")),
        "inference.preset.name: unknown preset 'falcon-9b'",
    ),
    "too-small-sku": (
        broken(
            lambda m: (
                m["inference"]["preset"].update(name="falcon-40b"),
                m["resource"].update(instanceType="Standard_NC6s_v3"),
            )
        ),
        "needs 2 GPUs and 90Gi on one node, as it cannot be split across nodes; one Standard_NC6s_v3 node "
        "has 1 GPU and 16Gi; Standard_NC48ads_A100_v4 fits on one node",
    ),
    "illegal-name": (
        broken(lambda m: m["metadata"].update(name="Falcon_7B")),
        "metadata.name: 'Falcon_7B' is not a DNS-1123",
    ),
    "inference-and-tuning": (
        broken(lambda m: m.update(tuning={"method": "qlora"})),
        "inference: set inference or tuning, but not both",
    ),
    "byo-mig-partition": (  # no instanceType is KAITO's BYO mode; a MIG partition there needs a profile
        broken(
            lambda m: (m["resource"].pop("instanceType"), m["resource"].update(partition={"mode": "mig"}))
        ),
        "resource.partition.profile: None is not a known MIG profile",
    ),
    "non-gpu-sku": (
        broken(lambda m: m["resource"].update(instanceType="Standard_E8s_v5")),
        "Standard_E8s_v5 is not a GPU VM size",
    ),
}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_validate_accepts_the_examples(path: Path) -> None:
    result = runner.invoke(app, ["workspace", "validate", "-f", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid:" in result.output


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_validate_refuses_bad_input_with_one_message(case: str, tmp_path: Path) -> None:
    manifest, expected = BAD_INPUTS[case]
    result = runner.invoke(app, ["workspace", "validate", "-f", str(write(tmp_path, manifest))])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit), "a clean exit, not an exception"
    assert expected in result.output
    assert result.output.count("error:") == 1 and "Traceback" not in result.output


def test_validate_names_a_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["workspace", "validate", "-f", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "cannot read the file" in result.output


def test_apply_without_a_reachable_temporal_says_where_it_looked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAITO_TEMPORAL_ADDRESS", "127.0.0.1:1")
    result = runner.invoke(app, ["workspace", "apply", "-f", str(EXAMPLES[0])])
    assert result.exit_code == 1
    assert "cannot reach Temporal at 127.0.0.1:1: connection refused" in result.output
