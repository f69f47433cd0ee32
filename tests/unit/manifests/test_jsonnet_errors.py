"""Jsonnet error texts become one line that leads with file:line:col; import resolution."""

from __future__ import annotations

import pytest

from tether.manifests.errors import JsonnetError, JsonnetImportEscapeError, Position
from tether.manifests.jsonnet import ImportRefusal, evaluation_error, parse_error

RUNTIME = (
    "RUNTIME ERROR: max stack frames exceeded.\n"
    "\tstd.jsonnet:1594:16-24\tthunk <ta>\n"
    "\tlib/k.libsonnet:3:9-20\tfunction <f>\n"
    "\tapps/main.jsonnet:(2:1)-(4:2)\tobject <anonymous>\n"
    "\tDuring manifestation\t\n"
)


def test_runtime_error_prefers_repository_frames_over_the_standard_library() -> None:
    known = frozenset({"apps/main.jsonnet", "lib/k.libsonnet"})
    message, positions = parse_error(RUNTIME, known)
    assert message == "max stack frames exceeded."
    assert positions[:2] == [Position("lib/k.libsonnet", 3, 9), Position("apps/main.jsonnet", 2, 1)]
    error = evaluation_error(RUNTIME, "apps/main.jsonnet", [], known)
    assert isinstance(error, JsonnetError)
    assert str(error) == (
        "apps/main.jsonnet: lib/k.libsonnet:3:9: max stack frames exceeded. "
        "(from apps/main.jsonnet:2:1)"
    )
    assert error.line == 3 and error.file == "apps/main.jsonnet"


def test_static_error_keeps_its_position() -> None:
    text = "STATIC ERROR: a.jsonnet:1:8: expected a comma before next field.\n"
    error = evaluation_error(text, "a.jsonnet", [], frozenset({"a.jsonnet"}))
    assert str(error) == "a.jsonnet:1:8: expected a comma before next field."


def test_text_without_positions_still_names_the_file() -> None:
    error = evaluation_error("RUNTIME ERROR: odd\n   second line\n", "a.jsonnet", [], frozenset())
    assert str(error) == "a.jsonnet: odd"


def test_a_top_level_argument_problem_points_at_the_tlas() -> None:
    text = "RUNTIME ERROR: function parameter name not bound in call.\n\tTop-level function\t\n"
    assert str(evaluation_error(text, "a.jsonnet", [], frozenset())) == (
        "a.jsonnet: function parameter name not bound in call. "
        "(top-level arguments: directory.jsonnet.tlas, --jsonnet-tla)"
    )


def test_long_messages_are_cut_to_one_short_line() -> None:
    text = "RUNTIME ERROR: " + "word " * 300 + "\n\ta.jsonnet:1:1\tobject\n"
    message = str(evaluation_error(text, "a.jsonnet", [], frozenset({"a.jsonnet"})))
    assert "\n" not in message and len(message) < 600 and message.endswith("...")


@pytest.mark.parametrize(
    ("trace", "expected"),
    [
        (
            "\tapps/main.jsonnet:1:1-20\tobject\n",
            "apps/main.jsonnet:1:1: import '/etc/passwd' refused: an absolute path",
        ),
        ("", "apps/main.jsonnet: import '/etc/passwd' refused: an absolute path (imported from "),
    ],
)
def test_a_refused_import_is_an_escape_error(trace: str, expected: str) -> None:
    text = 'RUNTIME ERROR: couldn\'t open import "/etc/passwd": refused\n' + trace
    refusal = ImportRefusal("/etc/passwd", "an absolute path", "apps/")
    error = evaluation_error(text, "apps/main.jsonnet", [refusal], frozenset({"apps/main.jsonnet"}))
    assert isinstance(error, JsonnetImportEscapeError)
    assert str(error).startswith(expected)
