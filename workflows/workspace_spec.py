"""The KAITO `Workspace` resource as pydantic models.

A manifest written for KAITO (`kaito.sh/v1alpha1` or `v1beta1`) parses unchanged: spec fields sit at the
top level beside `metadata` and `status`, camelCase on the wire. The same model is the workspace
workflow's input, so `temporal workflow start --input-file workspace.json` takes the manifest itself.
"""

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, ValidationError, model_validator
from pydantic.alias_generators import to_camel

API_GROUP = "kaito.sh"
API_VERSIONS = ("kaito.sh/v1alpha1", "kaito.sh/v1beta1")
STORAGE_VERSION = "v1beta1"
KIND = "Workspace"
PLURAL = "workspaces"


class _Spec(BaseModel):
    """Spec parts: camelCase on the wire, unknown fields refused so a typo never passes silently."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True, extra="forbid"
    )


class LabelSelectorRequirement(_Spec):
    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(_Spec):
    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class PartitionSpec(_Spec):
    mode: str
    profile: str | None = None
    count: int | None = None


class ResourceSpec(_Spec):
    count: int | None = None
    instance_type: str | None = None
    label_selector: LabelSelector | None = None
    preferred_nodes: list[str] | None = None
    partition: PartitionSpec | None = None


class PresetOptions(_Spec):
    image: str | None = None
    image_pull_secrets: list[str] | None = None
    model_access_secret: str | None = None


class PresetSpec(_Spec):
    name: str
    access_mode: Literal["public", "private"] | None = None
    preset_options: PresetOptions | None = None


class DataSource(_Spec):
    """Where an adapter comes from: an image (pulled by an init container) or a volume."""

    name: str | None = None
    urls: list[str] | None = None
    volume_source: dict[str, Any] | None = None
    image: str | None = None
    image_pull_secrets: list[str] | None = None


class AdapterSpec(_Spec):
    """A LoRA adapter: its source and the strength (a number from 0 to 1, as a string) to apply it with."""

    source: DataSource | None = None
    strength: str | None = None


class InferenceSpec(_Spec):
    preset: PresetSpec | None = None
    template: dict[str, Any] | None = None
    config: str | None = None
    adapters: list[AdapterSpec] | None = None


class ObjectMeta(BaseModel):
    """The metadata we read; whatever else the apiserver adds (uid, managedFields …) is kept as is."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True, extra="allow"
    )

    name: str = ""
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    generation: int | None = None
    uid: str | None = None


class WorkspaceUndecodable(Exception):
    """A document that does not decode as a Workspace, with pydantic's errors (field, message).

    Not a ValueError, so pydantic passes it through unchanged: the workspace workflow names it as a
    failure type, and an input that is no Workspace fails the workflow instead of retrying its task
    forever, while any other decoding error still fails only the task.
    """

    def __init__(self, errors: list[Any]) -> None:
        self.errors = errors
        super().__init__(
            "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}" for e in errors)
        )


class Workspace(BaseModel):
    """One KAITO Workspace. `namespace_or_default` is where it lives when the manifest names none."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True, extra="forbid"
    )

    @model_validator(mode="wrap")
    @classmethod
    def _undecodable(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            return handler(data)
        except ValidationError as invalid:
            raise WorkspaceUndecodable(invalid.errors(include_url=False, include_context=False)) from None

    api_version: Literal["kaito.sh/v1alpha1", "kaito.sh/v1beta1"] = "kaito.sh/v1beta1"
    kind: Literal["Workspace"] = "Workspace"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    resource: ResourceSpec = Field(default_factory=ResourceSpec)
    inference: InferenceSpec | None = None
    tuning: dict[str, Any] | None = None
    status: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"

    @property
    def annotations(self) -> dict[str, str]:
        return self.metadata.annotations or {}

    @property
    def preset_name(self) -> str | None:
        if self.inference and self.inference.preset:
            return self.inference.preset.name
        return None

    @property
    def match_labels(self) -> dict[str, str]:
        """The selector as labels, as KAITO reads it: matchLabels plus each one-value `In` expression."""
        selector = self.resource.label_selector
        if selector is None:
            return {}
        labels = dict(selector.match_labels or {})
        for requirement in selector.match_expressions or []:
            if requirement.operator == "In" and requirement.values and len(requirement.values) == 1:
                labels[requirement.key] = requirement.values[0]
        return labels

    @property
    def bring_your_own_nodes(self) -> bool:
        """No instanceType: the workspace runs on existing GPU nodes its selector picks (KAITO's BYO)."""
        return not self.resource.instance_type

    def spec_dict(self) -> dict[str, Any]:
        """The user's desired state (resource, inference, tuning) in wire form, for change detection."""
        return self.model_dump(mode="json", include={"resource", "inference", "tuning"}, exclude_none=True)


def workflow_id_for(namespace: str, name: str) -> str:
    """The business key every door (kubectl, kaitoctl, temporal CLI) uses, so there is one workflow."""
    return f"workspace/{namespace}/{name}"
