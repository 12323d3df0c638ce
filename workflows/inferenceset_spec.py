"""The KAITO `InferenceSet` resource (`kaito.sh/v1alpha1`, `v1beta1`) as pydantic models, with its rules.

An InferenceSet is `replicas` Workspaces stamped from one `template` (a Workspace's `resource` and
`inference`), each labelled `inferenceset.kaito.sh/created-by: <set>` and carrying the set's
`labelSelector` as its own. Unlike a Workspace it has a `spec`. The model is the InferenceSet workflow's
input, and `validate_inferenceset` runs the same checks in `kaitoctl workspace validate`, the controller
and the workflow: KAITO's own (a DNS-1123 name, `replicas` ≥ 0, a `labelSelector`) plus every Workspace
rule applied to the Workspace a replica gets. Pure: nothing here touches a cluster.
"""

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from workflows.naming import MAX_WORKSPACE_NAME
from workflows.sweep_contracts import ANNOTATION_SCALE_TO_ZERO
from workflows.workspace_spec import (
    InferenceSpec,
    LabelSelector,
    ObjectMeta,
    PartitionSpec,
    ResourceSpec,
    Workspace,
)
from workflows.workspace_validation import Problem, Report, WorkspaceInvalid, validate_workspace

KIND = "InferenceSet"
PLURAL = "inferencesets"
API_VERSIONS = ("kaito.sh/v1alpha1", "kaito.sh/v1beta1")
STORAGE_VERSION = "v1beta1"
LABEL_CREATED_BY = "inferenceset.kaito.sh/created-by"
DEFAULT_REPLICAS = 1
# KAITO names each replica's Workspace with `generateName: <set>-`: five characters of this alphabet.
REPLICA_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
REPLICA_SUFFIX_LENGTH = 5
MAX_INFERENCESET_NAME = MAX_WORKSPACE_NAME - 1 - REPLICA_SUFFIX_LENGTH
# Read by KAITO's KEDA scaler (keda-kaito-scaler), which is a separate install.
ANNOTATION_AUTOSCALING_PREFIX = "scaledobject.kaito.sh/"
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class _Spec(BaseModel):
    """camelCase on the wire; unknown fields refused so that a typo never passes silently."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True, extra="forbid"
    )


class TemplateMeta(_Spec):
    """The labels and annotations every replica's Workspace gets."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class InferenceSetResource(_Spec):
    instance_type: str | None = None
    partition: PartitionSpec | None = None  # v1beta1; passed to each Workspace unchanged


class InferenceSetTemplate(_Spec):
    metadata: TemplateMeta | None = None
    resource: InferenceSetResource = Field(default_factory=InferenceSetResource)
    inference: InferenceSpec


class InferenceSetSpec(_Spec):
    template: InferenceSetTemplate
    replicas: int | None = None
    node_count_limit: int | None = None
    label_selector: LabelSelector | None = None
    update_strategy: dict[str, Any] | None = None
    auto_upgrade: dict[str, Any] | None = None


class InferenceSet(BaseModel):
    """One KAITO InferenceSet; `replicas` defaults to 1 as KAITO's CRD does, and 0 is allowed."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True, extra="forbid"
    )

    api_version: Literal["kaito.sh/v1alpha1", "kaito.sh/v1beta1"] = "kaito.sh/v1alpha1"
    kind: Literal["InferenceSet"] = "InferenceSet"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: InferenceSetSpec
    status: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"

    @property
    def replicas(self) -> int:
        return DEFAULT_REPLICAS if self.spec.replicas is None else self.spec.replicas

    @property
    def autoscaling_annotations(self) -> dict[str, str]:
        annotations = self.metadata.annotations or {}
        return {k: v for k, v in annotations.items() if k.startswith(ANNOTATION_AUTOSCALING_PREFIX)}


def workflow_id_for(namespace: str, name: str) -> str:
    """The business key of the one InferenceSet workflow, whichever door starts it."""
    return f"inferenceset/{namespace}/{name}"


def selector_of(name: str) -> str:
    """`status.selector`: what the scale subresource reports, the label every replica's Workspace has."""
    return f"{LABEL_CREATED_BY}={name}"


def replica_name(set_name: str, suffix: str) -> str:
    return f"{set_name}-{suffix}"


def replica_workspace(iset: InferenceSet, name: str) -> Workspace:
    """The Workspace one replica runs, as KAITO's controller builds it from the template."""
    template = iset.spec.template
    meta = template.metadata or TemplateMeta()
    labels = {**(meta.labels or {}), LABEL_CREATED_BY: iset.name}
    resource = ResourceSpec(
        instance_type=template.resource.instance_type,
        label_selector=iset.spec.label_selector,
        partition=template.resource.partition,
    )
    # The set scales its replicas (replicas: 0 suspends them); the idle sweep must not suspend one the
    # set would resume.
    annotations = {**(meta.annotations or {}), ANNOTATION_SCALE_TO_ZERO: "false"}
    return Workspace(
        api_version="kaito.sh/v1beta1",
        metadata=ObjectMeta(name=name, namespace=iset.namespace, labels=labels, annotations=annotations),
        resource=resource,
        inference=template.inference.model_copy(deep=True),
    )


def parse_inferenceset(data: Any) -> InferenceSet:
    """Parse a manifest (already loaded from YAML/JSON) or raise WorkspaceInvalid naming each field."""
    if not isinstance(data, dict):
        raise WorkspaceInvalid(
            [Problem("(document)", "expected an InferenceSet object, got " + type(data).__name__)]
        )
    if data.get("kind") != KIND:
        raise WorkspaceInvalid([Problem("kind", f"expected InferenceSet, got {data.get('kind')!r}")])
    if data.get("apiVersion") not in API_VERSIONS:
        versions = ", ".join(API_VERSIONS)
        raise WorkspaceInvalid(
            [Problem("apiVersion", f"expected one of {versions}, got {data.get('apiVersion')!r}")]
        )
    try:
        return InferenceSet.model_validate(data)
    except ValidationError as exc:
        raise WorkspaceInvalid([_from_pydantic(err) for err in exc.errors()]) from None


def _from_pydantic(err: Any) -> Problem:
    where = ".".join(str(part) for part in err["loc"]) or "(document)"
    if err["type"] == "extra_forbidden":
        return Problem(where, "unknown field; check its spelling against the KAITO InferenceSet API")
    return Problem(where, err["msg"])


def validate_inferenceset(iset: InferenceSet) -> Report:
    """KAITO's InferenceSet rules, then every Workspace rule on the Workspace each replica gets."""
    report = Report()
    name = iset.name
    if not name:
        report.add("metadata.name", "required; give the InferenceSet a name such as phi-4-mini")
    elif not DNS1123_LABEL.match(name):
        report.add(
            "metadata.name",
            f"{name!r} is not a DNS-1123 label; use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit",
        )
    elif len(name) > MAX_INFERENCESET_NAME:
        report.add(
            "metadata.name",
            f"{name!r} is {len(name)} characters; at most {MAX_INFERENCESET_NAME}, so that each "
            f"replica's Workspace ({name[:20]}…-xxxxx) stays within {MAX_WORKSPACE_NAME}",
        )
    spec = iset.spec
    if spec.replicas is not None and spec.replicas < 0:
        report.add("spec.replicas", f"{spec.replicas} must be non-negative (0 suspends every replica)")
    if spec.node_count_limit is not None and spec.node_count_limit < 0:
        report.add("spec.nodeCountLimit", f"{spec.node_count_limit} must be non-negative (0: no limit)")
    if spec.label_selector is None or not (
        spec.label_selector.match_labels or spec.label_selector.match_expressions
    ):
        report.add(
            "spec.labelSelector",
            "required; every replica's Workspace uses it as resource.labelSelector, e.g. "
            f"matchLabels: {{apps: {name or 'my-set'}}}",
        )
    if iset.autoscaling_annotations:
        report.warnings.append(
            f"annotations {', '.join(sorted(iset.autoscaling_annotations))} are accepted but not acted "
            "on: they configure KAITO's KEDA scaler, which is not part of kaito-temporal; "
            "change spec.replicas (or kubectl scale) instead"
        )
    template_annotations = (spec.template.metadata.annotations if spec.template.metadata else None) or {}
    if template_annotations.get(ANNOTATION_SCALE_TO_ZERO, "false").strip().lower() != "false":
        report.warnings.append(
            f"spec.template.metadata.annotations[{ANNOTATION_SCALE_TO_ZERO}] is set to false on every "
            "replica: the InferenceSet scales its replicas (replicas: 0 suspends them)"
        )
    if spec.auto_upgrade:
        report.warnings.append("spec.autoUpgrade is accepted but not acted on")
    if name and DNS1123_LABEL.match(name) and len(name) <= MAX_INFERENCESET_NAME:
        child = validate_workspace(replica_workspace(iset, replica_name(name, "x" * REPLICA_SUFFIX_LENGTH)))
        report.errors.extend(Problem(_template_field(p.field), p.message) for p in child.errors)
        report.warnings.extend(child.warnings)
    return report


def validate_inferenceset_or_raise(iset: InferenceSet) -> Report:
    report = validate_inferenceset(iset)
    if not report.ok:
        raise WorkspaceInvalid(report.errors)
    return report


def _template_field(where: str) -> str:
    """A replica Workspace's field, said as the InferenceSet field it comes from."""
    if where.startswith("resource.labelSelector"):
        return "spec.labelSelector" + where.removeprefix("resource.labelSelector")
    if where.startswith("metadata.name"):
        return "metadata.name"
    return "spec.template." + where
