"""`kaitoctl workspace validate|apply -f FILE` over every document of the file, as kubectl takes it.

Workspaces are checked with KAITO's admission rules and planned offline; an `inference.config`
ConfigMap in the same file is checked as KAITO's webhook checks it; Secrets are checked for data the
apiserver would refuse. `apply` first applies the ConfigMaps and Secrets with the user's kubeconfig (as
`kubectl apply -f` would), then starts each Workspace's workflow. Nothing is applied unless every
document is valid.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from kaitoctl.loading import Manifest, load_manifest, secret_placeholders
from presets.models import find_model
from workflows.inference_config import config_map_problems
from workflows.inferenceset_spec import (
    REPLICA_SUFFIX_LENGTH,
    InferenceSet,
    replica_name,
    replica_workspace,
    validate_inferenceset,
)
from workflows.workspace_contracts import ProvisioningPlan
from workflows.workspace_plan import build_plan
from workflows.workspace_spec import Workspace
from workflows.workspace_validation import Problem, WorkspaceInvalid, runtime_of

COMPANION_KINDS = ("Secret", "ConfigMap")  # applied before the Workspaces that name them
FIELD_MANAGER = "kaitoctl"


@dataclass
class CheckedManifest:
    """A valid file: what each Workspace will run, the other documents, and every warning once."""

    manifest: Manifest
    plans: list[tuple[Workspace, ProvisioningPlan]] = field(default_factory=list)
    sets: list[tuple[InferenceSet, ProvisioningPlan]] = field(default_factory=list)  # each replica's plan
    warnings: list[str] = field(default_factory=list)
    placeholder_secrets: list[str] = field(default_factory=list)

    @property
    def companions(self) -> list[dict[str, Any]]:
        return [doc.raw for kind in COMPANION_KINDS for doc in self.manifest.of_kind(kind)]

    def summary(self) -> list[str]:
        """One line per document, for `validate`."""
        lines = [
            f"workspace {ws.namespace}/{ws.name}: {plan.model} on {_placement(plan)}"
            for ws, plan in self.plans
        ]
        for iset, plan in self.sets:
            replicas = 1 if iset.spec.replicas is None else iset.spec.replicas
            lines.append(
                f"inferenceset {iset.namespace}/{iset.name}: {replicas} replica(s) of {plan.model}, "
                f"each on {_placement(plan)}"
            )
        for doc in self.manifest.documents:
            if doc.kind not in ("Workspace", "InferenceSet"):
                lines.append(f"{doc.kind.lower()} {doc.namespace or 'default'}/{doc.name}")
        return lines


def _placement(plan: ProvisioningPlan) -> str:
    if plan.bring_your_own_nodes:
        return f"{plan.node_count} existing GPU node(s) matching {plan.match_labels} (no node pool created)"
    replicas = f", {plan.replicas} replicas" if plan.replicas and plan.replicas > 1 else ""
    return f"{plan.node_count} × {plan.instance_type}{replicas} (agent pool {plan.agent_pool})"


def check_manifest(path: Path) -> CheckedManifest:
    """Every document valid, or WorkspaceInvalid with every problem found (field, problem, fix)."""
    manifest = load_manifest(path)
    checked = CheckedManifest(manifest=manifest)
    problems: list[Problem] = []
    for ws in manifest.workspaces:
        prefix = f"workspace {ws.namespace}/{ws.name}: " if len(manifest.documents) > 1 else ""
        try:
            plan = build_plan(ws)
        except WorkspaceInvalid as invalid:
            problems.extend(Problem(prefix + p.field, p.message) for p in invalid.problems)
            continue
        checked.plans.append((ws, plan))
        checked.warnings.extend(prefix + warning for warning in plan.warnings)
        problems.extend(Problem(prefix + f, m) for f, m in _config_problems(ws, plan, manifest, checked))
    for doc in manifest.of_kind("InferenceSet"):
        problems.extend(_check_set(doc.parsed, checked))
    for doc in manifest.of_kind("Secret"):
        for key in secret_placeholders(doc.raw):
            checked.placeholder_secrets.append(f"{doc.name}.data.{key}")
            checked.warnings.append(
                f"secret {doc.namespace or 'default'}/{doc.name}: data.{key} is not base64, so the "
                "apiserver refuses this Secret; put your base64-encoded value there before applying"
            )
    if problems:
        raise WorkspaceInvalid(problems)
    return checked


def _check_set(iset: InferenceSet, checked: CheckedManifest) -> list[Problem]:
    """KAITO's InferenceSet rules and every Workspace rule on its replicas; the replicas' plan."""
    prefix = f"inferenceset {iset.namespace}/{iset.name}: "
    report = validate_inferenceset(iset)
    checked.warnings.extend(prefix + warning for warning in report.warnings)
    if not report.ok:
        return [Problem(prefix + p.field, p.message) for p in report.errors]
    replica = replica_workspace(iset, replica_name(iset.name, "x" * REPLICA_SUFFIX_LENGTH))
    try:
        plan = build_plan(replica)
    except WorkspaceInvalid as invalid:
        return [Problem(prefix + p.field, p.message) for p in invalid.problems]
    checked.sets.append((iset, plan))
    return []


def _config_problems(
    ws: Workspace, plan: ProvisioningPlan, manifest: Manifest, checked: CheckedManifest
) -> list[tuple[str, str]]:
    name = plan.inference_config
    if not name:
        return []
    config_map = manifest.config_map(name, ws.namespace)
    if config_map is None:
        checked.warnings.append(
            f"inference.config: ConfigMap {name!r} is not in this file; it must exist in namespace "
            f"{ws.namespace!r} when the workspace is deployed"
        )
        return []
    model = find_model(plan.model)
    runtime = runtime_of(ws, model).value if model else plan.runtime
    return config_map_problems(config_map, name, ws.namespace, model, runtime)


def apply_companions(checked: CheckedManifest, kubeconfig: str) -> list[str]:
    """Server-side apply the file's Secrets and ConfigMaps, as `kubectl apply -f` would; what was applied."""
    if checked.placeholder_secrets:
        raise WorkspaceInvalid(
            [
                Problem(
                    f"secret {key.split('.', 1)[0]}",
                    f"{key.split('.', 1)[1]} is a placeholder, not base64; fill it in before applying",
                )
                for key in checked.placeholder_secrets
            ]
        )
    applied: list[str] = []
    with kube_config.new_client_from_config(config_file=kubeconfig) as api:
        dynamic = DynamicClient(api)
        for body in checked.companions:
            kind, name = str(body["kind"]), str(body["metadata"]["name"])
            namespace = body["metadata"].get("namespace") or "default"
            sent = {**body, "metadata": {**body["metadata"], "namespace": namespace}}
            try:
                resource = dynamic.resources.get(api_version="v1", kind=kind)
                resource.server_side_apply(
                    body=sent, namespace=namespace, field_manager=FIELD_MANAGER, force_conflicts=True
                )
            except ApiException as refused:
                raise WorkspaceInvalid(
                    [
                        Problem(
                            f"{kind.lower()} {namespace}/{name}",
                            f"the apiserver refused it: {_reason(refused)}",
                        )
                    ]
                ) from None
            applied.append(f"{kind.lower()} {namespace}/{name}")
    return applied


def _reason(refused: ApiException) -> str:
    """The apiserver's Status message, else the HTTP reason."""
    try:
        return str(json.loads(refused.body or "{}").get("message") or refused.reason)
    except ValueError:
        return str(refused.reason)
