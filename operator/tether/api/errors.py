"""The error raised when a Repository or Application object is invalid.

``parse_application`` and ``parse_repository`` turn pydantic's validation errors
into one ``InvalidObjectError`` that names the object and lists every problem as a
field path (``spec.source.repoURL``) plus a message saying what to fix. Only the
spec's own words reach the message: no input values are echoed, so nothing from a
Secret can leak through it.

Hierarchy::

    ApiError (ValueError)
      InvalidObjectError    one object failed validation; .problems lists why
"""

from __future__ import annotations

from dataclasses import dataclass

from tether.errors import TetherError


class ApiError(TetherError, ValueError):
    """Base class for errors about Tether's API objects."""


@dataclass(frozen=True)
class FieldProblem:
    """One validation failure: the JSON path of the field and what to fix."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidObjectError(ApiError):
    """An API object failed validation; ``problems`` lists every failing field."""

    def __init__(self, kind: str, name: str, problems: tuple[FieldProblem, ...]) -> None:
        self.kind = kind
        self.name = name
        self.problems = problems
        listed = "; ".join(str(p) for p in problems)
        super().__init__(f"{kind} {name} is invalid: {listed}")
