"""Kubernetes resource quantities, parsed to exact numbers for comparison.

``1000m`` == ``1``, ``1Gi`` == ``1073741824``, ``0.5`` == ``500m``, ``1e3`` == ``1k``.
Used only to decide whether two spellings mean the same amount; tether never rewrites
the quantity it sends. No I/O.
"""

from __future__ import annotations

import re
from fractions import Fraction

_PATTERN = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_EXPONENT = re.compile(r"^[eE]([+-]?[0-9]+)$")


def parse_quantity(value: object) -> Fraction | None:
    """The exact amount a quantity denotes, or None when it is not a quantity."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(str(value))
    if not isinstance(value, str):
        return None
    match = _PATTERN.match(value.strip())
    if match is None:
        return None
    number, suffix = Fraction(match.group(1)), match.group(2)
    if suffix in _BINARY:
        return number * Fraction(1024) ** _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * Fraction(10) ** _DECIMAL[suffix]
    exp = _EXPONENT.match(suffix)
    if exp is not None:
        return number * Fraction(10) ** int(exp.group(1))
    return None


def same_quantity(left: object, right: object) -> bool:
    """True when both values are quantities denoting the same amount."""
    a, b = parse_quantity(left), parse_quantity(right)
    return a is not None and a == b
