"""KAITO's checks of an `inference.config` ConfigMap, pure so every door applies the same words.

KAITO's webhook (v1beta1) reads the ConfigMap a Workspace names in `inference.config` from the
workspace's namespace. For the vLLM runtime it must hold `inference_config.yaml`, that must parse as
YAML, and a `vllm.max-model-len` there must be an integer no larger than the model's context window.
"""

from collections.abc import Mapping
from typing import Any

from presets.models import ModelPreset
from workflows.guarded_yaml import YamlRefused, load_one

CONFIG_KEY = "inference_config.yaml"
MOUNT_PATH = "/mnt/config"
# A ConfigMap's data is at most 1 MiB; a document bigger than that cannot be one.
MAX_CONFIG_BYTES = 1024 * 1024


def config_map_problems(
    config_map: Mapping[str, Any] | None, name: str, namespace: str, model: ModelPreset | None, runtime: str
) -> list[tuple[str, str]]:
    """(field, message) pairs for what KAITO would refuse in the named ConfigMap; [] when it is fine."""
    where = "inference.config"
    if config_map is None:
        return [(where, f"ConfigMap {name!r} not found in namespace {namespace!r}; create it first")]
    data = config_map.get("data")
    if data is not None and not isinstance(data, Mapping):
        return [(where, f"ConfigMap {name!r}: data must be a mapping of file names to text")]
    text = (data or {}).get(CONFIG_KEY)
    if text is None:
        return [(where, f"ConfigMap {name!r} has no {CONFIG_KEY} key; put the vllm settings under it")]
    if not isinstance(text, str):
        return [(where, f"ConfigMap {name!r}: {CONFIG_KEY} must be text, not {type(text).__name__}")]
    if len(text.encode()) > MAX_CONFIG_BYTES:
        return [(where, f"ConfigMap {name!r}: {CONFIG_KEY} is over 1 MiB, the most a ConfigMap holds")]
    try:
        parsed = load_one(text)
    except YamlRefused as refused:
        return [(where, f"ConfigMap {name!r}: {CONFIG_KEY} is {refused}")]
    if parsed is None:
        return []
    if not isinstance(parsed, Mapping):
        return [(where, f"ConfigMap {name!r}: {CONFIG_KEY} must be a mapping, not {type(parsed).__name__}")]
    vllm = parsed.get("vllm")
    if vllm is None:
        return []
    if not isinstance(vllm, Mapping):
        return [(where, f"ConfigMap {name!r}: the vllm section must be a mapping of vLLM arguments")]
    if runtime != "vllm" or model is None or model.model_token_limit is None:
        return []
    raw = vllm.get("max-model-len")
    if raw is None or str(raw).strip() == "":
        return []
    try:
        value = int(str(raw).strip())
    except ValueError:
        return [(where, f"ConfigMap {name!r}: vllm.max-model-len must be an integer, not {raw!r}")]
    if value > model.model_token_limit:
        return [
            (
                where,
                f"ConfigMap {name!r}: vllm.max-model-len {value} exceeds {model.name}'s context window of "
                f"{model.model_token_limit} tokens; set it to {model.model_token_limit} or less",
            )
        ]
    return []
