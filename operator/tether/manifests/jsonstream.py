"""Load a stream of JSON objects (what kubectl accepts in ``.json`` files).

kubectl sniffs a file: when its first non-space character is ``{`` it is read
as a stream of JSON values, otherwise as YAML. Numbers follow the same
JSON-to-object rules as the YAML path, and duplicate keys are an error.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from tether.manifests.errors import DuplicateKeyError, YAMLSyntaxError
from tether.manifests.scalars import json_number
from tether.manifests.yaml import Document


def looks_like_json(text: str) -> bool:
    """kubectl's sniff: the first non-whitespace character is ``{``."""
    return text.lstrip(" \t\r\n")[:1] == "{"


def load_json_documents(text: str, *, file: str) -> list[Document]:
    """Parse consecutive JSON values; raise YAMLSyntaxError/DuplicateKeyError naming ``file``."""
    documents: list[Document] = []
    position, index = 0, 0
    while True:
        position = _skip_space(text, position)
        if position >= len(text):
            return documents
        decoder = _decoder(file, index)
        try:
            value, position_after = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise YAMLSyntaxError(
                f"invalid JSON: {exc.msg}", file=file, doc=index, line=exc.lineno
            ) from None
        except ValueError as exc:
            raise YAMLSyntaxError(str(exc), file=file, doc=index) from None
        if value is not None:
            documents.append(Document(index, text.count("\n", 0, position) + 1, value))
        position, index = position_after, index + 1


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _decoder(file: str, index: int) -> json.JSONDecoder:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                raise DuplicateKeyError(f"duplicate key {key!r}", file=file, doc=index)
            result[key] = value
        return result

    return json.JSONDecoder(
        object_pairs_hook=pairs,
        parse_int=lambda text: json_number(int(text)),
        parse_float=_parse_float,
        parse_constant=_reject_constant,
    )


def _parse_float(text: str) -> int | float:
    return json_number(float(text))


def _reject_constant(text: str) -> NoReturn:
    raise ValueError(f"unsupported value {text}: not valid JSON")
