"""Reading a manifest file for the CLI: every document, dispatched on its kind, every failure one sentence.

A KAITO example file may carry a Secret and a ConfigMap beside its Workspace (or an InferenceSet), as
`kubectl apply -f` takes them. Each kind has a parser in `PARSERS`; kinds KAITO has but we do not run
yet are refused with one line naming the kind, and anything else is refused as unknown.
"""

import base64
import binascii
import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflows.guarded_yaml import YamlRefused, load_all
from workflows.inferenceset_spec import KIND as INFERENCESET_KIND
from workflows.inferenceset_spec import parse_inferenceset
from workflows.workspace_spec import Workspace
from workflows.workspace_validation import Problem, WorkspaceInvalid, parse_workspace

Parser = Callable[[dict[str, Any]], Any]

NOT_SUPPORTED_KINDS = {
    "MultiRoleInference": "kaito.sh MultiRoleInference (prefill/decode roles) is not supported yet; "
    "run each role as its own Workspace",
    "RAGEngine": "kaito.sh RAGEngine is not supported yet; only Workspaces (and InferenceSets) run here",
}


def _metadata(data: dict[str, Any], kind: str) -> dict[str, Any]:
    metadata = data.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
        raise WorkspaceInvalid([Problem(f"{kind}.metadata.name", "required: give the object a name")])
    namespace = metadata.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise WorkspaceInvalid([Problem(f"{kind}.metadata.namespace", "must be a string")])
    return metadata


def parse_config_map(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 ConfigMap: a name and string data (KAITO's inference config lives there)."""
    _metadata(data, "ConfigMap")
    if data.get("apiVersion") != "v1":
        raise WorkspaceInvalid(
            [Problem("ConfigMap.apiVersion", f"expected v1, got {data.get('apiVersion')!r}")]
        )
    values = data.get("data")
    if values is not None and (
        not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values())
    ):
        raise WorkspaceInvalid([Problem("ConfigMap.data", "must map file names to text")])
    return data


def parse_secret(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 Secret (the Hugging Face token KAITO's examples carry): a name and string data."""
    _metadata(data, "Secret")
    if data.get("apiVersion") != "v1":
        raise WorkspaceInvalid([Problem("Secret.apiVersion", f"expected v1, got {data.get('apiVersion')!r}")])
    for section in ("data", "stringData"):
        values = data.get(section)
        if values is not None and (
            not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values())
        ):
            raise WorkspaceInvalid([Problem(f"Secret.{section}", "must map keys to text")])
    return data


def secret_placeholders(secret: dict[str, Any]) -> list[str]:
    """The `data` keys whose values are not base64, as in examples that leave the token to the user."""
    bad: list[str] = []
    for key, value in (secret.get("data") or {}).items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            bad.append(key)
    return bad


# kind → parser.
PARSERS: dict[str, Parser] = {
    "Workspace": parse_workspace,
    INFERENCESET_KIND: parse_inferenceset,
    "ConfigMap": parse_config_map,
    "Secret": parse_secret,
}


@dataclass(frozen=True)
class Document:
    """One parsed document: its kind, name and namespace (None: the default), and what its parser made."""

    kind: str
    name: str
    namespace: str | None
    raw: dict[str, Any]
    parsed: Any


@dataclass(frozen=True)
class Manifest:
    path: str
    documents: list[Document]

    @property
    def workspaces(self) -> list[Workspace]:
        return [doc.parsed for doc in self.documents if isinstance(doc.parsed, Workspace)]

    def raw_workspace(self) -> dict[str, Any]:
        """A copy of the first Workspace document as written, for callers that edit and re-parse it."""
        return copy.deepcopy(self.of_kind("Workspace")[0].raw)

    def of_kind(self, kind: str) -> list[Document]:
        return [doc for doc in self.documents if doc.kind == kind]

    def config_map(self, name: str, namespace: str) -> dict[str, Any] | None:
        """The ConfigMap of that name in the file, in the given namespace (unset means default)."""
        for doc in self.of_kind("ConfigMap"):
            if doc.name == name and (doc.namespace or "default") == namespace:
                return doc.raw
        return None


def _where(path: str, index: int, count: int) -> str:
    return f"{path} (document {index + 1} of {count})" if count > 1 else path


def parse_document(data: Any, where: str) -> Document:
    """Dispatch one loaded document on its kind; WorkspaceInvalid names the document and the field."""
    if not isinstance(data, dict):
        raise WorkspaceInvalid(
            [Problem(where, f"expected a Kubernetes object (a mapping), got {type(data).__name__}")]
        )
    kind = data.get("kind")
    if not isinstance(kind, str) or not kind:
        raise WorkspaceInvalid([Problem(where, "no kind: every document needs apiVersion and kind")])
    if kind in NOT_SUPPORTED_KINDS:
        raise WorkspaceInvalid([Problem(where, NOT_SUPPORTED_KINDS[kind])])
    parser = PARSERS.get(kind)
    if parser is None:
        known = ", ".join(sorted(PARSERS))
        raise WorkspaceInvalid([Problem(where, f"kind {kind!r} is not one this tool applies ({known})")])
    try:
        parsed = parser(data)
    except WorkspaceInvalid as invalid:
        raise WorkspaceInvalid(
            [Problem(f"{where}: {p.field}", p.message) for p in invalid.problems]
        ) from None
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    name = str((metadata or {}).get("name") or "")
    namespace = (metadata or {}).get("namespace")
    return Document(kind=kind, name=name, namespace=namespace, raw=data, parsed=parsed)


def load_manifest(path: Path) -> Manifest:
    """Every document of `path` (YAML or JSON), parsed, or WorkspaceInvalid naming what is wrong."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise WorkspaceInvalid([Problem(where, "not UTF-8 text; a manifest is YAML or JSON")]) from None
    except OSError as err:
        raise WorkspaceInvalid([Problem(where, f"cannot read the file: {err.strerror or err}")]) from None
    try:
        loaded = load_all(text)
    except YamlRefused as refused:
        raise WorkspaceInvalid([Problem(where, str(refused))]) from None
    if not loaded:
        raise WorkspaceInvalid([Problem(where, "no documents: the file is empty")])
    problems: list[Problem] = []
    documents: list[Document] = []
    for index, data in enumerate(loaded):
        try:
            documents.append(parse_document(data, _where(where, index, len(loaded))))
        except WorkspaceInvalid as invalid:
            problems.extend(invalid.problems)
    if problems:
        raise WorkspaceInvalid(problems)
    return Manifest(path=where, documents=documents)
