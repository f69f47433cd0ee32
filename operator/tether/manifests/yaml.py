"""Load a YAML stream into plain JSON values, meaning what it means to kubectl.

kubectl reads YAML 1.1 through go-yaml v2 and converts it to JSON. This module
drives ruamel.yaml's event parser (the libyaml-based C parser when present,
the pure-Python one otherwise) and builds the values itself, so that:

- scalars resolve as go-yaml v2 resolves them (see scalars.py);
- a duplicate key is an error naming the line (kubectl would keep the last);
- anchors and aliases are re-decoded per use, with go-yaml's limit on
  excessive aliasing, and merge keys ``<<`` behave as in go-yaml v2
  (applied in order; earlier maps in a ``<<`` list win);
- keys are stringified as sigs.k8s.io/yaml does, and keys kubectl rejects
  (null, lists, maps, integers past int64) are errors;
- infinity and NaN are errors, as JSON cannot hold them;
- nesting deeper than ``max_depth`` is an error instead of a crash (the C
  composer would overflow the C stack).

Values are dict/list/str/int/float/bool/None only. Empty documents are
skipped but counted, so document indexes match what a user sees between
``---`` separators. Objects, files and Lists are the callers' business.

Known gap of the pure fallback only: ruamel's pure scanner rejects a tab
inside or right before a plain scalar (``a: x<TAB>y``), which kubectl and the
C parser accept.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from tether.manifests.errors import DuplicateKeyError, SizeLimitError, YAMLSyntaxError
from tether.manifests.scalars import MERGE, Merge, Scalar, json_number, map_key, resolve_plain

_CParser: Any
try:
    from ruamel.yaml import cyaml

    _CParser = getattr(cyaml, "CParser", None)
except ImportError:  # pragma: no cover - depends on ruamel.yaml.clib being installed
    _CParser = None

Loader = Literal["auto", "c", "pure"]

DEFAULT_MAX_DEPTH: Final = 512

_TAG = "tag:yaml.org,2002:"
_STR, _BINARY = _TAG + "str", _TAG + "binary"
_TYPED_TAGS: Final = {
    _TAG + "int": "int",
    _TAG + "float": "float",
    _TAG + "bool": "bool",
    _TAG + "null": "null",
    _TAG + "timestamp": "timestamp",
}


@dataclass(frozen=True)
class Document:
    """One non-empty document: its index in the stream, first line (1-based) and value."""

    index: int
    line: int
    value: Any


def c_loader_available() -> bool:
    """True when ruamel.yaml's C parser (ruamel.yaml.clib) can be used."""
    return _CParser is not None


def load_documents(
    data: bytes | str,
    *,
    file: str,
    loader: Loader = "auto",
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> list[Document]:
    """Parse every document of a YAML stream; raise YAMLSyntaxError naming ``file``."""
    text = decode_text(data, file=file)
    decoder = _Decoder(_events(text, loader), file=file, max_depth=max_depth)
    try:
        return list(decoder.documents())
    except YAMLError as exc:
        if loader == "auto" and _CParser is not None and _c_scanner_gap(exc):
            return load_documents(text, file=file, loader="pure", max_depth=max_depth)
        raise _syntax_error(exc, text, file=file, doc=decoder.doc_index) from None


def _c_scanner_gap(exc: YAMLError) -> bool:
    """The bundled libyaml refuses ``{image: nginx:1.25}`` (a ':' inside a flow plain
    scalar), which go-yaml v2 and so kubectl accept; the pure parser reads it right."""
    return "found unexpected ':'" in str(getattr(exc, "problem", "") or "")


def decode_text(data: bytes | str, *, file: str) -> str:
    """Decode UTF-8 bytes, dropping a byte-order mark; other encodings are an error."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YAMLSyntaxError(
            f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8", file=file
        ) from None


def _events(text: str, loader: Loader) -> Iterator[Any]:
    if loader == "c" and _CParser is None:
        raise RuntimeError("the C YAML parser (ruamel.yaml.clib) is not installed")
    if loader != "pure" and _CParser is not None:
        parser = _CParser(text)
        try:
            while parser.check_event():
                yield parser.get_event()
        finally:
            parser.dispose()
        return
    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 1)
    yield from yaml.parse(text)


def _syntax_error(exc: YAMLError, text: str, *, file: str, doc: int) -> YAMLSyntaxError:
    line: int | None = None
    cause = str(getattr(exc, "problem", None) or exc).strip()
    if isinstance(exc, MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        line = mark.line + 1
        if _tab_near(text, mark.line, mark.column):
            cause = "a tab character is used for indentation; YAML allows only spaces there"
    return YAMLSyntaxError(cause, file=file, doc=doc, line=line)


def _tab_near(text: str, line: int, column: int) -> bool:
    lines = text.splitlines()
    if not 0 <= line < len(lines):
        return False
    indent = lines[line][: max(column, 0) + 1]
    return "\t" in indent and not indent.replace("\t", "").replace(" ", "")


@dataclass
class _Alias:
    """An alias resolved at parse time to the recorded events of its anchor."""

    events: list[Any]
    line: int


class _Frame:
    __slots__ = ("anchor", "container", "is_map", "key", "key_line", "merge", "merged")

    def __init__(self, container: Any, is_map: bool, anchor: str | None) -> None:
        self.container = container
        self.is_map = is_map
        self.anchor = anchor
        self.key: str | None = None
        self.key_line = 0
        self.merge = False
        self.merged: set[str] | None = None


class _Decoder:
    """Turns parser events into documents; one instance per stream."""

    def __init__(self, events: Iterator[Any], *, file: str, max_depth: int) -> None:
        self._parser = events
        self._file = file
        self._max_depth = max_depth
        self.doc_index = 0
        self._sources: list[Iterator[Any]] = []
        self._anchors: dict[str, list[Any]] = {}
        self._recorders: list[tuple[str, list[Any]]] = []
        self._decoded = 0
        self._aliased = 0

    def documents(self) -> Iterator[Document]:
        for event in self._parser:
            kind = type(event)
            if kind is StreamStartEvent or kind is StreamEndEvent:
                continue
            if kind is not DocumentStartEvent:  # pragma: no cover - parser guarantees order
                raise self._error("unexpected YAML event", event)
            self._anchors.clear()
            self._decoded = self._aliased = 0
            first = self._next()
            value = self._decode(first)
            end = next(self._parser)
            if type(end) is not DocumentEndEvent:  # pragma: no cover
                raise self._error("unexpected YAML event", end)
            if value is not None:
                yield Document(self.doc_index, first.start_mark.line + 1, value)
            self.doc_index += 1

    def _next(self) -> Any:
        """The next event: from the innermost alias being replayed, else the parser."""
        while self._sources:
            try:
                return next(self._sources[-1])
            except StopIteration:
                self._sources.pop()
        event = next(self._parser)
        if type(event) is AliasEvent:
            event = self._resolve_alias(event)
        for _, recorded in self._recorders:
            recorded.append(event)
        return event

    def _resolve_alias(self, event: Any) -> _Alias:
        name = event.anchor
        if any(name == pending for pending, _ in self._recorders):
            raise self._error(f"anchor {name!r} value contains itself", event)
        if name not in self._anchors:
            raise self._error(f"unknown anchor {name!r} referenced", event)
        return _Alias(self._anchors[name], event.start_mark.line + 1)

    def _decode(self, event: Any) -> Any:
        """Decode one node starting at ``event``; iterative, so depth costs no stack."""
        stack: list[_Frame] = []
        while True:
            kind = type(event)
            if kind is _Alias:
                self._sources.append(iter(event.events))
                event = self._next()
                continue
            self._count(event)
            replaying = bool(self._sources)
            if kind is ScalarEvent:
                if not replaying and event.anchor is not None:
                    self._anchors[event.anchor] = [event]
                if stack and stack[-1].is_map and stack[-1].key is None and not stack[-1].merge:
                    self._take_key(stack[-1], event)
                    event = self._next()
                    continue
                value: Any = self._scalar_value(event)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if stack and stack[-1].is_map and stack[-1].key is None and not stack[-1].merge:
                    raise self._error("invalid map key: a key must be a scalar", event)
                if len(stack) >= self._max_depth:
                    raise SizeLimitError(
                        f"nesting deeper than {self._max_depth} levels",
                        file=self._file,
                        doc=self.doc_index,
                        line=event.start_mark.line + 1,
                    )
                is_map = kind is MappingStartEvent
                anchor = None if replaying else event.anchor
                if anchor is not None:
                    self._recorders.append((anchor, [event]))
                stack.append(_Frame({} if is_map else [], is_map, anchor))
                event = self._next()
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                frame = stack.pop()
                value = frame.container
                if frame.anchor is not None:
                    name, recorded = self._recorders.pop()
                    self._anchors[name] = recorded
            else:  # pragma: no cover - the parser only emits the kinds above here
                raise self._error("unexpected YAML event", event)
            if not stack:
                return value
            self._store(stack[-1], value, event)
            event = self._next()

    def _count(self, event: Any) -> None:
        """go-yaml v2's guard against alias bombs: too large a share of aliased nodes."""
        self._decoded += 1
        if self._sources:
            self._aliased += 1
        if (
            self._aliased > 100
            and self._decoded > 1000
            and self._aliased / self._decoded > _allowed_alias_ratio(self._decoded)
        ):
            raise SizeLimitError(
                "document contains excessive aliasing",
                file=self._file,
                doc=self.doc_index,
                line=event.start_mark.line + 1,
            )

    def _take_key(self, frame: _Frame, event: Any) -> None:
        resolved = self._scalar(event)
        if resolved is MERGE and (event.tag is None or str(event.tag) == _TAG + "merge"):
            frame.merge = True
            frame.key_line = event.start_mark.line + 1
            return
        try:
            frame.key = map_key(resolved)
        except ValueError as exc:
            raise self._error(str(exc), event) from None
        frame.key_line = event.start_mark.line + 1

    def _store(self, frame: _Frame, value: Any, event: Any) -> None:
        if not frame.is_map:
            frame.container.append(value)
            return
        if frame.merge:
            frame.merge = False
            self._merge(frame, value)
            return
        key = frame.key
        assert key is not None
        frame.key = None
        mapping = frame.container
        if key in mapping:
            if frame.merged is None or key not in frame.merged:
                raise DuplicateKeyError(
                    f"duplicate key {key!r}",
                    file=self._file,
                    doc=self.doc_index,
                    line=frame.key_line,
                )
            frame.merged.discard(key)
        mapping[key] = value

    def _merge(self, frame: _Frame, value: Any) -> None:
        if isinstance(value, dict):
            sources = [value]
        elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
            sources = list(reversed(value))
        else:
            raise YAMLSyntaxError(
                "map merge requires map or sequence of maps as the value",
                file=self._file,
                doc=self.doc_index,
                line=frame.key_line,
            )
        if frame.merged is None:
            frame.merged = set()
        for source in sources:
            frame.container.update(source)
            frame.merged.update(source)

    def _scalar_value(self, event: Any) -> Any:
        resolved = self._scalar(event)
        if isinstance(resolved, bool) or resolved is None or isinstance(resolved, str):
            return resolved
        if isinstance(resolved, Merge):
            return "<<"
        try:
            return json_number(resolved)
        except ValueError as exc:
            raise self._error(str(exc), event) from None

    def _scalar(self, event: Any) -> Scalar:
        tag = event.tag
        if tag is None:
            return resolve_plain(event.value) if event.implicit[0] else event.value
        tag = str(tag)
        if tag == _STR or tag == "!":
            return str(event.value)
        expected = _TYPED_TAGS.get(tag)
        if expected is not None:
            return self._typed(event, expected)
        if tag == _BINARY:
            return self._binary(event)
        return str(event.value)

    def _typed(self, event: Any, expected: str) -> Scalar:
        resolved = resolve_plain(event.value)
        if expected == "timestamp":
            return str(event.value)
        actual = _type_name(resolved)
        if expected == "float" and actual == "int":
            return float(resolved)  # type: ignore[arg-type]
        if actual != expected:
            raise self._error(f"cannot decode !!{actual} `{event.value}` as a !!{expected}", event)
        return resolved

    def _binary(self, event: Any) -> str:
        try:
            raw = base64.b64decode("".join(event.value.split()), validate=True)
        except (binascii.Error, ValueError):
            raise self._error("!!binary value is not valid base64", event) from None
        return raw.decode("utf-8", errors="replace")

    def _error(self, cause: str, event: Any) -> YAMLSyntaxError:
        line = event.start_mark.line + 1 if hasattr(event, "start_mark") else event.line
        return YAMLSyntaxError(cause, file=self._file, doc=self.doc_index, line=line)


def _type_name(value: Scalar) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if value is None:
        return "null"
    return "str"


def _allowed_alias_ratio(decoded: int) -> float:
    low, high = 400_000, 4_000_000
    if decoded <= low:
        return 0.99
    if decoded >= high:
        return 0.10
    return 0.99 - 0.89 * (decoded - low) / (high - low)
