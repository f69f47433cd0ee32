"""Scalar semantics of kubectl's YAML: go-yaml v2 resolution plus its JSON conversion.

kubectl reads YAML with sigs.k8s.io/yaml, which decodes with go-yaml v2 (YAML
1.1 rules, with Go's own number parsing) and then converts the result to JSON,
which the API machinery decodes again. This module reproduces the observable
result of that chain for one scalar, so that ``0644`` means 420, ``on`` means
true, ``1:30`` stays a string (go-yaml has no sexagesimal numbers), timestamps
stay strings, ``3.0`` becomes the integer 3 and integers past int64 become
floats. Map keys are stringified the way sigs.k8s.io/yaml does it (floats in
float32 ``%g`` form). The rules are recorded against the real kubectl in
tests/manifests/test_kubectl_conformance.py.

It knows nothing about events, documents or files; yaml.py calls it.
"""

from __future__ import annotations

import math
import re
import struct
from decimal import Decimal
from typing import Final

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
UINT64_MAX: Final = 2**64 - 1


class Merge:
    """The type of MERGE, the plain ``<<`` key."""

    def __repr__(self) -> str:
        return "MERGE"


MERGE: Final = Merge()

Scalar = str | int | float | bool | None | Merge

_TRUE = ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")
_FALSE = ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")
_NULL = ("", "~", "null", "Null", "NULL")

_WORDS: Final[dict[str, Scalar]] = {
    **dict.fromkeys(_TRUE, True),
    **dict.fromkeys(_FALSE, False),
    **dict.fromkeys(_NULL, None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
    "<<": MERGE,
}

# go-yaml v2 only tries these hint classes; anything else is a string at once.
_WORD_HINTS: Final = frozenset("yYnNtTfFoO~")
_NUMBER_HINTS: Final = frozenset("0123456789+-")

_YAML_FLOAT: Final = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT: Final = re.compile(r"\.[0-9](_?[0-9])*([eE][-+]?[0-9](_?[0-9])*)?")
_DIGITS: Final = {
    2: frozenset("01"),
    8: frozenset("01234567"),
    10: frozenset("0123456789"),
    16: frozenset("0123456789abcdefABCDEF"),
}


def resolve_plain(text: str) -> Scalar:
    """Resolve an untagged plain scalar as go-yaml v2 does.

    Integers come back unbounded (callers apply the int64/uint64 rules); an
    overflowing float is a string, as Go's ParseFloat fails on it.
    """
    if text in _WORDS:
        return _WORDS[text]
    hint = text[:1]
    if hint == ".":
        return _parse_dot_float(text)
    if hint in _NUMBER_HINTS:
        return _parse_number(text)
    return text


def _parse_number(text: str) -> Scalar:
    plain = text.replace("_", "")
    integer = go_parse_int(plain)
    if integer is not None and (
        INT64_MIN <= integer <= INT64_MAX or (plain[0] not in "+-" and integer <= UINT64_MAX)
    ):
        return integer
    if _YAML_FLOAT.fullmatch(plain):
        number = float(plain)
        if not math.isinf(number):
            return number
    return text


def _parse_dot_float(text: str) -> Scalar:
    if _DOT_FLOAT.fullmatch(text):
        return float(text.replace("_", ""))
    return text


def go_parse_int(text: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 0, ...)`` syntax without the range check."""
    sign = 1
    body = text
    if body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    prefix = body[:2].lower()
    if prefix in ("0x", "0o", "0b"):
        base = {"0x": 16, "0o": 8, "0b": 2}[prefix]
        digits = body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, digits = 8, body[1:]
    else:
        base, digits = 10, body
    if not digits or not set(digits) <= _DIGITS[base]:
        return None
    return sign * int(digits, base)


def json_number(value: int | float) -> int | float:
    """Return the number the API server sees after kubectl's YAML -> JSON -> object.

    Go prints an integral float64 without a fraction and the decoder reads it
    back as int64; anything outside int64 stays (or becomes) a float.
    Raises ValueError for infinity and NaN, which JSON cannot hold.
    """
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else float(value)
    if math.isinf(value) or math.isnan(value):
        raise ValueError("unsupported value: JSON cannot hold infinity or NaN")
    if value.is_integer() and abs(value) < 1e21:
        # Go prints the shortest digits padded with zeros; that text must fit int64.
        printed = int(Decimal(repr(value)))
        if INT64_MIN <= printed <= INT64_MAX:
            return printed
    return value


def map_key(value: Scalar) -> str:
    """Stringify a resolved mapping key as sigs.k8s.io/yaml does.

    Raises ValueError for keys kubectl rejects: null and integers past int64.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return str(value)
        raise ValueError(f"unsupported map key: integer {value} is outside int64")
    if isinstance(value, float):
        return go_format_float32(value)
    if isinstance(value, Merge):
        return "<<"
    raise ValueError("unsupported map key: null")


def go_format_float32(value: float) -> str:
    """Go's ``strconv.FormatFloat(value, 'g', -1, 32)`` with YAML's inf/nan spellings."""
    if math.isnan(value):
        return ".nan"
    single = _to_float32(value)
    if math.isinf(single):
        return ".inf" if single > 0 else "-.inf"
    if single == 0:
        return "-0" if math.copysign(1.0, single) < 0 else "0"
    digits, exponent = _shortest_float32_digits(single)
    sign = "-" if single < 0 else ""
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    point = exponent + 1
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _to_float32(value: float) -> float:
    try:
        return float(struct.unpack("f", struct.pack("f", value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


def _shortest_float32_digits(single: float) -> tuple[str, int]:
    """Shortest decimal digits that read back as the same float32, and the exponent."""
    for precision in range(9):
        text = f"{abs(single):.{precision}e}"
        if _to_float32(float(text)) == abs(single):
            break
    mantissa, exponent = text.split("e")
    return mantissa.replace(".", "").rstrip("0") or "0", int(exponent)
