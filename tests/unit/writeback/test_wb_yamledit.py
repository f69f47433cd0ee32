"""In-place YAML edits over the corpus of nasty files in tests/writeback_corpus.

Each case names the old scalar's exact text and the line it starts on; the test
finds that span itself, then asserts the edited file is byte-identical before and
after it, and that the whole file reads back (as kubectl reads it) as the original
with exactly the one intended change, in every document.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml.error import YAMLError
from wb_asserts import is_one_insertion

from tether.manifests.documents import parse_file
from tether.writeback import yamledit
from tether.writeback.errors import EditRefused, FieldMoved, NotRoundTrippable, WriteBackReason
from tether.writeback.pointer import MISSING, FieldPointer
from tether.writeback.yamlcompose import compose_c, compose_pure
from tether.writeback.yamledit import FieldEdit, set_field, set_fields

CORPUS = Path(__file__).resolve().parents[2] / "writeback_corpus"


@pytest.fixture(params=["pure", "c"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Locate nodes with ruamel's C parser (the default) or the pure one (its fallback)."""
    monkeypatch.setattr(yamledit, "compose", compose_c if request.param == "c" else _pure_first)
    return str(request.param)


def _pure_first(text: str) -> Any:
    try:
        return compose_pure(text)
    except YAMLError:  # a tab inside a plain scalar (tabs.yaml): only libyaml reads it
        return compose_c(text)


@dataclass(frozen=True)
class Case:
    file: str
    doc: int
    pointer: str
    value: Any
    line: int  # 1-based line where the old scalar starts
    old: str  # its exact text in the file
    first: str | None = None  # the expected first character of the new text (its style)

    def __str__(self) -> str:
        return f"{self.file}:{self.doc}:{self.pointer}"


CASES = [
    Case("comments.yaml", 0, "/spec/replicas", 5, 14, "3", "5"),
    Case("comments.yaml", 0, "/metadata/labels/app", "api", 11, "web", "a"),
    Case(
        "comments.yaml",
        0,
        "/spec/template/spec/containers[name=web]/image",
        "registry.example/web:1.1",
        26,
        '"registry.example/web:1.0"',
        '"',
    ),
    Case(
        "comments.yaml",
        0,
        "/spec/template/spec/containers[name=sidecar]/image",
        "busybox:1.37",
        31,
        "'busybox:1.36'",
        "'",
    ),
    Case("comments.yaml", 0, "/spec/template/spec/containers/1/args/1", "7200", 32, '"3600"', '"'),
    Case(
        "comments.yaml",
        0,
        "/spec/template/spec/containers[name=web]/ports/0/containerPort",
        8080,
        28,
        "80",
    ),
    Case("comments.yaml", 0, "/spec/selector/matchLabels/app", "api", 17, "web", "a"),
    # A plain scalar that would read back as a boolean must be quoted.
    Case("comments.yaml", 0, "/metadata/labels/app", "true", 11, "web", '"'),
    Case("anchors.yaml", 0, "/data/plain", "other", 13, '"value"', '"'),
    Case("anchors.yaml", 0, "/data/single", "alone", 14, "lonely", "a"),  # &solo stays
    Case(
        "anchors.yaml",
        1,
        "/spec/template/spec/containers[name=worker]/image",
        "nginx:1.27",
        34,
        "nginx:1.26",
    ),
    Case("anchors.yaml", 1, "/metadata/annotations/note", "mine", 23, "own"),
    Case("flow.yaml", 0, "/spec/ports[name=https]/port", 444, 4, "443"),
    Case("flow.yaml", 0, "/spec/type", "NodePort", 3, "ClusterIP"),
    Case("flow.yaml", 0, "/spec/ports[name=http]/name", "web", 4, "http", "w"),
    Case("flow.yaml", 0, "/metadata/labels/app", "a,b", 2, "web", '"'),  # ',' needs quotes in flow
    Case(
        "blocks.yaml",
        0,
        "/data/script",
        "#!/bin/sh\necho bye\n",
        6,
        "|\n    #!/bin/sh\n    echo hello\n\n    echo after a blank line",
        "|",
    ),
    Case(
        "blocks.yaml",
        0,
        "/data/folded",
        "one line",
        11,
        ">-\n    a folded line\n    that continues",
        ">",
    ),
    Case("blocks.yaml", 0, "/data/strip", "changed", 17, "|-\n    no newline at end", "|"),
    Case("blocks.yaml", 0, "/data/after", "new", 19, '"the key after the blocks"', '"'),
    Case("multidoc.yaml", 2, "/data/key", "two", 17, "one"),
    Case("multidoc.yaml", 3, "/spec/replicas", 4, 26, "1"),
    Case("multidoc.yaml", 0, "/metadata/name", "other", 7, "demo"),
    Case("indent.yaml", 0, "/spec/replicas", 3, 8, "2"),
    Case(
        "indent.yaml",
        0,
        "/spec/template/spec/containers[name=web]/env[name=LEVEL]/value",
        "4",
        18,
        "'3'",
        "'",
    ),
    Case(
        "indent.yaml", 0, "/spec/template/spec/containers[name=side]/args/1", "20", 23, '"10"', '"'
    ),
    Case(
        "indent.yaml",
        0,
        "/spec/template/spec/containers[name=web]/image",
        "nginx:1.26",
        13,
        "nginx:1.25",
    ),
    Case("quoted-keys.yaml", 0, "/spec/replicas", 5, 8, "4"),
    Case("quoted-keys.yaml", 0, "/metadata/annotations/example.com~1a~0b", "y", 6, '"x"', '"'),
    Case("quoted-keys.yaml", 0, "/spec/paused", True, 9, "false", "t"),
    Case("list.yaml", 0, "/items/1/spec/replicas", 2, 13, "1"),
    Case("list.yaml", 0, "/items/0/data/a", "2", 7, '"1"', '"'),
    Case("deployment.json", 0, "/spec/replicas", 3, 6, "2"),
    Case(
        "deployment.json",
        0,
        "/spec/template/spec/containers[name=web]/image",
        "nginx:1.26",
        7,
        '"nginx:1.25"',
        '"',
    ),
    Case("crlf.yaml", 0, "/spec/replicas", 3, 7, "2"),
    Case("crlf.yaml", 0, "/metadata/name", "crlf2", 5, "crlf"),
    Case(
        "crlf.yaml",
        0,
        "/spec/template/spec/containers[name=web]/command",
        "run\nlater\n",
        13,
        "|\r\n          run\r\n          now",
        "|",
    ),
    Case("tabs.yaml", 0, "/data/dq", "tab\tagain", 6, '"tab\\there"', '"'),
    Case("tabs.yaml", 0, "/data/raw", "a\tc", 7, '"a\tb"', '"'),
    Case("tabs.yaml", 0, "/data/sq", "x\tz", 8, "'x\ty'", "'"),
    Case("tabs.yaml", 0, "/data/block", "c1\tc2\n", 9, "|\n    col1\tcol2\n    v1\tv2", "|"),
    Case("tabs.yaml", 0, "/data/plain", "other", 12, "word"),
    Case("tabs.yaml", 0, "/data/tabbed", "three\tfour", 13, "one\ttwo", "t"),
    Case("no-newline.yaml", 0, "/data/last", "fin", 6, "end"),
    Case("bom.yaml", 0, "/data/k", "w", 6, "v"),
]


def _read(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def _meaning(data: bytes, file: str) -> dict[int, Any]:
    return {d.index: d.value for d in parse_file(data, file=file)}


def _span(data: bytes, case: Case) -> tuple[int, int]:
    """Byte offsets of the old scalar, found from its line (independently of yamledit)."""
    lines = data.splitlines(keepends=True)
    line_start = sum(len(line) for line in lines[: case.line - 1])
    start = data.index(case.old.encode(), line_start)
    assert start < line_start + len(lines[case.line - 1]), f"{case}: old text not on its line"
    return start, start + len(case.old.encode())


def _expected_meaning(original: bytes, case: Case) -> dict[int, Any]:
    expected = _meaning(original, case.file)
    expected[case.doc] = FieldPointer.parse(case.pointer).with_value(expected[case.doc], case.value)
    return expected


@pytest.mark.parametrize("case", CASES, ids=str)
def test_only_the_edited_scalar_changes(case: Case, parser: str) -> None:
    original = _read(case.file)
    start, end = _span(original, case)
    result = set_field(
        original,
        file=case.file,
        doc=case.doc,
        steps=FieldPointer.parse(case.pointer).steps,
        value=case.value,
        create=False,
        what="test object",
    )
    suffix = original[end:]
    assert result[:start] == original[:start]
    assert result.endswith(suffix)
    new_text = result[start : len(result) - len(suffix)].decode()
    assert new_text != case.old
    if case.first is not None:
        assert new_text[:1] == case.first, new_text
    assert _meaning(result, case.file) == _expected_meaning(original, case)


ANY_VALUE = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",))),
    st.sampled_from(["yes", "~", "1.0", "0x10", "- a", "a: b", "#x", "a #b", "'q'", "\n", "a\n"]),
    st.sampled_from([" lead", "trail ", "\u2028", "\x85", "{a}", "[1]", "@x", "|", "", ":"]),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
# Every quoting and block style, and flow context; not the case that renames its own selector.
STYLES = [
    c
    for c in CASES
    if (c.first in ('"', "'", "|", ">") or c.file == "flow.yaml") and "[name=http]" not in c.pointer
]


@pytest.mark.parametrize("case", STYLES, ids=str)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=ANY_VALUE)
def test_any_value_in_any_style_changes_only_its_span(case: Case, parser: str, value: Any) -> None:
    original = _read(case.file)
    start, end = _span(original, case)
    pointer = FieldPointer.parse(case.pointer)
    result = set_field(
        original,
        file=case.file,
        doc=case.doc,
        steps=pointer.steps,
        value=value,
        create=False,
        what="x",
    )
    assert result[:start] == original[:start]
    assert result.endswith(original[end:])
    assert pointer.get(_meaning(result, case.file)[case.doc]) == value


def test_corpus_cases_cover_every_corpus_file() -> None:
    files = {p.name for p in CORPUS.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert files == {case.file for case in CASES}


def test_crlf_block_scalar_keeps_crlf_inside() -> None:
    original = _read("crlf.yaml")
    steps = FieldPointer.parse("/spec/template/spec/containers[name=web]/command").steps
    result = set_field(
        original, file="crlf.yaml", doc=0, steps=steps, value="a\nb\n", create=False, what="x"
    )
    assert b"\n" not in result.replace(b"\r\n", b"")
    assert result.count(b"\r\n") == original.count(b"\r\n")


def test_no_newline_file_still_ends_without_one() -> None:
    result = set_field(
        _read("no-newline.yaml"),
        file="f",
        doc=0,
        steps=("data", "last"),
        value="x",
        create=False,
        what="x",
    )
    assert result.endswith(b"last: x")


def test_bom_is_kept() -> None:
    result = set_field(
        _read("bom.yaml"), file="f", doc=0, steps=("data", "k"), value="w", create=False, what="x"
    )
    assert result.startswith("\ufeff".encode())


# --- inserting a missing key -----------------------------------------------------------


INSERTS = [
    ("comments.yaml", 0, "/spec/strategy/type", "Recreate"),
    ("comments.yaml", 0, "/spec/template/spec/containers[name=sidecar]/imagePullPolicy", "Always"),
    ("multidoc.yaml", 3, "/spec/paused", True),
    ("multidoc.yaml", 0, "/metadata/labels/team", "a"),
    ("indent.yaml", 0, "/spec/template/spec/containers[name=web]/workingDir", "/srv"),
    ("crlf.yaml", 0, "/spec/minReadySeconds", 5),
    ("no-newline.yaml", 0, "/data/extra", "more"),
    ("flow.yaml", 0, "/spec/sessionAffinity", "None"),
    ("deployment.json", 0, "/spec/paused", False),
    ("anchors.yaml", 0, "/data/new", "v"),
    ("tabs.yaml", 0, "/data/zz", "yes"),
]


@pytest.mark.parametrize("file,doc,pointer,value", INSERTS, ids=[f"{i[0]}:{i[2]}" for i in INSERTS])
def test_missing_key_is_inserted_without_moving_other_bytes(
    file: str, doc: int, pointer: str, value: Any, parser: str
) -> None:
    original = _read(file)
    parsed = FieldPointer.parse(pointer)
    result = set_field(
        original, file=file, doc=doc, steps=parsed.steps, value=value, create=True, what="x"
    )
    expected = _meaning(original, file)
    expected[doc] = parsed.with_value(expected[doc], value)
    assert _meaning(result, file) == expected
    assert is_one_insertion(original, result)
    if b"\r\n" in original:
        assert b"\n" not in result.replace(b"\r\n", b"")


def test_a_block_insertion_is_whole_lines_at_the_key_indentation() -> None:
    original = _read("indent.yaml")
    result = set_field(
        original,
        file="indent.yaml",
        doc=0,
        steps=("spec", "paused"),
        value=True,
        create=True,
        what="x",
    )
    added = [
        line for line in result.decode().splitlines() if line not in original.decode().splitlines()
    ]
    assert added == ["    paused: true"]


def test_missing_key_without_create_is_field_moved() -> None:
    with pytest.raises(FieldMoved) as caught:
        set_field(
            _read("comments.yaml"),
            file="comments.yaml",
            doc=0,
            steps=("spec", "paused"),
            value=True,
            create=False,
            what="Deployment web",
        )
    assert caught.value.reason is WriteBackReason.FIELD_MOVED
    assert "comments.yaml" in str(caught.value) and "/spec/paused" in str(caught.value)


def test_missing_list_element_is_field_moved() -> None:
    steps = FieldPointer.parse("/spec/template/spec/containers[name=gone]/image").steps
    with pytest.raises(FieldMoved, match="list element"):
        set_field(
            _read("comments.yaml"), file="c", doc=0, steps=steps, value="x", create=True, what="x"
        )


def test_missing_document_is_field_moved() -> None:
    with pytest.raises(FieldMoved, match="no document 5"):
        set_field(
            _read("multidoc.yaml"), file="m", doc=5, steps=("a",), value="x", create=True, what="x"
        )


# --- refusals --------------------------------------------------------------------------


REFUSED = [
    (0, "/metadata/annotations/owner", "anchor and alias"),  # &owner is used by copy
    (0, "/metadata/annotations/copy", "anchor and alias"),  # copy is *owner
    (1, "/spec/template/spec/containers[name=worker]/imagePullPolicy", "merge key"),
    (1, "/spec/template/spec/containers[name=web]/image", "anchor and alias"),  # &defaults
    (1, "/metadata/labels/app", "anchor and alias"),  # &dl is merged into annotations
]


@pytest.mark.parametrize("doc,pointer,cause", REFUSED)
def test_shared_values_are_refused_and_name_the_cause(doc: int, pointer: str, cause: str) -> None:
    original = _read("anchors.yaml")
    with pytest.raises(EditRefused, match=cause) as caught:
        set_field(
            original,
            file="anchors.yaml",
            doc=doc,
            steps=FieldPointer.parse(pointer).steps,
            value="new",
            create=False,
            what="ConfigMap anchors",
        )
    assert caught.value.reason is WriteBackReason.UNSUPPORTED_SOURCE
    assert str(caught.value).startswith("anchors.yaml: ConfigMap anchors ")


def test_anchored_but_unaliased_mapping_is_edited() -> None:
    # &labels in document 0 is never used, so editing inside it changes one place only.
    original = _read("anchors.yaml")
    result = set_field(
        original,
        file="anchors.yaml",
        doc=0,
        steps=("metadata", "labels", "tier"),
        value="back",
        create=False,
        what="x",
    )
    assert result == original.replace(b"tier: front", b"tier: back")


def test_a_file_that_does_not_parse_is_not_round_trippable() -> None:
    # The pure scanner refuses the tab inside a plain scalar, libyaml the ':' inside a
    # flow plain scalar: nothing reads this file, so it is refused, never rewritten.
    data = (
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: t}\ndata:\n  a: x\ty\n  b: {c: d:e}\n"
    )
    with pytest.raises(NotRoundTrippable, match=r"^odd\.yaml: does not parse") as caught:
        set_field(
            data, file="odd.yaml", doc=0, steps=("data", "a"), value="z", create=False, what="x"
        )
    assert caught.value.reason is WriteBackReason.NOT_ROUND_TRIPPABLE


def test_a_tab_inside_a_plain_scalar_is_edited() -> None:
    # ruamel's pure scanner refuses this file; libyaml (the default) reads it.
    data = b"data:\n  a: x\ty  # c\n  b: c\n"
    result = set_field(
        data, file="t.yaml", doc=0, steps=("data", "b"), value="d", create=False, what="x"
    )
    assert result == b"data:\n  a: x\ty  # c\n  b: d\n"


def test_a_colon_inside_a_flow_plain_scalar_is_edited() -> None:
    # libyaml refuses `{image: nginx:1.25}`, which go-yaml reads: the pure parser locates.
    data = b"spec:\n  c: {image: nginx:1.25, name: web}  # c\n"
    steps = ("spec", "c", "image")
    result = set_field(
        data, file="t.yaml", doc=0, steps=steps, value="nginx:1.26", create=False, what="x"
    )
    assert result == b"spec:\n  c: {image: nginx:1.26, name: web}  # c\n"


def test_not_utf8_is_not_round_trippable() -> None:
    with pytest.raises(NotRoundTrippable, match="UTF-8"):
        set_field(
            b"a: \xff\n", file="bad.yaml", doc=0, steps=("a",), value="x", create=False, what="x"
        )


def test_a_block_collection_is_not_replaced_whole() -> None:
    with pytest.raises(EditRefused, match="block mapping"):
        set_field(
            _read("comments.yaml"),
            file="c",
            doc=0,
            steps=("spec", "selector"),
            value={"a": 1},
            create=False,
            what="x",
        )


def test_a_flow_collection_is_replaced_as_json() -> None:
    original = _read("comments.yaml")
    steps = ("spec", "selector", "matchLabels")
    result = set_field(
        original, file="c", doc=0, steps=steps, value={"app": "api"}, create=False, what="x"
    )
    assert result == original.replace(b"{app: web}", b'{"app": "api"}')


def test_an_equal_value_moves_no_byte_even_when_spelled_differently() -> None:
    data = b"spec:\n  replicas: 0x3  # hex\n  name: 'web'\n"
    assert (
        set_field(
            data, file="f", doc=0, steps=("spec", "replicas"), value=3, create=False, what="x"
        )
        == data
    )
    assert (
        set_field(
            data, file="f", doc=0, steps=("spec", "name"), value="web", create=False, what="x"
        )
        == data
    )


@pytest.mark.parametrize(
    "data,expected",
    [
        (b"", b'image:\n  tag: "1.2"\n'),
        (b"# only comments\n", b'# only comments\nimage:\n  tag: "1.2"\n'),
        (b"# no newline", b'# no newline\nimage:\n  tag: "1.2"\n'),
        (b"# crlf\r\n", b'# crlf\r\nimage:\r\n  tag: "1.2"\r\n'),
    ],
)
def test_keys_go_into_an_empty_file(data: bytes, expected: bytes) -> None:
    result = set_field(
        data, file="values.yaml", doc=0, steps=("image", "tag"), value="1.2", create=True, what="x"
    )
    assert result == expected


# --- several fields of one file in one go ----------------------------------------------


@pytest.mark.parametrize("file", sorted({c.file for c in CASES}))
def test_a_batch_equals_the_edits_one_by_one(file: str, parser: str) -> None:
    cases = {c.pointer: c for c in CASES if c.file == file}.values()
    cases = [c for c in cases if "[name=http]" not in c.pointer]  # no case renames a selector
    edits = [
        FieldEdit(c.doc, FieldPointer.parse(c.pointer).steps, c.value, False, "x") for c in cases
    ]
    original = _read(file)
    one_by_one = original
    for edit in edits:
        one_by_one = set_field(
            one_by_one,
            file=file,
            doc=edit.doc,
            steps=edit.steps,
            value=edit.value,
            create=False,
            what="x",
        )
    assert set_fields(original, file=file, edits=edits) == one_by_one


def test_a_batch_with_an_insertion_and_a_repeat_falls_back_to_one_by_one() -> None:
    original = _read("comments.yaml")
    edits = [
        FieldEdit(0, ("spec", "replicas"), 4, False, "x"),
        FieldEdit(0, ("spec", "paused"), True, True, "x"),
        FieldEdit(0, ("spec", "replicas"), 6, False, "x"),
    ]
    result = set_fields(original, file="comments.yaml", edits=edits)
    meaning = _meaning(result, "comments.yaml")[0]["spec"]
    assert (meaning["replicas"], meaning["paused"]) == (6, True)
    assert result.replace(b"  paused: true\n", b"") == original.replace(
        b"replicas: 3 ", b"replicas: 6 "
    )


def test_a_batch_with_a_missing_field_is_field_moved() -> None:
    edits = [
        FieldEdit(0, ("spec", "replicas"), 4, False, "x"),
        FieldEdit(0, ("spec", "gone"), 1, False, "Deployment web"),
    ]
    with pytest.raises(FieldMoved, match="Deployment web /spec/gone"):
        set_fields(_read("comments.yaml"), file="comments.yaml", edits=edits)


INSERT_PARENTS = [
    ("comments.yaml", 0, "/spec"),
    ("comments.yaml", 0, "/spec/template/spec/containers[name=sidecar]"),
    ("flow.yaml", 0, "/spec"),
    ("crlf.yaml", 0, "/spec/template/spec/containers/0"),
    ("indent.yaml", 0, "/spec/template/spec/containers/1"),
    ("deployment.json", 0, "/spec"),
    ("no-newline.yaml", 0, "/data"),
    ("list.yaml", 0, "/items/0/data"),
]
KEY = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)
SMALL = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=8),
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.none(),
)


@pytest.mark.parametrize("file,doc,parent", INSERT_PARENTS)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    keys=st.lists(KEY, min_size=1, max_size=2),
    value=st.one_of(SMALL, st.dictionaries(KEY, SMALL, max_size=2), st.lists(SMALL, max_size=2)),
)
def test_any_new_key_and_value_is_inserted_without_moving_other_bytes(
    file: str, doc: int, parent: str, keys: list[str], value: Any
) -> None:
    original = _read(file)
    meaning = _meaning(original, file)
    base = FieldPointer.parse(parent).steps
    if FieldPointer((*base, keys[0])).get(meaning[doc]) is not MISSING:
        return  # the key exists already: not an insertion
    pointer = FieldPointer((*base, *keys))
    result = set_field(
        original, file=file, doc=doc, steps=pointer.steps, value=value, create=True, what="x"
    )
    meaning[doc] = pointer.with_value(meaning[doc], value)
    assert _meaning(result, file) == meaning
    assert is_one_insertion(original, result)
