"""Field pointers: JSON-pointer paths with ``[key=value]`` list selectors.

``/spec/template/spec/containers[name=web]/image`` names the ``image`` of the
container whose ``name`` is ``web``, whatever its position in the list. The
syntax is RFC 6901 (``/``-separated, ``~1`` for ``/`` and ``~0`` for ``~`` in a
token) plus one form: a token ``key[field=value]`` is the step ``key``
followed by a selector step that picks, in a list, the first mapping whose
``field`` equals ``value`` (compared as text, so ``[port=80]`` matches 80).
An all-digit token is an index in a list and the key ``"0"`` in a mapping.

Steps are ``str`` (mapping key), ``int`` (list index) or ``(field, value)``
(selector). ``get`` returns ``MISSING`` when any step is absent; ``with_value``
returns a copy with one value set. Pure; parse errors are ``InvalidPointer``.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any, Final

from tether.writeback.errors import FieldMoved, InvalidPointer

Step = str | int | tuple[str, str]

_SELECTOR: Final = re.compile(r"^(?P<key>[^\[\]]*)\[(?P<field>[^\[\]=]+)=(?P<value>[^\[\]]*)\]$")
_INDEX: Final = re.compile(r"^(0|[1-9][0-9]*)$")
_MAX_STEPS: Final = 64


class _Missing:
    """The type of ``MISSING``: what ``get`` returns for an absent field."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


@dataclass(frozen=True)
class FieldPointer:
    """A path to one field of an object."""

    steps: tuple[Step, ...]

    @classmethod
    def parse(cls, text: str) -> FieldPointer:
        """Parse ``/a/b[k=v]/0/c``; raise InvalidPointer naming the text and the cause."""
        if not text.startswith("/"):
            raise InvalidPointer(f"field pointer {text!r}: must start with '/'")
        tokens = text[1:].split("/")
        if len(tokens) > _MAX_STEPS:
            raise InvalidPointer(f"field pointer {text!r}: more than {_MAX_STEPS} steps")
        steps: list[Step] = []
        for token in tokens:
            steps.extend(_parse_token(token, text))
        return cls(tuple(steps))

    def __str__(self) -> str:
        out: list[str] = []
        for step in self.steps:
            if isinstance(step, tuple):
                field, value = step
                selector = f"[{_escape(field)}={_escape(value)}]"
                if out and not out[-1].endswith("]"):
                    out[-1] += selector
                else:
                    out.append(selector)
            else:
                out.append(_escape(str(step)))
        return "/" + "/".join(out)

    @property
    def last(self) -> Step:
        return self.steps[-1]

    @property
    def parent(self) -> FieldPointer:
        return FieldPointer(self.steps[:-1])

    def get(self, obj: Any) -> Any:
        """The value at this pointer, or ``MISSING``."""
        current = obj
        for step in self.steps:
            current = step_into(current, step)
            if current is MISSING:
                return MISSING
        return current

    def with_value(self, obj: Any, value: Any) -> Any:
        """A deep copy of ``obj`` with ``value`` at this pointer.

        A missing mapping key on the way is created (as an empty mapping); a
        missing list element is FieldMoved, as there is nothing to put it in.
        """
        if not self.steps:
            return copy.deepcopy(value)
        root = copy.deepcopy(obj)
        current = root
        for index, step in enumerate(self.steps[:-1]):
            following = step_into(current, step)
            if following is MISSING:
                if isinstance(step, str) and isinstance(current, dict):
                    following = current[step] = {}
                else:
                    raise FieldMoved(
                        f"{FieldPointer(self.steps[: index + 1])}: no such list element"
                    )
            current = following
        _assign(current, self.steps[-1], value, self)
        return root


def step_into(container: Any, step: Step) -> Any:
    """One step down from ``container``, or MISSING."""
    if isinstance(step, tuple):
        return _select(container, step)
    if isinstance(container, dict):
        return container.get(str(step), MISSING)
    if isinstance(container, list) and isinstance(step, int):
        return container[step] if step < len(container) else MISSING
    return MISSING


def select_index(container: Any, step: Step) -> int | None:
    """The list index a selector or index step names in ``container``, if any."""
    if not isinstance(container, list):
        return None
    if isinstance(step, int):
        return step if step < len(container) else None
    if isinstance(step, tuple):
        field, value = step
        for index, item in enumerate(container):
            if isinstance(item, dict) and field in item and _as_text(item[field]) == value:
                return index
    return None


def _select(container: Any, step: tuple[str, str]) -> Any:
    index = select_index(container, step)
    return MISSING if index is None else container[index]


def _assign(container: Any, step: Step, value: Any, pointer: FieldPointer) -> None:
    if isinstance(container, dict) and not isinstance(step, tuple):
        container[str(step)] = value
        return
    index = select_index(container, step)
    if index is None:
        raise FieldMoved(f"{pointer}: no such list element")
    container[index] = value


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_token(token: str, text: str) -> list[Step]:
    match = _SELECTOR.match(token)
    if match is None:
        if "[" in token or "]" in token:
            raise InvalidPointer(
                f"field pointer {text!r}: {token!r} is not key[field=value]"
                " (write '[' and ']' in keys only inside a selector value)"
            )
        key = _unescape(token, text)
        return [int(key) if _INDEX.match(key) else key]
    steps: list[Step] = []
    if match["key"]:
        key = _unescape(match["key"], text)
        steps.append(int(key) if _INDEX.match(key) else key)
    steps.append((_unescape(match["field"], text), _unescape(match["value"], text)))
    return steps


def _unescape(token: str, text: str) -> str:
    if re.search(r"~(?![01])", token):
        raise InvalidPointer(f"field pointer {text!r}: '~' must be written ~0 (and '/' as ~1)")
    return token.replace("~1", "/").replace("~0", "~")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
