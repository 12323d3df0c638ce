"""The model preset catalog: what each KAITO preset needs to run and how it is served."""

from enum import StrEnum
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from presets._data import read_data_file


class Runtime(StrEnum):
    VLLM = "vllm"
    TRANSFORMERS = "transformers"


class ModelPreset(BaseModel):
    """One preset. Memory figures are GiB; `gpu_memory_gib` is the whole model's need across GPUs."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    name: str
    hf_repo: str = Field(alias="hfRepo")
    hf_revision: str = Field(alias="hfRevision")
    gpu_count: int = Field(alias="gpuCount", gt=0)
    gpu_memory_gib: float = Field(alias="gpuMemoryGiB", gt=0)
    per_gpu_memory_gib: float = Field(default=0, alias="perGpuMemoryGiB", ge=0)
    disk_gib: int = Field(alias="diskGiB", gt=0)
    runtimes: tuple[Runtime, ...]
    image: str
    readiness_timeout_minutes: int = Field(alias="readinessTimeoutMinutes", gt=0)
    gated: bool = False
    download_at_runtime: bool = Field(default=False, alias="downloadAtRuntime")
    distributed: bool = False
    private_image: bool = Field(default=False, alias="accessMode")
    model_token_limit: int | None = Field(default=None, alias="modelTokenLimit", gt=0)
    deprecated: str | None = None
    source: str = Field(min_length=1)

    @field_validator("private_image", mode="before")
    @classmethod
    def _access_mode(cls, value: object) -> object:
        """`accessMode: private` (KAITO's word) means the user names the image; public is the default."""
        if isinstance(value, str):
            if value not in ("public", "private"):
                raise ValueError(f"accessMode must be public or private, not {value!r}")
            return value == "private"
        return value

    @property
    def default_runtime(self) -> Runtime:
        return self.runtimes[0]

    @property
    def served_model_name(self) -> str:
        """vLLM's `--served-model-name`: the repo's last path segment, lowercased (KAITO's rule)."""
        return self.hf_repo.rsplit("/", 1)[-1].lower()


@cache
def all_models() -> tuple[ModelPreset, ...]:
    data = read_data_file("models.yaml")
    defaults: dict[str, Any] = data.get("defaults", {})
    return tuple(ModelPreset.model_validate({**defaults, **raw}) for raw in data["models"])


@cache
def _index() -> dict[str, ModelPreset]:
    """Presets by lowercased short name and by lowercased Hugging Face repo id."""
    index: dict[str, ModelPreset] = {}
    for preset in all_models():
        index[preset.name.lower()] = preset
        index[preset.hf_repo.lower()] = preset
    return index


def find_model(name: str) -> ModelPreset | None:
    """The preset named by its short name or its `org/model` id, or None when unknown."""
    return _index().get(name.strip().lower())


def model_names() -> list[str]:
    return [preset.name for preset in all_models()]
