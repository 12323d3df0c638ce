"""What the scale-to-zero sweep reads from the cluster: Ready workspaces and their request counters.

The counters come from each inference pod's `/metrics` through the apiserver's pod proxy, so the worker
needs no route into the pod network, here or on AKS. A pod that cannot be read (the proxy or vLLM
answers with an error, or the text is not Prometheus' exposition format) gives no sample this round:
the sweep never suspends on missing data.
"""

import contextlib
from datetime import datetime
from functools import partial
from typing import Any, cast

from kubernetes.client import ApiClient, CoreV1Api, CustomObjectsApi
from prometheus_client.parser import text_string_to_metric_families
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import kube_api
from workflows.conditions import SUSPENDED
from workflows.durations import parse_duration
from workflows.naming import INFERENCE_PORT, LABEL_WORKSPACE
from workflows.sweep_contracts import (
    ANNOTATION_IDLE_WINDOW,
    ANNOTATION_SCALE_TO_ZERO,
    SweepActivity,
    SweepCandidate,
    SweepCandidates,
    TrafficSample,
    WorkspaceRef,
)
from workflows.workspace_spec import API_GROUP, PLURAL, STORAGE_VERSION

# vLLM's counter of finished requests; the parser names its family without `_total`, so match samples.
REQUEST_COUNTER = "vllm:request_success_total"


def candidate_from(workspace: dict[str, Any]) -> SweepCandidate | None:
    """A sweep candidate for a Ready workspace, None for any other state."""
    if (workspace.get("status") or {}).get("state") != "Ready":
        return None
    metadata = workspace["metadata"]
    annotations = metadata.get("annotations") or {}
    ref = WorkspaceRef(namespace=metadata.get("namespace", "default"), name=metadata["name"])
    opted_out = str(annotations.get(ANNOTATION_SCALE_TO_ZERO, "")).strip().lower() == "false"
    window_text = annotations.get(ANNOTATION_IDLE_WINDOW)
    try:
        window = parse_duration(window_text) if window_text else None
    except ValueError as bad:
        return SweepCandidate(ref=ref, opted_out=opted_out, problem=f"{ANNOTATION_IDLE_WINDOW}: {bad}")
    return SweepCandidate(
        ref=ref, opted_out=opted_out, idle_window=window, awake_since=awake_since(workspace)
    )


def awake_since(workspace: dict[str, Any]) -> datetime | None:
    """When the workspace last came back from zero: its Suspended condition's turn to False, if any."""
    for condition in (workspace.get("status") or {}).get("conditions") or []:
        if condition.get("type") == SUSPENDED and condition.get("status") == "False":
            with contextlib.suppress(KeyError, TypeError, ValueError):
                return datetime.fromisoformat(str(condition["lastTransitionTime"]).replace("Z", "+00:00"))
    return None


def request_count(metrics: str) -> int:
    """Sum of vLLM's successful-request counter over its label sets, from Prometheus text.

    ValueError when the text is not in Prometheus' exposition format.
    """
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(metrics)
            for sample in family.samples
            if sample.name == REQUEST_COUNTER
        )
    )


class SweepActivities:
    def __init__(self, api: ApiClient) -> None:
        self._core = CoreV1Api(api)
        self._custom = CustomObjectsApi(api)

    @activity.defn(name=SweepActivity.LIST_CANDIDATES)
    async def list_sweep_candidates(self) -> SweepCandidates:
        listed = await kube_api.call(
            "list the Workspaces",
            partial(self._custom.list_cluster_custom_object, API_GROUP, STORAGE_VERSION, PLURAL),
            missing_retries=True,  # right after the bootstrap, the CRD may not be served yet
        )
        items: list[dict[str, Any]] = cast(dict[str, Any], listed).get("items", [])
        found = [candidate_from(item) for item in items]
        return SweepCandidates(candidates=[c for c in found if c is not None])

    @activity.defn(name=SweepActivity.SAMPLE_TRAFFIC)
    async def sample_inference_traffic(self, ref: WorkspaceRef) -> TrafficSample:
        pods = await kube_api.call(
            f"list the inference pods of {ref.key}",
            partial(
                self._core.list_namespaced_pod, ref.namespace, label_selector=f"{LABEL_WORKSPACE}={ref.name}"
            ),
        )
        running = [
            p.metadata.name for p in pods.items if p.status and p.status.phase == "Running" and p.metadata
        ]
        if not running:
            return TrafficSample(ref=ref, requests_total=None, detail="no running inference pod")
        total = 0
        for pod in running:
            try:
                metrics = await kube_api.call(
                    f"read /metrics of {pod}",
                    partial(
                        self._core.connect_get_namespaced_pod_proxy_with_path,
                        f"{pod}:{INFERENCE_PORT}", ref.namespace, "metrics",
                    ),
                )  # fmt: skip
                total += request_count(str(metrics))
            except ApplicationError as err:
                if not kube_api.answered(err):
                    raise  # the apiserver did not answer: retry the activity
                return TrafficSample(ref=ref, requests_total=None, detail=err.message)
            except ValueError as err:
                return TrafficSample(
                    ref=ref, requests_total=None, detail=f"{pod}: not Prometheus text: {err}"
                )
        return TrafficSample(ref=ref, requests_total=total, detail=f"{len(running)} pod(s)")
