"""Locate YAML nodes and tokens in a text: ruamel.yaml's C parser, else its pure one.

yamledit needs, for one file, the composed node graph (aliases are the same
node object as their anchor) with marks (character index, line, column) and
the token stream (for exact scalar spans, ``:`` and ``-`` positions). This
module composes the graph itself from the C parser's events (libyaml, as
tether.manifests reads) and takes the C scanner's tokens, with marks rebuilt
from line and column, so the character index is right whatever libyaml
counts. Where libyaml refuses what go-yaml reads (a ``:`` inside a flow plain
scalar) ruamel's pure parser composes instead; its scanner in turn refuses a
tab inside a plain scalar, which libyaml reads. Pure; raises ruamel's
YAMLError when neither parser reads the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MERGE_TAG: Final = "tag:yaml.org,2002:merge"
_LINE_BREAK: Final = re.compile("\r\n|[\r\n\x85\u2028\u2029]")

_CParser: Any
try:
    from ruamel.yaml import cyaml

    _CParser = getattr(cyaml, "CParser", None)
except ImportError:  # pragma: no cover - depends on ruamel.yaml.clib being installed
    _CParser = None


@dataclass(frozen=True)
class Token:
    """One scanner token: its type name, character span, column and scalar style."""

    kind: str
    start: int
    end: int
    column: int
    style: str | None


@dataclass(frozen=True)
class Mark:
    """A position: character index, 0-based line and column."""

    index: int
    line: int
    column: int


def compose(text: str) -> tuple[tuple[Node, ...], tuple[Token, ...]]:
    """The documents' root nodes and all tokens of ``text``: C parser first (4x faster),
    the pure one where libyaml refuses what go-yaml reads (``{a: b:c}``)."""
    if _CParser is not None:
        try:
            return compose_c(text)
        except YAMLError:
            pass
    return compose_pure(text)


def compose_pure(text: str) -> tuple[tuple[Node, ...], tuple[Token, ...]]:
    """``compose`` with ruamel's pure parser only."""
    yaml = YAML(typ="safe", pure=True)
    return tuple(yaml.compose_all(text)), tuple(_pure_tokens(yaml, text))


def compose_c(text: str) -> tuple[tuple[Node, ...], tuple[Token, ...]]:
    """``compose`` with the C parser only (ruamel.yaml.clib must be installed)."""
    if _CParser is None:
        raise RuntimeError("the C YAML parser (ruamel.yaml.clib) is not installed")
    marks = _Marks(text)
    return tuple(_c_roots(text, marks)), tuple(_c_tokens(text, marks))


def _pure_tokens(yaml: YAML, text: str) -> Iterator[Token]:
    for token in yaml.scan(text):
        yield Token(
            type(token).__name__,
            token.start_mark.index,
            token.end_mark.index,
            token.start_mark.column,
            getattr(token, "style", None),
        )


class _Marks:
    """Character index from (line, column), with YAML 1.1's line breaks."""

    def __init__(self, text: str) -> None:
        # In pure ASCII libyaml's index is the character index whichever way it counts.
        self._ascii = text.isascii()
        self._starts = [] if self._ascii else [0] + [m.end() for m in _LINE_BREAK.finditer(text)]

    def __call__(self, mark: Any) -> Mark:
        line, column = int(mark.line), int(mark.column)
        if self._ascii:
            return Mark(int(mark.index), line, column)
        start = self._starts[line] if line < len(self._starts) else self._starts[-1]
        return Mark(start + column, line, column)


def _c_tokens(text: str, marks: _Marks) -> Iterator[Token]:
    parser = _CParser(text)
    try:
        while parser.check_token():
            token = parser.get_token()
            start = marks(token.start_mark)
            yield Token(
                type(token).__name__,
                start.index,
                marks(token.end_mark).index,
                start.column,
                getattr(token, "style", None) or None,
            )
    finally:
        parser.dispose()


@dataclass
class _Open:
    node: Node
    items: list[Node]


def _c_roots(text: str, marks: _Marks) -> list[Node]:
    """ruamel nodes built from the C parser's events (no tag resolution but ``<<``)."""
    parser = _CParser(text)
    roots: list[Node] = []
    stack: list[_Open] = []
    anchors: dict[str, Node] = {}

    def add(node: Node) -> None:
        if stack:
            stack[-1].items.append(node)
        else:
            roots.append(node)

    try:
        while parser.check_event():
            event = parser.get_event()
            kind = type(event).__name__
            if kind == "DocumentStartEvent":
                anchors = {}
            elif kind == "AliasEvent":
                add(anchors[event.anchor])
            elif kind == "ScalarEvent":
                node: Node = ScalarNode(
                    event.tag or _implicit_tag(event),
                    event.value,
                    marks(event.start_mark),
                    marks(event.end_mark),
                    style=event.style or None,
                    anchor=event.anchor,
                )
                _remember(anchors, event.anchor, node)
                add(node)
            elif kind in ("MappingStartEvent", "SequenceStartEvent"):
                cls = MappingNode if kind == "MappingStartEvent" else SequenceNode
                node = cls(
                    event.tag,
                    [],
                    marks(event.start_mark),
                    None,
                    flow_style=event.flow_style,
                    anchor=event.anchor,
                )
                _remember(anchors, event.anchor, node)
                add(node)
                stack.append(_Open(node, []))
            elif kind in ("MappingEndEvent", "SequenceEndEvent"):
                _close(stack.pop(), marks(event.end_mark))
    finally:
        parser.dispose()
    return roots


def _implicit_tag(event: Any) -> str | None:
    plain = bool(event.implicit and event.implicit[0])
    return MERGE_TAG if plain and event.value == "<<" else None


def _remember(anchors: dict[str, Node], anchor: str | None, node: Node) -> None:
    if anchor:
        anchors[anchor] = node


def _close(open_: _Open, end: Mark) -> None:
    node = open_.node
    node.end_mark = end
    if isinstance(node, MappingNode):
        items = open_.items
        node.value = list(zip(items[0::2], items[1::2], strict=True))
    else:
        node.value = open_.items
