"""Reading the packaged YAML data files, so loaders stay free of path handling."""

from importlib import resources
from typing import Any

import yaml


def read_data_file(name: str) -> dict[str, Any]:
    """Parse one file from `presets/data/`; it ships inside the wheel, so no path is configured."""
    text = resources.files("presets").joinpath("data", name).read_text(encoding="utf-8")
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise ValueError(f"presets/data/{name} must hold a mapping")
    return loaded
