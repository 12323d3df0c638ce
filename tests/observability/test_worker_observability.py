"""The provisioning worker observed as a platform team would: a Prometheus scrape, OTLP traces, JSON logs.

On the whole local cloud (the real worker process, the controllers, the emulator through the Azure
SDKs, the Go-built control plane): a Workspace applied with kubectl, one injected ARM failure on its
agent pool, scrapes of the worker's /metrics while it provisions, spans decoded from the OTLP/HTTP
protobuf the worker exported, and the worker's log lines parsed as JSON.
"""

import json
import ssl
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import STEP_TIMEOUT, Stack, example
from tests.observability.otlp_receiver import OtlpReceiver
from tests.observability.promql_names import metric_names
from tests.observability.test_dashboard import dashboard_queries
from tests.waiting import wait_for
from worker import metrics_names as m

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
NAME = "observed"
SKU = "Standard_NV36ads_A10_v5"


def exposition(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        return str(response.read().decode())


def served_names(address: str) -> set[str]:
    """The sample names exactly as exposed (the parser would add `_total` to the SDK's counters)."""
    lines = exposition(address).splitlines()
    return {line.split("{", 1)[0].split(" ", 1)[0] for line in lines if line and not line.startswith("#")}


def scrape(address: str) -> Samples:
    text = exposition(address)
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum over the series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def inject(stack: Stack, rule: dict[str, object]) -> None:
    context = ssl.create_default_context(cafile=stack.info.azure_ca)
    request = urllib.request.Request(
        f"{stack.info.azure}/_emulator/faults", json.dumps(rule).encode(),
        {"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, context=context, timeout=30):
        pass


def test_a_scrape_during_a_provisioning_shows_counters_move_and_serves_every_dashboard_metric(
    observed_stack: Stack, metrics_url: str, otlp: OtlpReceiver
) -> None:
    stack = observed_stack
    before = wait_for(lambda: scrape(metrics_url), "the worker's /metrics", timeout=60, tolerate=(OSError,))
    assert any(name.startswith("temporal_") for name, _ in before), "the SDK runtime's own metrics"
    assert value(before, m.PHASE_TRANSITIONS, phase="CreatingNodePool") == 0

    # One failed agent-pool operation: the activity fails with ARM's code and Temporal retries it.
    inject(stack, {"match": "agentPools.put", "lro_fail_count": 1})
    stack.apply(example("workspace-phi-3-mini.yaml", name=NAME))

    seen: list[Samples] = []

    def moved(phase: str) -> Samples | None:
        samples = scrape(metrics_url)
        seen.append(samples)
        return samples if value(samples, m.PHASE_DURATION + "_count", phase=phase) >= 1 else None

    during = wait_for(lambda: moved("CreatingNodePool"), "the pool phase's duration", timeout=STEP_TIMEOUT)
    assert value(during, m.PHASE_TRANSITIONS, phase="CreatingNodePool", instance_type=SKU) >= 1
    assert value(during, m.ARM_ERRORS, code="InternalOperationError", retryable="true") >= 1
    assert value(during, m.PHASE_DURATION + "_sum", phase="CreatingNodePool", instance_type=SKU) > 0

    def counted_ready() -> Samples | None:
        samples = scrape(metrics_url)
        return samples if value(samples, m.WORKSPACES, state="Ready") >= 1 else None

    ready = wait_for(
        counted_ready, "the fleet gauge to count the Ready workspace", timeout=STEP_TIMEOUT,
        explain=lambda: stack.explain(NAME),
    )  # fmt: skip
    for phase in ("Validating", "CreatingNodePool", "WaitingForNodes", "Deploying", "WaitingForInference"):
        assert value(ready, m.PHASE_DURATION + "_count", phase=phase, instance_type=SKU) >= 1, phase
    assert value(ready, m.PHASE_TRANSITIONS) > value(seen[0], m.PHASE_TRANSITIONS), "the counter moved"
    assert any(name == m.GPU_HOURS_SAVED for name, _ in ready), "the savings gauge is served"
    assert value(ready, "temporal_activity_execution_latency_count") > value(
        before, "temporal_activity_execution_latency_count"
    ), "the SDK's activity metrics moved too"

    # Traces: a span per workflow run and per activity, decoded from the OTLP/HTTP protobuf.
    names = wait_for(
        lambda: otlp.names() if "RunActivity:ensure_agent_pool" in otlp.names() else None,
        "the worker's spans at the OTLP receiver", timeout=30, explain=lambda: str(otlp.names()[-20:]),
    )  # fmt: skip
    assert "RunWorkflow:WorkspaceWorkflow" in names and "RunActivity:validate_workspace" in names
    workflow_ids = {a.get("temporalWorkflowID") for _, _, a in otlp.spans}
    assert f"workspace/default/{NAME}" in workflow_ids

    # The dashboard: every metric its queries name is one this worker serves.
    served = served_names(metrics_url)
    for query in dashboard_queries():
        missing = metric_names(query) - served
        assert not missing, (
            f"{query!r} names {sorted(missing)}, which the worker does not serve: {sorted(served)}"
        )

    # Logs: one JSON object a line; the workspace's lines carry its workflow id and the workspace.
    lines = (Path(stack.info.logs) / "worker.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records and len(records) == len([line for line in lines if line.strip()]), "every line is JSON"
    ours = [r for r in records if r.get("workflow_id") == f"workspace/default/{NAME}"]
    assert ours and all(r["workspace"] == f"default/{NAME}" for r in ours), records[-5:]

    # The controllers too: JSON lines, those about the Workspace naming it.
    lines = (Path(stack.info.logs) / "controllers.log").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records and len(records) == len([line for line in lines if line.strip()]), lines[-5:]
    about = [r["object"] for r in records if isinstance(r.get("object"), dict)]
    assert {"namespace": "default", "name": NAME} in [
        {"namespace": o.get("namespace"), "name": o.get("name")} for o in about
    ], records[-5:]
