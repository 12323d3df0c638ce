"""YAML parsing that refuses hostile input quickly: alias bombs, deep nesting, oversized text.

PyYAML's safe loader shares the object an alias points to, so a "billion laughs" document loads fast but
becomes exponentially large for whatever walks it next (validation, JSON encoding). Counting aliases
and nesting while composing stops it before any expansion; nothing a Workspace needs comes close.
"""

from typing import Any

import yaml

MAX_ALIASES = 100
MAX_EXPANDED_NODES = 100_000  # the nodes a walk of the document would visit, aliases expanded
MAX_DEPTH = 64
MAX_BYTES = 4 * 1024 * 1024


class YamlRefused(ValueError):
    """The text is not YAML we accept; the message says why, with the line when there is one."""


class _GuardedLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0
        self._weights: dict[int, int] = {}

    def _line(self) -> int:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        return int(event.start_mark.line) + 1

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                line = self._line()
                raise YamlRefused(
                    f"more than {MAX_ALIASES} YAML aliases (line {line}); "
                    "anchors and aliases that multiply a document are refused"
                )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlRefused(f"nested more than {MAX_DEPTH} levels deep (line {self._line()})")
            node: Any = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if id(node) not in self._weights:  # newly composed (an alias returns a node weighed already)
            weight = 1 + sum(self._weights.get(id(child), 1) for child in _children(node))
            self._weights[id(node)] = weight
            if weight > MAX_EXPANDED_NODES:
                raise YamlRefused(
                    f"expands to more than {MAX_EXPANDED_NODES} nodes through its YAML aliases "
                    f"(line {node.start_mark.line + 1}); aliases that multiply a document are refused"
                )
        return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _describe(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(err, "problem", None) or str(err)
    return f"not valid YAML{at}: {problem}"


def load_all(text: str) -> list[Any]:
    """Every document of `text`, empty ones dropped; YamlRefused for bad or hostile YAML."""
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise YamlRefused(f"larger than {MAX_BYTES // (1024 * 1024)} MiB; a manifest is far smaller")
    try:
        loader = _GuardedLoader(text)
    except yaml.YAMLError as err:
        raise YamlRefused(_describe(err)) from None
    try:
        documents: list[Any] = []
        while loader.check_data():  # type: ignore[no-untyped-call]
            documents.append(loader.get_data())
        return [doc for doc in documents if doc is not None]
    except yaml.YAMLError as err:
        raise YamlRefused(_describe(err)) from None
    except RecursionError:
        raise YamlRefused(f"nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()


def load_one(text: str) -> Any:
    """The single document of `text` (None when empty); YamlRefused when there are several."""
    documents = load_all(text)
    if len(documents) > 1:
        raise YamlRefused(f"expected one YAML document, found {len(documents)}")
    return documents[0] if documents else None
