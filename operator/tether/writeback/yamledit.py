"""Byte-preserving YAML edits: change one node of one document, keep every other byte.

The file is never re-dumped. ruamel.yaml composes it (its C parser, or the
pure one where libyaml refuses the file, see yamlcompose.py) only to *locate*
nodes: each scalar's exact span (from its token marks) and each collection's
extent. An edit splices new text into the original string at
that span, so comments, key order, quoting, indentation, flow style, anchors
and merge keys, blank lines, CRLF, tabs, other documents, ``---``/``...``
markers, a byte-order mark and a missing final newline outside the span are
untouched by construction.

The new scalar keeps the old one's style when it can (plain, single- or
double-quoted, literal or folded block; the anchor and tag in front stay),
and falls back to double quotes. Every edit is then *verified*: the new
file is parsed again as kubectl reads it (tether.manifests) and must equal
the old parse with exactly the intended change, in every document; if no
rendering passes, the file is refused with NotRoundTrippable and never
written. A missing key is inserted as a new line after the mapping's last
entry, at the indentation of its keys (inside ``{...}`` for a flow mapping).

Refused: a value reached through an alias or a ``<<`` merge key, or one
whose node (or a parent) is anchored and used by an alias elsewhere, since
editing the anchor would change the other uses too (EditRefused); a block
mapping or list replaced as a whole (EditRefused); a file that does not parse
(NotRoundTrippable). A missing list element is FieldMoved. Pure.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tether.errors import TetherError
from tether.manifests.documents import parse_file
from tether.manifests.jsonstream import looks_like_json
from tether.manifests.scalars import resolve_plain
from tether.writeback.errors import EditRefused, FieldMoved, NotRoundTrippable
from tether.writeback.pointer import MISSING, FieldPointer, Step, select_index, step_into
from tether.writeback.yamlcompose import MERGE_TAG, Token, compose

_BOM: Final = "\ufeff"
_SKIPPED_TOKENS: Final = frozenset(
    {
        "CommentToken",
        "DocumentStartToken",
        "DocumentEndToken",
        "DirectiveToken",
        "StreamStartToken",
        "StreamEndToken",
    }
)
_PLAIN_UNSAFE_START: Final = frozenset("-?:,[]{}#&*!|>'\"%@`")
_FLOW_UNSAFE: Final = frozenset(",[]{}")
_BREAK: Final = re.compile(r"\r\n|\n|\r")
_BLOCK_HEADER: Final = re.compile(r"^([|>])([0-9+-]*)")


@dataclass(frozen=True)
class _Parsed:
    """One file as text, its composed documents, its tokens and its kubectl meaning."""

    file: str
    bom: str
    text: str
    eol: str
    roots: tuple[Node, ...]
    tokens: tuple[Token, ...]
    ends: dict[tuple[int, str], Token]  # the first token of each kind ending at an index
    refs: dict[int, int]
    values: dict[int, Any]
    json: bool

    def token_ending_at(self, end: int, kind: str) -> Token | None:
        return self.ends.get((end, kind))

    def encode(self, text: str) -> bytes:
        return (self.bom + text).encode("utf-8")


@dataclass(frozen=True)
class _Found:
    node: Node
    key: Node | None  # the mapping key in front of it, if any


@dataclass(frozen=True)
class _Absent:
    node: Node  # the deepest node that exists
    depth: int  # how many steps were found


def document_value(data: bytes, *, file: str, doc: int) -> Any:
    """The document's value as kubectl reads it, MISSING when the file has no such document."""
    return document_values(data, file=file).get(doc, MISSING)


def set_field(
    data: bytes,
    *,
    file: str,
    doc: int,
    steps: Sequence[Step],
    value: Any,
    create: bool,
    what: str,
) -> bytes:
    """The file with ``value`` at ``steps`` of document ``doc``.

    ``create`` allows inserting missing mapping keys; otherwise a missing
    field is FieldMoved. ``what`` names the object for messages.
    """
    parsed = _parse(data, file)
    pointer = FieldPointer(tuple(steps))
    place = f"{file}: {what} {pointer}"
    value = _as_kubectl_reads(value)
    if create and doc == 0 and parsed.values.get(0) is None and steps:
        return _into_empty(parsed, tuple(steps), value, place)
    root = _root(parsed, doc, place)
    found = _locate(parsed, root, doc, tuple(steps), place)
    if isinstance(found, _Absent):
        if not create:
            raise FieldMoved(f"{place}: the field is no longer in the file")
        candidates = _insertions(parsed, found, tuple(steps), value, place)
    elif pointer.get(parsed.values.get(doc)) == value:
        return data  # already so: no byte moves, not even a re-quoted equal scalar
    else:
        candidates = _replacement(parsed, found, value, place).candidates(parsed.text)
    expected = _expected(parsed, doc, lambda old: pointer.with_value(old, value))
    return _first_verified(parsed, candidates, expected, place)


@dataclass(frozen=True)
class FieldEdit:
    """One ``set_field`` of a batch (see ``set_fields``)."""

    doc: int
    steps: tuple[Step, ...]
    value: Any
    create: bool
    what: str


def set_fields(data: bytes, *, file: str, edits: Sequence[FieldEdit]) -> bytes:
    """The file with every edit made, as ``set_field`` one after the other would.

    When all are replacements of distinct existing nodes (the usual case) the file
    is parsed and verified once for all of them; otherwise, or when that combined
    result does not verify, they are made one at a time.
    """
    if len(edits) == 1:
        return _one_by_one(data, file, edits)
    parsed = _parse(data, file)
    batch = _batch_splices(parsed, edits)
    if batch is None:
        return _one_by_one(data, file, edits)
    splices, expected = batch
    if not splices:
        return data
    ordered = sorted(splices, key=lambda splice: splice.start)
    if any(a.end > b.start for a, b in itertools.pairwise(ordered)):
        return _one_by_one(data, file, edits)
    text = parsed.text
    for splice in reversed(ordered):
        text = text[: splice.start] + splice.texts[0] + text[splice.end :]
    try:
        return _first_verified(parsed, [text], expected, f"{file}: {len(edits)} fields")
    except NotRoundTrippable:
        return _one_by_one(data, file, edits)


def _batch_splices(
    parsed: _Parsed, edits: Sequence[FieldEdit]
) -> tuple[list[_Splice], dict[int, Any]] | None:
    """One splice per edit and the expected meaning, or None when one needs more."""
    splices: list[_Splice] = []
    expected = dict(parsed.values)
    for edit in edits:
        pointer = FieldPointer(edit.steps)
        place = f"{parsed.file}: {edit.what} {pointer}"
        value = _as_kubectl_reads(edit.value)
        found = _locate(parsed, _root(parsed, edit.doc, place), edit.doc, edit.steps, place)
        if isinstance(found, _Absent):
            if not edit.create:
                raise FieldMoved(f"{place}: the field is no longer in the file")
            return None
        if pointer.get(expected.get(edit.doc)) == value:
            continue
        splice = _replacement(parsed, found, value, place)
        if not splice.texts:
            return None
        splices.append(splice)
        expected[edit.doc] = pointer.with_value(expected.get(edit.doc), value)
    return splices, expected


def _one_by_one(data: bytes, file: str, edits: Sequence[FieldEdit]) -> bytes:
    for edit in edits:
        data = set_field(
            data,
            file=file,
            doc=edit.doc,
            steps=edit.steps,
            value=edit.value,
            create=edit.create,
            what=edit.what,
        )
    return data


def document_values(data: bytes, *, file: str) -> dict[int, Any]:
    """Every non-empty document's value as kubectl reads it, by index (no node location)."""
    try:
        return {d.index: d.value for d in parse_file(data, file=file)}
    except TetherError as exc:
        raise NotRoundTrippable(
            f"{file}: does not parse ({exc}); the file is left as it is"
        ) from None


def _as_kubectl_reads(value: Any) -> Any:
    """An integral float is an integer to kubectl (``3.0`` reads as 3): write it as one."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def _into_empty(parsed: _Parsed, steps: tuple[Step, ...], value: Any, place: str) -> bytes:
    """A file with no first document (empty, or only comments) gets the keys appended."""
    if any(not isinstance(step, str) for step in steps) or parsed.json:
        raise FieldMoved(f"{place}: the file is empty, and a list element cannot be made")
    nested: Any = value
    for key in reversed(steps[1:]):
        nested = {key: nested}
    text = parsed.text
    separator = parsed.eol if text and not _BREAK.search(text[-1:]) else ""
    candidates = [
        text
        + separator
        + parsed.eol.join(_block_entry(str(steps[0]), nested, 0, quoted))
        + parsed.eol
        for quoted in (False, True)
    ]
    expected = dict(parsed.values)
    expected[0] = FieldPointer(steps).with_value({}, value)
    return _first_verified(parsed, candidates, expected, place)


def delete_field(data: bytes, *, file: str, doc: int, steps: Sequence[Step], what: str) -> bytes:
    """The file without the mapping entry at ``steps`` (unchanged when it is absent)."""
    parsed = _parse(data, file)
    pointer = FieldPointer(tuple(steps))
    place = f"{file}: {what} {pointer}"
    root = _root(parsed, doc, place)
    found = _locate(parsed, root, doc, tuple(steps[:-1]), place)
    if isinstance(found, _Absent) or not isinstance(found.node, MappingNode):
        return data
    key = steps[-1]
    pairs = [(k, v) for k, v in found.node.value if _key_text(k) == str(key)]
    if not pairs:
        return data

    def without(old: Any) -> Any:
        parent = FieldPointer(tuple(steps[:-1])).get(old)
        if isinstance(parent, dict):
            parent.pop(str(key), None)
        return old

    expected = _expected(parsed, doc, lambda old: without(_copy(old)))
    span = _pair_span(parsed, found.node, pairs[0][0])
    if span is None:
        raise EditRefused(f"{place}: cannot remove this entry in place")
    start, end = span
    return _first_verified(parsed, [parsed.text[:start] + parsed.text[end:]], expected, place)


def append_item(
    data: bytes, *, file: str, doc: int, steps: Sequence[Step], value: Any, what: str
) -> bytes:
    """The file with ``value`` appended to the list at ``steps`` (created when absent)."""
    parsed = _parse(data, file)
    pointer = FieldPointer(tuple(steps))
    place = f"{file}: {what} {pointer}"
    root = _root(parsed, doc, place)
    found = _locate(parsed, root, doc, tuple(steps), place)
    if isinstance(found, _Absent):
        return set_field(
            data, file=file, doc=doc, steps=steps, value=[value], create=True, what=what
        )
    node = found.node
    if not isinstance(node, SequenceNode):
        raise EditRefused(f"{place}: not a list in the file")

    def appended(old: Any) -> Any:
        target = pointer.get(old)
        if isinstance(target, list):
            target.append(value)
        return old

    expected = _expected(parsed, doc, lambda old: appended(_copy(old)))
    return _first_verified(parsed, _item_insertions(parsed, node, value), expected, place)


# --- parsing ---------------------------------------------------------------------------


def _parse(data: bytes, file: str) -> _Parsed:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotRoundTrippable(f"{file}: not valid UTF-8; the file is left as it is") from None
    bom = _BOM if text.startswith(_BOM) else ""
    text = text.removeprefix(_BOM)
    try:
        documents = parse_file(data, file=file)
    except TetherError as exc:
        raise NotRoundTrippable(
            f"{file}: does not parse ({exc}); the file is left as it is"
        ) from None
    try:
        roots, tokens = compose(text)
    except YAMLError as exc:
        cause = str(getattr(exc, "problem", None) or exc).strip().splitlines()[0]
        raise NotRoundTrippable(
            f"{file}: ruamel.yaml cannot parse it for an in-place edit ({cause});"
            " the file is left as it is"
        ) from None
    eol_match = _BREAK.search(text)
    return _Parsed(
        file=file,
        bom=bom,
        text=text,
        eol=eol_match.group(0) if eol_match else "\n",
        roots=roots,
        tokens=tokens,
        ends=_token_ends(tokens),
        refs=_reference_counts(roots),
        values={d.index: d.value for d in documents},
        json=looks_like_json(text),
    )


def _token_ends(tokens: Sequence[Token]) -> dict[tuple[int, str], Token]:
    ends: dict[tuple[int, str], Token] = {}
    for token in tokens:
        ends.setdefault((token.end, token.kind), token)
    return ends


def _reference_counts(roots: Sequence[Node]) -> dict[int, int]:
    """How many times each node is a child; an aliased node counts once per use."""
    counts: dict[int, int] = {}
    pending: list[Node] = list(roots)
    seen: set[int] = set()
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for child in _children(node):
            counts[id(child)] = counts.get(id(child), 0) + 1
            pending.append(child)
    return counts


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value
    elif isinstance(node, SequenceNode):
        yield from node.value


def _root(parsed: _Parsed, doc: int, place: str) -> Node:
    if doc >= len(parsed.roots):
        raise FieldMoved(f"{place}: the file has no document {doc} any more")
    return parsed.roots[doc]


def _key_text(node: Node) -> str | None:
    if isinstance(node, ScalarNode) and node.tag != MERGE_TAG:
        return str(node.value)
    return None


def _locate(
    parsed: _Parsed, root: Node, doc: int, steps: tuple[Step, ...], place: str
) -> _Found | _Absent:
    node = root
    key: Node | None = None
    value = parsed.values.get(doc)
    for depth, step in enumerate(steps):
        key, child = _child(node, value, step, place)
        if child is None:
            return _Absent(node, depth)
        if parsed.refs.get(id(child), 0) > 1:
            raise EditRefused(
                f"{place}: the value is shared through an anchor and alias;"
                " editing it would change the other uses too, so edit it by hand"
            )
        node, value = child, step_into(value, step)
    return _Found(node, key)


def _child(node: Node, value: Any, step: Step, place: str) -> tuple[Node | None, Node | None]:
    """The key node (in a mapping) and the child node at ``step``; (None, None) if absent."""
    if isinstance(node, MappingNode) and not isinstance(step, tuple):
        for key, child in node.value:
            if _key_text(key) == str(step):
                return key, child
        if isinstance(value, dict) and str(step) in value:
            raise EditRefused(
                f"{place}: the value comes from a '<<' merge key (or a key spelled"
                " differently); edit it by hand"
            )
        return None, None
    if isinstance(node, SequenceNode):
        index = select_index(value, step)
        if index is None or index >= len(node.value):
            raise FieldMoved(f"{place}: no such list element in the file any more")
        return None, node.value[index]
    raise FieldMoved(f"{place}: the file has a different shape there now")


def _expected(parsed: _Parsed, doc: int, change: Callable[[Any], Any]) -> dict[int, Any]:
    expected = dict(parsed.values)
    expected[doc] = change(parsed.values.get(doc))
    return expected


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


# --- verification ----------------------------------------------------------------------


def _first_verified(
    parsed: _Parsed, candidates: Sequence[str], expected: dict[int, Any], place: str
) -> bytes:
    for text in candidates:
        data = parsed.encode(text)
        try:
            documents = parse_file(data, file=parsed.file)
        except TetherError:
            continue
        if {d.index: d.value for d in documents} == expected:
            return data
    raise NotRoundTrippable(
        f"{place}: no in-place edit reads back as exactly the new value; the file is left as it is"
    )


# --- replacing a node ------------------------------------------------------------------


@dataclass(frozen=True)
class _Splice:
    """Replace ``text[start:end]`` by one of ``texts`` (in order of preference)."""

    start: int
    end: int
    texts: tuple[str, ...]

    def candidates(self, text: str) -> list[str]:
        return [text[: self.start] + t + text[self.end :] for t in self.texts]


def _replacement(parsed: _Parsed, found: _Found, value: Any, place: str) -> _Splice:
    text = parsed.text
    node = found.node
    if isinstance(node, ScalarNode):
        token = parsed.token_ending_at(node.end_mark.index, "ScalarToken")
        if token is None or token.start < node.start_mark.index:
            return _fill_empty(parsed, found, value)
        start, end, style = token.start, token.end, token.style
        if style in ("|", ">"):
            end = _block_content_end(text, start, end)
        old = text[start:end]
        return _Splice(start, end, tuple(_scalar_texts(parsed, value, style, old)))
    if getattr(node, "flow_style", False):
        flow = _json(value) if parsed.json else _flow(value)
        return _Splice(node.start_mark.index, node.end_mark.index, (flow,))
    raise EditRefused(
        f"{place}: the field is a block mapping or list in the file; only scalars"
        " and flow collections are edited in place"
    )


def _fill_empty(parsed: _Parsed, found: _Found, value: Any) -> _Splice:
    """``key:`` with no value (null, no token): the value goes right after the colon."""
    colon = None
    if found.key is not None:
        after_key = found.key.end_mark.index
        colon = next(
            (t for t in parsed.tokens if t.kind == "ValueToken" and t.start >= after_key), None
        )
    if colon is None:
        return _Splice(0, 0, ())
    texts = tuple(" " + r for r in _scalar_texts(parsed, value, None, ""))
    return _Splice(colon.end, colon.end, texts)


def _block_content_end(text: str, start: int, end: int) -> int:
    """End of a block scalar's last content line (its trailing breaks stay outside)."""
    span = text[start:end]
    cut = len(span.rstrip(" \t\r\n"))
    header_end = _BREAK.search(span)
    if header_end is not None and cut < header_end.start():
        return start + header_end.start()
    while cut < len(span) and span[cut] in " \t":
        cut += 1
    return start + cut


def _scalar_texts(parsed: _Parsed, value: Any, style: str | None, old: str) -> list[str]:
    """Renderings of ``value``, the old style first; each is verified by the caller."""
    if parsed.json:
        return [json.dumps(value, ensure_ascii=False)]
    if not isinstance(value, str):
        return [_non_string(value), _double_quoted(json.dumps(value))]
    out: list[str] = []
    if style in ("|", ">"):
        out.extend(_block_scalar(value, old, parsed.eol))
    elif style == "'" and _single_ok(value):
        out.append("'" + value.replace("'", "''") + "'")
    elif style is None and _plain_ok(value):
        out.append(value)
    out.append(_double_quoted(value))
    if _single_ok(value):
        out.append("'" + value.replace("'", "''") + "'")
    return out


def _non_string(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return _flow(value)
    return json.dumps(value)


def _flow(value: Any) -> str:
    """A flow collection in JSON's shape, strings YAML-escaped (JSON leaves DEL raw)."""
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{_double_quoted(str(k))}: {_flow(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    if isinstance(value, str):
        return _double_quoted(value)
    return json.dumps(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _flow_value(value: Any, json_only: bool, quoted: bool = False) -> str:
    """A value inside ``{...}``/``[...]``: plain when safe there, else quoted."""
    if json_only:
        return _json(value)
    if isinstance(value, (dict, list)):
        return _flow(value)
    return _scalar(value, quoted)


def _plain_ok(value: str) -> bool:
    if not value or value != value.strip() or value[0] in _PLAIN_UNSAFE_START:
        return False
    if ": " in value or " #" in value or value.endswith(":") or ":\t" in value or "\t#" in value:
        return False
    if any(ch in _FLOW_UNSAFE for ch in value):
        return False
    return value.replace("\t", "").isprintable() and resolve_plain(value) == value


def _single_ok(value: str) -> bool:
    # A line break inside single quotes would be folded; printable text and tabs are kept.
    return value.replace("\t", "").isprintable()


def _double_quoted(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch.isprintable() and ch not in "\u2028\u2029\ufeff":
            out.append(ch)
        elif ord(ch) <= 0xFF:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _block_scalar(value: str, old: str, eol: str) -> list[str]:
    """``value`` as a literal/folded block like ``old`` (same indicator and indentation)."""
    header_match = _BLOCK_HEADER.match(old)
    first_break = _BREAK.search(old)
    if header_match is None or first_break is None:
        return []
    eol = first_break.group(0)
    indent = _content_indent(old[first_break.end() :])
    body = value[:-1] if value.endswith("\n") else value
    if body.endswith("\n") or not body or body[0] in " \t" or "\r" in body:
        return []
    if not all(line.replace("\t", "").isprintable() for line in body.split("\n")):
        return []
    indicator = header_match.group(1)
    if indicator == ">" and "\n" in body:
        indicator = "|"  # folding cannot keep inner line breaks simply; literal can
    chomp = "" if value.endswith("\n") else "-"
    rest = old[header_match.end() : first_break.start()]
    lines = [indent + line if line else "" for line in body.split("\n")]
    return [indicator + chomp + rest + eol + eol.join(lines)]


def _content_indent(content: str) -> str:
    for line in _BREAK.split(content):
        if line.strip():
            return line[: len(line) - len(line.lstrip(" "))]
    return "  "


# --- inserting missing keys ------------------------------------------------------------


def _insertions(
    parsed: _Parsed, absent: _Absent, steps: tuple[Step, ...], value: Any, place: str
) -> list[str]:
    rest = steps[absent.depth :]
    if any(not isinstance(step, str) for step in rest):
        raise FieldMoved(f"{place}: the list element is no longer in the file")
    keys = [str(step) for step in rest]
    nested: Any = value
    for key in reversed(keys[1:]):
        nested = {key: nested}
    node = absent.node
    if not isinstance(node, MappingNode):
        raise FieldMoved(f"{place}: the file has a different shape there now")
    text = parsed.text
    out: list[str] = []
    for quoted in (False, True):  # plain where it reads right, else every string quoted
        if node.flow_style or parsed.json:
            close = node.end_mark.index - 1
            key = _key(keys[0], parsed.json, quoted)
            entry = f"{key}: {_flow_value(nested, parsed.json, quoted)}"
            separator = ", " if node.value else ""
            out.append(text[:close] + separator + entry + text[close:])
            continue
        lines = _block_entry(keys[0], nested, _key_column(parsed, node), quoted)
        at = _line_end_after(text, _last_token_end(parsed, node))
        out.append(text[:at] + "".join(parsed.eol + line for line in lines) + text[at:])
    return list(dict.fromkeys(out))


def _item_insertions(parsed: _Parsed, node: SequenceNode, value: Any) -> list[str]:
    text = parsed.text
    if node.flow_style or parsed.json:
        close = node.end_mark.index - 1
        separator = ", " if node.value else ""
        return [
            text[:close] + separator + _flow_value(value, parsed.json, quoted) + text[close:]
            for quoted in (False, True)
        ]
    dash = next(
        (
            t
            for t in parsed.tokens
            if t.kind == "BlockEntryToken" and t.start >= node.start_mark.index
        ),
        None,
    )
    column = dash.column if dash is not None else 0
    at = _line_end_after(text, _last_token_end(parsed, node))
    return [
        text[:at]
        + "".join(parsed.eol + line for line in _block_item(value, column, quoted))
        + text[at:]
        for quoted in (False, True)
    ]


def _key_column(parsed: _Parsed, node: MappingNode) -> int:
    if node.value:
        key = node.value[0][0]
        return int(key.start_mark.column)
    return int(node.start_mark.column)


def _last_token_end(parsed: _Parsed, node: Node) -> int:
    start: int = node.start_mark.index
    end: int = node.end_mark.index
    last = start
    for token in parsed.tokens:
        if token.kind in _SKIPPED_TOKENS or token.end <= token.start:
            continue
        if token.start >= start and token.end <= end:
            last = max(last, token.end)
    text = parsed.text
    return start + len(text[start:last].rstrip(" \t\r\n"))


def _line_end_after(text: str, position: int) -> int:
    found = _BREAK.search(text, position)
    return found.start() if found else len(text)


def _pair_span(parsed: _Parsed, mapping: MappingNode, key: Node) -> tuple[int, int] | None:
    """The text of one block mapping entry: its whole lines, or up to the next key."""
    if mapping.flow_style:
        return _flow_pair_span(mapping, key)
    text = parsed.text
    keys = [k for k, _ in mapping.value]
    position = next(i for i, k in enumerate(keys) if k is key)
    line_start = text.rfind("\n", 0, key.start_mark.index) + 1
    own_line = not text[line_start : key.start_mark.index].strip()
    if position + 1 < len(keys):
        following = keys[position + 1]
        if own_line:
            next_start = text.rfind("\n", 0, following.start_mark.index) + 1
            return line_start, next_start
        return key.start_mark.index, following.start_mark.index
    if not own_line:
        return None
    end = _line_end_after(text, _last_token_end(parsed, mapping))
    line_start_with_break = line_start
    if line_start > 0:  # drop the break before the line instead of the one after it
        line_start_with_break = line_start - (
            2 if text[line_start - 2 : line_start] == "\r\n" else 1
        )
    return line_start_with_break, end


def _flow_pair_span(mapping: MappingNode, key: Node) -> tuple[int, int]:
    """In ``{a: 1, b: 2}``: ``, b: 2`` for a later entry, ``a: 1, `` for the first."""
    pairs = mapping.value
    position = next(i for i, (k, _) in enumerate(pairs) if k is key)
    value_end = int(pairs[position][1].end_mark.index)
    if position > 0:
        return int(pairs[position - 1][1].end_mark.index), value_end
    if len(pairs) > 1:
        return int(key.start_mark.index), int(pairs[1][0].start_mark.index)
    return int(key.start_mark.index), value_end


# --- block rendering of inserted values ------------------------------------------------


def _key(key: str, json_only: bool, quoted: bool = False) -> str:
    if not json_only and not quoted and _plain_ok(key):
        return key
    return json.dumps(key, ensure_ascii=False) if json_only else _double_quoted(key)


def _scalar(value: Any, quoted: bool = False) -> str:
    if isinstance(value, str):
        return value if _plain_ok(value) and not quoted else _double_quoted(value)
    return json.dumps(value)


def _block_entry(key: str, value: Any, column: int, quoted: bool = False) -> list[str]:
    """``key: value`` as block lines at ``column``; ``quoted`` double-quotes every string."""
    pad = " " * column
    head = f"{pad}{_key(key, False, quoted)}:"
    if isinstance(value, dict) and value:
        lines = [head]
        for sub_key, sub_value in value.items():
            lines.extend(_block_entry(sub_key, sub_value, column + 2, quoted))
        return lines
    if isinstance(value, list) and value:
        lines = [head]
        for item in value:
            lines.extend(_block_item(item, column, quoted))
        return lines
    rendered = _flow(value) if isinstance(value, (dict, list)) else _scalar(value, quoted)
    return [f"{head} {rendered}"]


def _block_item(value: Any, column: int, quoted: bool = False) -> list[str]:
    pad = " " * column
    if isinstance(value, dict) and value:
        lines: list[str] = []
        for sub_key, sub_value in value.items():
            lines.extend(_block_entry(sub_key, sub_value, column + 2, quoted))
        lines[0] = pad + "- " + lines[0][column + 2 :]
        return lines
    rendered = _flow(value) if isinstance(value, (dict, list)) else _scalar(value, quoted)
    return [f"{pad}- {rendered}"]
