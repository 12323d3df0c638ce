"""After the cluster bootstrap and a full provisioning, no credential is written where people look: not in
any workflow history (bootstrap, workspace), not in any process's log line, not in any Workspace status,
not in any Kubernetes Event. A credential is a JWT (bearer tokens, client assertions, service-account
tokens), a `Bearer ` header, a client assertion parameter, or one of the credentials the local cloud
actually issued (the operator's client secret, the token files it keeps)."""

import json
import re
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToJson

from localcloud.azure.config import DEFAULT_OPERATOR_SECRET
from tests.durability.conftest import info, temporal
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.controlplane

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
PATTERNS = {
    "a JWT": JWT,
    "a bearer header": re.compile(r"Bearer\s+[A-Za-z0-9._~+/-]{20,}", re.I),
    "a client assertion": re.compile(r"client_assertion=[^&\s]{20,}"),
    "a client secret parameter": re.compile(r"client_secret=[^&\s]+"),
}


def issued_credentials(stack: Stack) -> dict[str, str]:
    """The credentials the local cloud handed out, by where they live."""
    state = stack.state_dir
    files = [*state.glob("*/azure-identity-token"), *state.glob("*/kube-token")]
    # The worker's federated token; the worker's, the controllers' and the wake gateway's kube tokens.
    assert len(files) == 4, files
    found = {str(f.relative_to(state)): f.read_text().strip() for f in files}
    found["the operator's client secret"] = DEFAULT_OPERATOR_SECRET
    return found


def leaks(text: str, where: str, credentials: dict[str, str]) -> list[str]:
    out = [
        f"{what} in {where}: …{m.group(0)[:12]}…" for what, p in PATTERNS.items() for m in p.finditer(text)
    ]
    out += [f"{name} in {where}" for name, value in credentials.items() if value in text]
    return out


async def test_no_credential_in_histories_logs_statuses_or_events(stack: Stack) -> None:
    credentials = issued_credentials(stack)
    for token in (v for k, v in credentials.items() if k.endswith("token")):
        assert leaks(f"x {token} x", "a self-check", {}), "the patterns catch a real issued token"
    found: list[str] = []

    client = await temporal(stack)
    histories = 0
    async for execution in client.list_workflows():
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        found += leaks(history.to_json(), f"the history of {execution.id}", credentials)
        described = await client.get_workflow_handle(execution.id, run_id=execution.run_id).describe()
        found += leaks(
            MessageToJson(described.raw_description), f"the description of {execution.id}", credentials
        )
        histories += 1
    types = {e.workflow_type async for e in client.list_workflows()}
    assert {"BootstrapWorkflow", "WorkspaceWorkflow"} <= types, types

    logs = [*Path(info(stack).logs).glob("*.log"), stack.state_dir / "stack.log"]
    assert any(p.name == "worker.log" for p in logs) and any(p.name == "azure.log" for p in logs)
    for log in logs:
        found += leaks(log.read_text(errors="replace"), f"log {log.name}", credentials)

    statuses = stack.kubectl("get", "workspaces", "-A", "-o", "json").stdout
    assert json.loads(statuses)["items"], "a provisioned workspace to look at"
    found += leaks(statuses, "the Workspaces (status included)", credentials)
    events = stack.kubectl("get", "events", "-A", "-o", "json").stdout
    found += leaks(events, "the Events", credentials)

    print(f"\nscanned {histories} workflow histories, {len(logs)} logs, the Workspaces and the Events")
    assert not found, "\n".join(found)
