"""KAITO's admission rules for a Workspace, with errors that name the field, the problem and the fix.

The same checks run offline in `kaitoctl workspace validate`, in the workflow's first activity and in
the controller, so a user sees the same words whichever door they used. Nothing here touches a cluster.
"""

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from presets.models import ModelPreset, Runtime, find_model, model_names
from presets.sizing import cheapest_fitting_sku, check_fit, gib, needs_text, nodes_needed, offers_text
from presets.skus import GpuSku, find_sku, looks_like_gpu_or_general_sku
from presets.vm_sizes import alias_warning
from workflows.byo_nodes import MIG_PROFILES, mig_slice_gib
from workflows.fallback_sizes import check_capacity_annotations
from workflows.naming import MAX_WORKSPACE_NAME, RESERVED_SELECTOR_KEYS
from workflows.workspace_spec import API_VERSIONS, Workspace, WorkspaceUndecodable

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

ANNOTATION_RUNTIME = "kaito.sh/runtime"
ANNOTATION_BYPASS_RESOURCE_CHECKS = "kaito.sh/bypass-resource-checks"
ANNOTATION_NODE_IMAGE_FAMILY = "kaito.sh/node-image-family"
ANNOTATION_PERFORMANCE_MODE = "kaito.sh/performance-mode"
NODE_IMAGE_FAMILIES = ("ubuntu", "azurelinux")
PERFORMANCE_MODES = ("balanced", "interactivity", "throughput")
MAX_ADAPTERS = 10  # KAITO's MaxAdaptersNumber
MAX_POOL_NODES = 1000  # the most nodes AKS allows in one node pool


@dataclass(frozen=True)
class Problem:
    """One reason a workspace is refused: where, and what to do about it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass
class Report:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, where: str, message: str) -> None:
        self.errors.append(Problem(where, message))


class WorkspaceInvalid(ValueError):
    """Raised with every problem found; its text is what users read (one problem a line)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def parse_workspace(data: Any) -> Workspace:
    """Parse a manifest (already loaded from YAML/JSON) or raise WorkspaceInvalid naming each field."""
    if not isinstance(data, dict):
        raise WorkspaceInvalid(
            [Problem("(document)", "expected a Workspace object, got " + type(data).__name__)]
        )
    if data.get("kind") != "Workspace":
        raise WorkspaceInvalid([Problem("kind", f"expected Workspace, got {data.get('kind')!r}")])
    if data.get("apiVersion") not in API_VERSIONS:
        raise WorkspaceInvalid(
            [
                Problem(
                    "apiVersion", f"expected one of {', '.join(API_VERSIONS)}, got {data.get('apiVersion')!r}"
                )
            ]
        )
    if isinstance(data.get("spec"), dict):
        raise WorkspaceInvalid(
            [Problem("spec", "KAITO Workspaces have no spec: put resource and inference at the top level")]
        )
    try:
        return Workspace.model_validate(data)
    except WorkspaceUndecodable as exc:
        raise WorkspaceInvalid([_from_pydantic(err) for err in exc.errors]) from None


def _from_pydantic(err: Any) -> Problem:
    where = ".".join(str(part) for part in err["loc"]) or "(document)"
    if err["type"] == "extra_forbidden":
        return Problem(where, "unknown field; check its spelling against the KAITO Workspace API")
    return Problem(where, err["msg"])


def validate_workspace(ws: Workspace) -> Report:
    """Every KAITO CREATE rule that applies to node-auto-provisioned inference workspaces."""
    report = Report()
    _check_names(ws, report)
    _check_mode(ws, report)
    _check_annotations(ws, report)
    _check_selector(ws, report)
    if ws.resource.count is not None and ws.resource.count < 1:
        report.add(
            "resource.count", f"{ws.resource.count} is not a node count; use 1 or more, or leave it out"
        )
    elif ws.resource.count is not None and ws.resource.count > MAX_POOL_NODES:
        report.add(
            "resource.count",
            f"{ws.resource.count} nodes is more than an AKS node pool holds ({MAX_POOL_NODES}); use fewer",
        )
    model = _check_preset(ws, report)
    sku = _check_instance_type(ws, report, model)
    if model and sku and (ws.resource.count is None or 1 <= ws.resource.count <= MAX_POOL_NODES):
        _check_fit(ws, report, model, sku)
    check_capacity_annotations(ws, report, validate_workspace)
    return report


def validate_or_raise(ws: Workspace) -> Report:
    report = validate_workspace(ws)
    if not report.ok:
        raise WorkspaceInvalid(report.errors)
    return report


def _check_names(ws: Workspace, report: Report) -> None:
    name = ws.name
    if not name:
        report.add("metadata.name", "required; give the workspace a name such as workspace-falcon-7b")
    elif not DNS1123_LABEL.match(name):
        report.add(
            "metadata.name",
            f"{name!r} is not a DNS-1123 label; use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit",
        )
    elif len(name) > MAX_WORKSPACE_NAME:
        report.add(
            "metadata.name",
            f"{name!r} is {len(name)} characters; at most {MAX_WORKSPACE_NAME} so that derived names "
            f"such as {name[:20]}…-headless stay within 63",
        )
    if ws.metadata.namespace is not None and (
        not DNS1123_LABEL.match(ws.metadata.namespace) or len(ws.metadata.namespace) > 63
    ):
        report.add("metadata.namespace", f"{ws.metadata.namespace!r} is not a valid namespace name")


def _check_mode(ws: Workspace, report: Report) -> None:
    if ws.inference is not None and ws.tuning is not None:
        report.add("inference", "set inference or tuning, but not both")
    elif ws.tuning is not None:
        report.add("tuning", "fine-tuning workspaces are not supported yet; set inference.preset instead")
    elif ws.inference is None:
        report.add("inference", "required: set inference.preset.name to a model preset such as falcon-7b")
    else:
        if ws.inference.template is not None and ws.inference.preset is not None:
            report.add("inference", "set inference.preset or inference.template, but not both")
        elif ws.inference.template is not None:
            report.add(
                "inference.template", "custom pod templates are not supported yet; use inference.preset"
            )
        elif ws.inference.preset is None:
            report.add(
                "inference.preset", "required: set inference.preset.name to a model preset such as falcon-7b"
            )
        _check_adapters(ws, report)


def _check_adapters(ws: Workspace, report: Report) -> None:
    """KAITO's adapter rules: a named source with an image or a volume, a strength from 0 to 1."""
    adapters = (ws.inference.adapters if ws.inference else None) or []
    if len(adapters) > MAX_ADAPTERS:
        report.add("inference.adapters", f"{len(adapters)} adapters; at most {MAX_ADAPTERS} are allowed")
    seen: set[str] = set()
    for index, adapter in enumerate(adapters):
        where = f"inference.adapters[{index}]"
        source = adapter.source
        if source is None:
            report.add(f"{where}.source", "required: name the adapter and its image")
            continue
        if not source.name:
            report.add(f"{where}.source.name", "required: the adapter's name (a DNS-1123 subdomain)")
        elif len(source.name) > 253 or not DNS1123_SUBDOMAIN.match(source.name):
            report.add(f"{where}.source.name", f"{source.name!r} is not a DNS-1123 subdomain")
        elif source.name in seen:
            report.add(f"{where}.source.name", f"duplicate adapter name {source.name!r}")
        else:
            seen.add(source.name)
        if not source.image and source.volume_source is None:
            report.add(f"{where}.source", "set image (or volumeSource) for the adapter's weights")
        if source.urls:
            report.add(f"{where}.source.urls", "URLs are not supported as an adapter source; use image")
        if adapter.strength is not None:
            try:
                strength = float(adapter.strength)
            except ValueError:
                report.add(f"{where}.strength", f"{adapter.strength!r} is not a number")
                continue
            if not 0 <= strength <= 1:
                report.add(f"{where}.strength", f"{adapter.strength} is outside 0 to 1")


def _check_annotations(ws: Workspace, report: Report) -> None:
    family = ws.annotations.get(ANNOTATION_NODE_IMAGE_FAMILY)
    if family is not None and family.lower() not in NODE_IMAGE_FAMILIES:
        report.add(
            f"metadata.annotations[{ANNOTATION_NODE_IMAGE_FAMILY}]",
            f"{family!r} is not a node image family; use one of {', '.join(NODE_IMAGE_FAMILIES)}",
        )
    mode = ws.annotations.get(ANNOTATION_PERFORMANCE_MODE)
    if mode is not None and mode not in PERFORMANCE_MODES:
        report.add(
            f"metadata.annotations[{ANNOTATION_PERFORMANCE_MODE}]",
            f"{mode!r} is not a performance mode; use one of {', '.join(PERFORMANCE_MODES)}",
        )
    runtime = ws.annotations.get(ANNOTATION_RUNTIME)
    if runtime is not None and runtime not in {r.value for r in Runtime}:
        report.add(
            f"metadata.annotations[{ANNOTATION_RUNTIME}]",
            f"{runtime!r} is not a runtime; use one of {', '.join(r.value for r in Runtime)}",
        )


def _check_selector(ws: Workspace, report: Report) -> None:
    selector = ws.resource.label_selector
    where = "resource.labelSelector"
    if selector is None:
        report.add(
            where, "required: set matchLabels, for example {apps: falcon-7b}; the GPU nodes get these labels"
        )
        return
    for index, requirement in enumerate(selector.match_expressions or []):
        here = f"{where}.matchExpressions[{index}]"
        values = requirement.values or []
        if requirement.operator != "In":
            report.add(
                here,
                f"operator {requirement.operator!r} is not supported: KAITO turns the selector into node "
                "labels, so only matchLabels and an In with one value can say which labels the nodes get",
            )
        elif len(values) != 1:
            report.add(
                here,
                f"In with {len(values)} values for {requirement.key!r}: a node carries one value per label, "
                "so KAITO accepts an In with exactly one value; pick one",
            )
    if any(p.field.startswith(f"{where}.matchExpressions") for p in report.errors):
        return
    labels = ws.match_labels
    if not labels:
        report.add(f"{where}.matchLabels", "required: at least one label, for example {apps: falcon-7b}")
        return
    for key, value in labels.items():
        if key in RESERVED_SELECTOR_KEYS:
            report.add(
                f"{where}.matchLabels[{key}]", "this key is reserved; KAITO sets it itself, so remove it"
            )
        elif not _valid_label_key(key):
            report.add(
                f"{where}.matchLabels[{key}]", "not a valid label key ([prefix/]name, name ≤ 63 characters)"
            )
        if not (len(value) <= 63 and LABEL_NAME.match(value)):
            report.add(
                f"{where}.matchLabels[{key}]",
                f"{value!r} is not a valid label value (≤ 63 alphanumerics, '-', '_' or '.')",
            )


def _valid_label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(LABEL_NAME.match(name))


def _check_preset(ws: Workspace, report: Report) -> ModelPreset | None:
    name = ws.preset_name
    if name is None:
        return None
    model = find_model(name)
    if model is None:
        close = difflib.get_close_matches(name.lower(), model_names(), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        report.add(
            "inference.preset.name",
            f"unknown preset {name!r}; {hint}known presets: {', '.join(model_names())}",
        )
        return None
    if model.deprecated:
        report.warnings.append(f"inference.preset.name: {model.name}: {model.deprecated}")
    assert ws.inference is not None and ws.inference.preset is not None
    options = ws.inference.preset.preset_options
    secret = options.model_access_secret if options else None
    if model.gated and not secret:
        report.add(
            "inference.preset.presetOptions.modelAccessSecret",
            f"{model.name} is gated on Hugging Face; name a Secret holding HF_TOKEN (kaito.sh/v1beta1)",
        )
    elif secret and not model.download_at_runtime:
        report.add(
            "inference.preset.presetOptions.modelAccessSecret",
            f"{model.name}'s weights ship in its image, so it needs no access secret; remove it",
        )
    if model.private_image and not (options and options.image):
        report.add(
            "inference.preset.presetOptions.image",
            f"{model.name} has no public image (accessMode private); name the image you built",
        )
    runtime = ws.annotations.get(ANNOTATION_RUNTIME)
    if runtime in {r.value for r in Runtime} and Runtime(runtime) not in model.runtimes:
        report.add(
            f"metadata.annotations[{ANNOTATION_RUNTIME}]",
            f"{model.name} does not run on {runtime}; use {model.default_runtime.value}",
        )
    return model


def runtime_of(ws: Workspace, model: ModelPreset) -> Runtime:
    """The `kaito.sh/runtime` annotation when it names one of the model's runtimes, else its default."""
    runtime = ws.annotations.get(ANNOTATION_RUNTIME)
    if runtime in {r.value for r in model.runtimes}:
        return Runtime(runtime)
    return model.default_runtime


def _check_instance_type(ws: Workspace, report: Report, model: ModelPreset | None) -> GpuSku | None:
    instance_type = ws.resource.instance_type
    where = "resource.instanceType"
    suggestion = cheapest_fitting_sku(model) if model else None
    example = suggestion.name if suggestion else "Standard_NC24ads_A100_v4"
    partition = ws.resource.partition
    if not instance_type:
        _check_byo(ws, report, model)
        return None
    if partition is not None:
        report.add(
            "resource.partition",
            "GPU partitioning runs only on your own nodes (BYO); remove instanceType or the partition",
        )
    sku = find_sku(instance_type)
    if sku is not None:
        if warning := alias_warning(instance_type):
            report.warnings.append(f"{where}: {warning}")
        return sku
    if looks_like_gpu_or_general_sku(instance_type):
        report.warnings.append(
            f"{where}: {instance_type} is not in the GPU catalog; GPU checks are skipped and the "
            "nodes must report nvidia.com/gpu to become ready"
        )
    else:
        report.add(
            where,
            f"{instance_type} is not a GPU VM size; use an N-series size such as {example}",
        )
    return None


def _check_mig(profile: str | None, count: int | None, model: ModelPreset | None, report: Report) -> None:
    """One MIG slice per replica: a known profile, no count, and weights that fit the slice."""
    where = "resource.partition"
    if count is not None:
        report.add(f"{where}.count", "count is only valid for accelerator mode; remove it")
    if not profile or profile not in MIG_PROFILES:
        known = ", ".join(sorted(MIG_PROFILES))
        report.add(f"{where}.profile", f"{profile!r} is not a known MIG profile; use one of {known}")
        return
    if model is not None and model.gpu_memory_gib > mig_slice_gib(profile):
        report.add(
            where,
            f"{model.name} needs {gib(model.gpu_memory_gib)} for its weights, more than the "
            f"{gib(mig_slice_gib(profile))} of one {profile} MIG slice; use a larger profile",
        )


def _check_byo(ws: Workspace, report: Report, model: ModelPreset | None) -> None:
    """No instanceType: KAITO's bring-your-own-nodes mode; the GPU checks run on the nodes' labels."""
    partition = ws.resource.partition
    if partition is not None:
        if partition.mode == "accelerator":
            if partition.profile:
                report.add("resource.partition.profile", "profile is not valid for accelerator mode")
            if partition.count is None or partition.count < 1:
                report.add("resource.partition.count", "required: how many whole GPUs each replica gets")
        elif partition.mode == "mig":
            _check_mig(partition.profile, partition.count, model, report)
        else:
            report.add(
                "resource.partition.mode",
                f"{partition.mode!r} is not a partition mode; use accelerator (or mig)",
            )
    report.warnings.append(
        "resource.instanceType: not set, so no node pool is created: the workspace runs on existing "
        "GPU nodes matching the label selector, checked against their nvidia.com/gpu.* labels when applied"
    )


def _check_fit(ws: Workspace, report: Report, model: ModelPreset, sku: GpuSku) -> None:
    if ANNOTATION_BYPASS_RESOURCE_CHECKS in ws.annotations:
        report.warnings.append(f"GPU checks skipped ({ANNOTATION_BYPASS_RESOURCE_CHECKS} is set)")
        return
    count = planned_node_count(ws, model, sku)
    runtime = runtime_of(ws, model)
    where = "resource.instanceType"
    suggestion = cheapest_fitting_sku(model)
    fix = f"{suggestion.name} fits on one node" if suggestion else "no single catalog SKU fits"
    needed = nodes_needed(model, sku)
    if needed is None:
        report.add(
            where,
            f"{model.name} needs {needs_text(model)}; {sku.name} has {offers_text(sku)} per node, "
            f"too little per GPU at any node count; {fix}",
        )
    elif needed == 1:
        return  # one node holds it: `count` nodes serve `count` replicas
    elif not model.distributed:
        report.add(
            where,
            f"{model.name} needs {needs_text(model)} on one node, as it cannot be split across nodes; "
            f"one {sku.name} node has {offers_text(sku)}; {fix}",
        )
    elif ws.resource.count is not None and count < needed:
        report.add(
            "resource.count",
            f"{model.name} needs {needs_text(model)}, which {count} × {sku.name} "
            f"({offers_text(sku, count)}) cannot hold; set count to {needed} or more",
        )
    elif runtime == Runtime.TRANSFORMERS:
        report.add(
            f"metadata.annotations[{ANNOTATION_RUNTIME}]",
            f"{model.name} needs {needed} {sku.name} nodes and multi-node inference is not supported "
            "with the transformers runtime; use vllm",
        )
    elif not check_fit(model, sku, count).fits:
        report.add(where, f"{model.name} needs {needs_text(model)}; {sku.name} has {offers_text(sku, count)}")


def planned_node_count(ws: Workspace, model: ModelPreset | None, sku: GpuSku | None) -> int:
    """`resource.count` when the user set it, otherwise the fewest nodes that hold the model."""
    if ws.resource.count is not None:
        return ws.resource.count
    if model and sku:
        return nodes_needed(model, sku) or 1
    return 1


def planned_replicas(ws: Workspace, model: ModelPreset | None, sku: GpuSku | None) -> int | None:
    """Independent serving replicas: `count` of them when one node holds the model (KAITO serves count
    replicas on count nodes), else None: one replica spread across every node (pipeline parallel)."""
    count = planned_node_count(ws, model, sku)
    if model is None or sku is None:
        return count if ws.bring_your_own_nodes or count > 1 else None
    return count if nodes_needed(model, sku) == 1 else None


def check_update(old: Workspace, new: Workspace) -> list[Problem]:
    """KAITO's immutability rules: what a spec update may not change."""
    problems: list[Problem] = []
    if (old.inference is None) != (new.inference is None) or (old.tuning is None) != (new.tuning is None):
        problems.append(
            Problem("inference", "inference and tuning cannot be added or removed after creation")
        )
    if old.resource.instance_type and new.resource.instance_type != old.resource.instance_type:
        problems.append(
            Problem(
                "resource.instanceType",
                f"immutable: was {old.resource.instance_type}; create a new workspace for another VM size",
            )
        )
    if old.match_labels != new.match_labels:
        problems.append(Problem("resource.labelSelector", "immutable; create a new workspace to change it"))
    if old.resource.count != new.resource.count:
        problems.append(Problem("resource.count", "immutable; create a new workspace to change it"))
    old_preset = old.inference.preset if old.inference else None
    new_preset = new.inference.preset if new.inference else None
    if old_preset != new_preset:
        problems.append(Problem("inference.preset", "immutable; create a new workspace for another model"))
    return problems
