"""YAML loading with kubectl's meaning: the nasty cases, and C and pure loaders agreeing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tether.manifests.errors import DuplicateKeyError, SizeLimitError, YAMLSyntaxError
from tether.manifests.yaml import c_loader_available, load_documents

LOADERS = ["c", "pure"]

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from _corpus import stream  # noqa: E402


def values(text: str | bytes, loader: str = "c") -> list[Any]:
    return [doc.value for doc in load_documents(text, file="f.yaml", loader=loader)]  # type: ignore[arg-type]


def test_the_c_loader_is_installed() -> None:
    assert c_loader_available()


@pytest.mark.parametrize("loader", LOADERS)
def test_yaml_11_booleans(loader: str) -> None:
    text = "a: yes\nb: on\nc: off\nd: no\ne: y\nf: N\ng: 'yes'\nh: |\n  on\n"
    assert values(text, loader) == [
        {
            "a": True,
            "b": True,
            "c": False,
            "d": False,
            "e": True,
            "f": False,
            "g": "yes",
            "h": "on\n",
        }
    ]


@pytest.mark.parametrize("loader", LOADERS)
def test_octal_hex_and_strings_that_look_like_numbers(loader: str) -> None:
    text = "mode: 0644\nq: '0644'\nh: 0x1F\nt: 1:30\nd: 2024-01-01\nf: 1e3\nv: 3.0\nbig: 12345678901234567890\n"
    assert values(text, loader) == [
        {"mode": 420, "q": "0644", "h": 31, "t": "1:30", "d": "2024-01-01", "f": 1000, "v": 3,
         "big": 1.2345678901234567e19}
    ]  # fmt: skip


@pytest.mark.parametrize("loader", LOADERS)
def test_duplicate_key_is_an_error_with_line(loader: str) -> None:
    text = "---\na: 1\n---\nmetadata:\n  name: x\n  name: y\n"
    with pytest.raises(DuplicateKeyError) as info:
        values(text, loader)
    assert (info.value.file, info.value.doc, info.value.line) == ("f.yaml", 1, 6)
    assert str(info.value) == "f.yaml[doc 1]: line 6: duplicate key 'name'"


@pytest.mark.parametrize("loader", LOADERS)
def test_keys_that_stringify_alike_are_duplicates(loader: str) -> None:
    with pytest.raises(DuplicateKeyError):
        values('1: a\n"1": b\n', loader)


@pytest.mark.parametrize("loader", LOADERS)
def test_anchors_aliases_and_merge_keys(loader: str) -> None:
    text = (
        "base: &b {p: 1, q: 2}\n"
        "copy: *b\n"
        "merged:\n  <<: *b\n  q: 3\n"
        "early:\n  q: 9\n  <<: *b\n"
        "list:\n  <<: [{p: 1}, {p: 2, r: 3}]\n"
        "quoted:\n  '<<': 1\n"
        "s: &s hello\nt: *s\n"
    )
    [doc] = values(text, loader)
    assert doc["copy"] == {"p": 1, "q": 2}
    assert doc["merged"] == {"p": 1, "q": 3}
    assert doc["early"] == {"q": 2, "p": 1}  # go-yaml v2 applies << in order
    assert doc["list"] == {"p": 1, "r": 3}  # earlier maps win
    assert doc["quoted"] == {"<<": 1}
    assert doc["t"] == "hello"
    doc["copy"]["p"] = 99
    assert doc["base"]["p"] == 1  # each alias is a fresh copy


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("a: &a [1, *a]\n", "anchor 'a' value contains itself"),
        ("a: *nope\n", "unknown anchor 'nope' referenced"),
        ("<<: [1]\n", "map merge requires map or sequence of maps"),
        ("a: !!int abc\n", "cannot decode !!str `abc` as a !!int"),
        ("a: .inf\n", "infinity or NaN"),
        ("? [1]\n: 2\n", "invalid map key"),
        ("~: 1\n", "unsupported map key: null"),
        ("a: [1\n", "line 2"),
    ],
)
def test_errors_kubectl_also_reports(loader: str, text: str, cause: str) -> None:
    with pytest.raises(YAMLSyntaxError, match=cause.replace("[", r"\[").replace("!", "!")):
        values(text, loader)


@pytest.mark.parametrize("loader", LOADERS)
def test_multi_document_skips_empty_documents_but_counts_them(loader: str) -> None:
    text = "---\n---\na: 1\n---\n# only a comment\n---\n...\n---\nb: 2\n---\n"
    docs = load_documents(text, file="f.yaml", loader=loader)  # type: ignore[arg-type]
    assert [(d.index, d.line, d.value) for d in docs] == [(1, 3, {"a": 1}), (4, 9, {"b": 2})]


@pytest.mark.parametrize("loader", LOADERS)
def test_bom_and_crlf(loader: str) -> None:
    text = "\ufeffa: yes\r\nb: |\r\n  l1\r\n  l2\r\n".encode()
    assert values(text, loader) == [{"a": True, "b": "l1\nl2\n"}]


@pytest.mark.parametrize("loader", LOADERS)
def test_tab_indentation_is_a_clear_error(loader: str) -> None:
    with pytest.raises(YAMLSyntaxError) as info:
        values("spec:\n\treplicas: 1\n", loader)
    assert info.value.line == 2
    assert "tab" in str(info.value)
    assert str(info.value).startswith("f.yaml[doc 0]: line 2: ")


def test_tabs_inside_values_are_fine_with_the_c_loader() -> None:
    assert values("a: x\ty\nb: \tz\n", "c") == [{"a": "x\ty", "b": "z"}]


def test_pure_loader_known_gap_tabs_in_plain_scalars() -> None:
    # ruamel's pure scanner ends plain scalars at a tab; kubectl and the C loader
    # do not. Recorded so that a ruamel fix shows up here.
    with pytest.raises(YAMLSyntaxError, match="line 1"):
        values("a: x\ty\n", "pure")


def test_invalid_utf8_is_an_error() -> None:
    with pytest.raises(YAMLSyntaxError, match="not valid UTF-8"):
        values(b"a: \xff\n")


@pytest.mark.parametrize("loader", LOADERS)
def test_deep_nesting_is_a_size_error_not_a_crash(loader: str) -> None:
    deep = "a: " + "[" * 100_000 + "]" * 100_000 + "\n"
    with pytest.raises(SizeLimitError, match="nesting deeper than 512"):
        values(deep, loader)


@pytest.mark.parametrize("loader", LOADERS)
def test_alias_bomb_is_refused(loader: str) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(SizeLimitError, match="excessive aliasing"):
        values("\n".join(lines) + "\n", loader)


@pytest.mark.parametrize("loader", LOADERS)
def test_explicit_tags(loader: str) -> None:
    text = (
        "a: !!str 0644\nb: !!int '0644'\nc: !foo bar\nd: !!float 3\ne: !!binary aGVsbG8=\nf: ! 5\n"
    )
    assert values(text, loader) == [
        {"a": "0644", "b": 420, "c": "bar", "d": 3, "e": "hello", "f": "5"}
    ]


def _plain_types(value: Any) -> bool:
    if isinstance(value, dict):
        return type(value) is dict and all(
            type(k) is str and _plain_types(v) for k, v in value.items()
        )
    if isinstance(value, list):
        return type(value) is list and all(_plain_types(v) for v in value)
    return type(value) in (str, int, float, bool, type(None))


NASTY = [
    stream(60),
    "a: yes\nb: 0644\nc: [1, 2.5, ~, on]\nd: {x: *missing}\n",
    "k: &k v\n*k : w\n",
    "x: !!set {a, b}\ny: !!omap [a: 1]\n",
    "1.5: a\n0x10: b\non: c\n2024-01-01: d\n",
    "a: 'multi\n  line'\nb: >\n  folded\n  text\n\nc: \"esc\\tape\\u00e9\"\n",
    "- 1\n- two\n",
    "plain scalar document\n",
    "\t",
]


@pytest.mark.skipif(not c_loader_available(), reason="needs ruamel.yaml.clib")
@pytest.mark.parametrize("text", NASTY)
def test_c_and_pure_loaders_agree(text: str) -> None:
    outcomes = []
    for loader in LOADERS:
        try:
            docs = load_documents(text, file="f.yaml", loader=loader)  # type: ignore[arg-type]
            outcomes.append(("ok", json.dumps([(d.index, d.line, d.value) for d in docs])))
            assert all(_plain_types(d.value) for d in docs)
        except YAMLSyntaxError as exc:
            outcomes.append((type(exc).__name__, exc.line))
    assert outcomes[0] == outcomes[1]


def test_colon_inside_flow_plain_scalar_is_read_as_kubectl_does() -> None:
    # go-yaml v2 (kubectl) accepts these; the C parser's libyaml does not, so the
    # automatic loader must fall back to the pure parser rather than fail.
    text = "a: {image: nginx:1.25, b: x}\nc: [nginx:1.25, {k: a:b}]\n"
    for loader in ("auto", "pure"):
        (doc,) = load_documents(text, file="flow.yaml", loader=loader)
        assert doc.value == {
            "a": {"image": "nginx:1.25", "b": "x"},
            "c": ["nginx:1.25", {"k": "a:b"}],
        }


def test_real_syntax_errors_still_fail_after_the_fallback() -> None:
    with pytest.raises(YAMLSyntaxError) as info:
        load_documents("a: {b: c\nd: [\n", file="broken.yaml")
    assert "broken.yaml" in str(info.value)
