"""Turn raw objects (kopf bodies, YAML documents) into validated API models.

``parse_application``, ``parse_repository`` and ``parse_project`` raise one ``InvalidObjectError``
listing every problem as ``field.path: what to fix``. Pydantic's own wording is
rewritten where it would not help a user (patterns, unknown fields), and input
values are never echoed.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel

from tether.api.application import Application
from tether.api.errors import FieldProblem, InvalidObjectError
from tether.api.meta import DNS_LABEL, DNS_SUBDOMAIN, object_label
from tether.api.project import Project
from tether.api.repository import Repository
from tether.objects import plain

M = TypeVar("M", bound=BaseModel)

_PATTERN_HINTS = {
    DNS_LABEL: "must be a DNS label: lowercase letters, digits and '-', "
    "starting and ending with a letter or digit",
    DNS_SUBDOMAIN: "must be a DNS name: lowercase letters, digits, '-' and '.'",
}


def parse_application(obj: Mapping[str, Any]) -> Application:
    """A validated Application, or InvalidObjectError naming every bad field.

    A status that does not validate (written by another version) is dropped, not
    reported: the spec is what the user controls and what must be right.
    """
    return _parse(Application, "Application", obj)


def parse_repository(obj: Mapping[str, Any]) -> Repository:
    """A validated Repository, or InvalidObjectError naming every bad field (status: as above)."""
    return _parse(Repository, "Repository", obj)


def parse_project(obj: Mapping[str, Any]) -> Project:
    """A validated Project, or InvalidObjectError naming every bad field (status: as above)."""
    return _parse(Project, "Project", obj)


def _parse(model: type[M], kind: str, obj: Mapping[str, Any]) -> M:
    if not isinstance(obj, Mapping):
        problem = FieldProblem("", f"expected a {kind} object, got {type(obj).__name__}")
        raise InvalidObjectError(kind, "<unknown>", (problem,))
    copy = plain(obj)
    try:
        return model.model_validate(copy)
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_input=False)
    if all(err["loc"][:1] == ("status",) for err in errors):
        return _parse(model, kind, {k: v for k, v in copy.items() if k != "status"})
    problems = tuple(_problem(model, err) for err in errors if err["loc"][:1] != ("status",))
    raise InvalidObjectError(kind, object_label(kind, copy), problems)


def format_path(loc: tuple[int | str, ...]) -> str:
    """``("spec", "syncPolicy", "syncOptions", 0)`` -> ``spec.syncPolicy.syncOptions[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _problem(model: type[BaseModel], err: Any) -> FieldProblem:
    loc = tuple(err["loc"])
    kind = err["type"]
    message = str(err["msg"])
    if kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        allowed = _allowed_fields(model, loc[:-1])
        message = "unknown field" + (
            f"; the fields here are {', '.join(allowed)}" if allowed else ""
        )
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
    elif kind == "string_pattern_mismatch":
        message = _PATTERN_HINTS.get(err.get("ctx", {}).get("pattern", ""), message)
    return FieldProblem(format_path(loc), message)


def _allowed_fields(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The JSON names of the fields of the model found at ``loc``, or [] if none is."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    current = _unwrap_optional(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _step(annotation: Any, part: int | str) -> Any:
    """The annotation one path segment below ``annotation``, unwrapping Optional."""
    annotation = _unwrap_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            if part in (field.alias, name):
                return field.annotation
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list and isinstance(part, int) and args:
        return args[0]
    if origin is dict and isinstance(part, str) and len(args) == 2:
        return args[1]
    return None


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation
