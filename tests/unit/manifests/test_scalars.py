"""go-yaml v2 scalar resolution and sigs.k8s.io/yaml key/number conversion."""

from __future__ import annotations

import math

import pytest

from tether.manifests.scalars import (
    MERGE,
    go_format_float32,
    go_parse_int,
    json_number,
    map_key,
    resolve_plain,
)

RESOLVE = [
    ("yes", True), ("Yes", True), ("YES", True), ("y", True), ("Y", True), ("on", True),
    ("On", True), ("ON", True), ("true", True), ("True", True), ("TRUE", True),
    ("no", False), ("n", False), ("N", False), ("off", False), ("OFF", False), ("false", False),
    ("yEs", "yEs"), ("oN", "oN"), ("tRUE", "tRUE"),
    ("", None), ("~", None), ("null", None), ("Null", None), ("NULL", None), ("nULL", "nULL"),
    ("0644", 420), ("0o644", 420), ("0x1F", 31), ("0X1f", 31), ("-0x1F", -31), ("+0644", 420),
    ("0b101", 5), ("0B11", 3), ("1_000", 1000), ("0x_1F", 31), ("1_", 1), ("_1", "_1"),
    ("007", 7), ("08", 8.0), ("09.5", 9.5), ("0", 0), ("-0", 0), ("+12", 12),
    ("1e3", 1000.0), ("1.5", 1.5), ("1.", 1.0), (".5", 0.5), ("+.5", 0.5), ("-.5e1", -5.0),
    (".5_0", 0.5), ("1e400", "1e400"), ("1e-400", 0.0),
    ("1:30", "1:30"), ("190:20:30.15", "190:20:30.15"),
    ("2024-01-01", "2024-01-01"), ("2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00"),
    ("9223372036854775807", 2**63 - 1), ("9223372036854775808", 2**63),
    ("18446744073709551616", 1.8446744073709552e19), ("-9223372036854775809", -9.223372036854775809e18),
    ("<<", MERGE), ("-", "-"), ("+", "+"), (".", "."), ("0x", "0x"), ("1.2.3", "1.2.3"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), RESOLVE)
def test_resolve_plain_matches_go_yaml_v2(text: str, expected: object) -> None:
    resolved = resolve_plain(text)
    assert type(resolved) is type(expected)
    assert resolved == expected


def test_special_floats_resolve() -> None:
    assert math.isnan(resolve_plain(".nan"))  # type: ignore[arg-type]
    assert resolve_plain(".Inf") == math.inf
    assert resolve_plain("-.INF") == -math.inf


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10", 10), ("010", 8), ("0o10", 8), ("-0b11", -3), ("1a", None), ("0o9", None), ("", None)],
)
def test_go_parse_int(text: str, expected: int | None) -> None:
    assert go_parse_int(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3.0, 3), (-0.0, 0), (1.5, 1.5), (1e20, 1e20), (1e21, 1e21), (2**63, float(2**63)),
        (-9.223372036854775808e18, -9.223372036854775808e18), (2.0**53 + 2, 2**53 + 2),
        (-(2**63), -(2**63)), (9.2e18, 9200000000000000000), (12, 12),
    ],
)  # fmt: skip
def test_json_number_follows_the_json_round_trip(value: float, expected: float) -> None:
    result = json_number(value)
    assert type(result) is type(expected)
    assert result == expected


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_json_number_refuses_what_json_cannot_hold(value: float) -> None:
    with pytest.raises(ValueError, match="infinity or NaN"):
        json_number(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a", "a"), (True, "true"), (False, "false"), (1, "1"), (420, "420"), (1.5, "1.5"),
        (3.0, "3"), (1000.0, "1000"), (0.1, "0.1"), (1e-7, "1e-07"), (1e21, "1e+21"),
        (123456789.123, "1.2345679e+08"), (1234567.0, "1.234567e+06"), (123456.0, "123456"),
        (math.inf, ".inf"), (-math.inf, "-.inf"), (math.nan, ".nan"), (1e39, ".inf"),
        (0.0, "0"), (-0.0, "-0"), (0.0001, "0.0001"), (0.00001, "1e-05"),
    ],
)  # fmt: skip
def test_map_key_stringifies_like_sigs_k8s_yaml(value: object, expected: str) -> None:
    assert map_key(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [None, 2**63])
def test_map_key_refuses_keys_kubectl_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="unsupported map key"):
        map_key(value)  # type: ignore[arg-type]


def test_go_format_float32_is_shortest_round_trip() -> None:
    assert go_format_float32(3.14159) == "3.14159"
    assert go_format_float32(0.3) == "0.3"
