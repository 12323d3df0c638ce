"""Reading a Workspace manifest file for the CLI, turning every failure into one clear sentence."""

from pathlib import Path

import yaml

from workflows.inferenceset_spec import KIND as INFERENCESET_KIND
from workflows.inferenceset_spec import inferenceset_replica
from workflows.workspace_spec import Workspace
from workflows.workspace_validation import Problem, WorkspaceInvalid, parse_workspace


def load_workspace_file(path: Path) -> Workspace:
    """Parse the single Workspace in `path` (YAML or JSON) or raise WorkspaceInvalid saying why."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise WorkspaceInvalid([Problem(where, f"cannot read the file: {err.strerror or err}")]) from None
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise WorkspaceInvalid([Problem(where, f"not valid YAML{at}: {problem}")]) from None
    if len(documents) != 1:
        raise WorkspaceInvalid([Problem(where, f"expected one Workspace document, found {len(documents)}")])
    if isinstance(documents[0], dict) and documents[0].get("kind") == INFERENCESET_KIND:
        return inferenceset_replica(documents[0])
    return parse_workspace(documents[0])
