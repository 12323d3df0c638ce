"""The Dockerfile and docker-compose.yml, checked without a container engine: hadolint on the Dockerfile,
the compose file against the Compose Specification's JSON schema (vendored: compose_spec/), and every
service's command against what our images contain."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.conftest import ROOT

SCHEMA = Path(__file__).parent / "compose_spec" / "compose-spec.json"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"
OUR_IMAGE = "kaito-temporal:0.1.0"
TEMPORAL_IMAGE = "kaito-temporal-server:1.32.2"


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def validator() -> jsonschema.protocols.Validator:
    schema = yaml.safe_load(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def stages() -> list[tuple[str, str | None, list[str]]]:
    """(base image, stage name, instruction lines) for each FROM of the Dockerfile."""
    found: list[tuple[str, str | None, list[str]]] = []
    for line in DOCKERFILE.read_text().splitlines():
        if match := re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE):
            found.append((match[1], match[2], []))
        elif found and line and not line.startswith("#"):
            found[-1][2].append(line)
    return found


def run_hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, timeout=60
    )


def test_hadolint_finds_nothing_in_our_dockerfile() -> None:
    done = run_hadolint(DOCKERFILE)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_hadolint_would_catch_an_unpinned_base_and_a_root_user(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nUSER root\nRUN pip install temporalio\n")
    done = run_hadolint(bad)
    assert done.returncode != 0
    assert {"DL3007", "DL3002", "DL3013"} <= set(re.findall(r"DL\d{4}", done.stdout))


def test_the_dockerfile_is_multi_stage_pinned_and_non_root() -> None:
    found = stages()
    assert len(found) >= 2
    for base, _, _ in found:
        if base in {name for _, name, _ in found if name}:
            continue  # FROM an earlier stage
        _, _, tag = base.partition(":")
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?(-[a-z0-9.]+)*", tag), f"{base}: pin an exact version tag"
    # The last stage is the default target: our image, run as a numeric non-root user.
    *_, (base, _, lines) = found
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    for _, name, lines in found:
        if name == "temporal":
            assert any(line.startswith("USER 10002") for line in lines)


def test_docker_compose_is_valid_against_the_compose_specification() -> None:
    errors = sorted(validator().iter_errors(compose()), key=str)
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


@pytest.mark.parametrize(
    "breakage",
    [
        {"services": {"worker": {"image": OUR_IMAGE, "depends_on": {"temporal": {"condition": "up"}}}}},
        {"services": {"worker": {"image": OUR_IMAGE, "healthcheck": {"tset": ["CMD", "true"]}}}},
        {"services": {"worker": {"image": OUR_IMAGE, "comand": ["python", "-m", "worker"]}}},
        {"service": {"worker": {"image": OUR_IMAGE}}},
    ],
)
def test_the_schema_refuses_a_broken_compose_file(breakage: dict[str, Any]) -> None:
    assert list(validator().iter_errors(breakage))


def test_the_compose_file_has_every_service_the_issue_names() -> None:
    services = compose()["services"]
    assert {"postgresql", "temporal-schema", "temporal", "temporal-ui", "worker", "bootstrap-worker",
            "controllers", "azure-emulator"} <= set(services)  # fmt: skip
    assert services["azure-emulator"]["profiles"] == ["emulator"]
    assert all("profiles" not in spec for name, spec in services.items() if name != "azure-emulator")
    # One image from our Dockerfile's default target for the worker, the bootstrap worker and the controllers.
    for name in ("worker", "bootstrap-worker", "controllers", "azure-emulator", "temporal-namespace"):
        assert services[name]["image"] == OUR_IMAGE and services[name]["build"] == {"context": "."}
    for name in ("temporal-schema", "temporal", "temporal-ui"):
        assert services[name]["image"] == TEMPORAL_IMAGE
        assert services[name]["build"] == {"context": ".", "target": "temporal"}


def test_long_running_services_have_healthchecks_and_dependencies_exist() -> None:
    services = compose()["services"]
    one_shot = {name for name, spec in services.items() if spec.get("restart") == "no"}
    assert one_shot == {"temporal-schema", "temporal-namespace"}
    for name, spec in services.items():
        if name not in one_shot:
            assert "healthcheck" in spec, f"{name} has no healthcheck"
        for dependency, condition in (spec.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on a service that does not exist: {dependency}"
            wanted = "service_completed_successfully" if dependency in one_shot else "service_healthy"
            assert condition["condition"] == wanted, f"{name} → {dependency}"


def test_state_lives_in_named_volumes_and_secrets_stay_out_of_the_file() -> None:
    spec = compose()
    assert set(spec["volumes"]) == {"postgresql-data", "azure-emulator-data"}
    assert "postgresql-data:/var/lib/postgresql/data" in spec["services"]["postgresql"]["volumes"]
    interpolated = re.compile(r"^\$\{[A-Z0-9_]+(:\?[^}]*)?\}$")
    for name, service in spec["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|API_KEY", key):
                assert isinstance(value, str) and interpolated.match(value), (
                    f"{name}: {key} must come from .env"
                )
    for secret in spec["secrets"].values():
        assert set(secret) == {"file"}
    # Every variable the file requires is documented in .env.example.
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE.read_text()))
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert required <= documented, f"not in .env.example: {sorted(required - documented)}"
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "**" in ignored and "!.env" not in ignored, "the build context must not carry .env"


def _our_image_modules() -> set[str]:
    """The top-level packages the default image copies into /app."""
    *_, build_lines = [lines for _, name, lines in stages() if name == "build"]
    return {
        line.split()[1] for line in build_lines if line.startswith("COPY ") and "/" not in line.split()[1]
    }


def test_every_service_command_exists_in_its_image() -> None:
    copied = _our_image_modules()
    temporal_stage = next(lines for _, name, lines in stages() if name == "temporal-build")
    built = set(re.findall(r"-o /out/(\S+)", "\n".join(temporal_stage)))
    assert built == {"temporal-server", "temporal-sql-tool", "temporal-ui-server"}
    copied_configs = {
        "/etc/temporal/": ROOT / "deploy/compose/temporal",
        "/etc/temporal-ui/config/": ROOT / "deploy/compose/temporal-ui",
    }
    for name, service in compose()["services"].items():
        argv = [*service.get("command", [])]
        healthcheck = service.get("healthcheck", {}).get("test", [])
        commands = [argv, healthcheck[1:] if healthcheck[:1] == ["CMD"] else []]
        for command in filter(None, commands):
            if service.get("image") == OUR_IMAGE:
                assert command[:2] == ["python", "-m"] or command[:2] == ["python", "-c"], (
                    f"{name}: {command}"
                )
                if command[1] == "-m":
                    module = command[2]
                    assert module.split(".")[0] in copied, f"{name}: {module} is not copied into the image"
                    assert importlib.util.find_spec(module) is not None, f"{name}: no module {module}"
                    assert _runs_as_main(module), f"{name}: {module} has no __main__"
            elif service.get("image") == TEMPORAL_IMAGE:
                program = command[0]
                if program.startswith("/etc/"):
                    prefix = next(p for p in copied_configs if program.startswith(p))
                    local = copied_configs[prefix] / program.removeprefix(prefix)
                    assert local.is_file() and os.access(local, os.X_OK), f"{name}: {program}"
                else:
                    assert program in built or program == "bash", f"{name}: {program} is not in the image"
                for arg in command:
                    if arg.startswith("/etc/") and arg.endswith(".yaml"):
                        prefix = next(p for p in copied_configs if arg.startswith(p))
                        assert (copied_configs[prefix] / arg.removeprefix(prefix)).is_file(), f"{name}: {arg}"
    # The UI server reads <root>/<config>/<env>.yaml.
    ui = compose()["services"]["temporal-ui"]["command"]
    assert (ROOT / "deploy/compose/temporal-ui" / f"{ui[ui.index('--env') + 1]}.yaml").is_file()


def _runs_as_main(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    if spec.submodule_search_locations:  # a package: python -m runs its __main__
        return (Path(spec.origin).parent / "__main__.py").is_file()
    return 'if __name__ == "__main__":' in Path(spec.origin).read_text()


def test_the_worker_commands_start_and_ask_for_their_settings() -> None:
    """The modules the compose file runs really start: without their settings they exit 2 naming them."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KAITO_", "AZURE_"))}
    for module in ("worker", "worker.bootstrap_worker"):
        done = subprocess.run(
            [sys.executable, "-m", module], env=clean, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2 and "KAITO_SUBSCRIPTION_ID is not set" in done.stderr, done.stderr
