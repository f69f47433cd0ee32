"""Turn a pydantic model's JSON schema into a Kubernetes structural schema.

Kubernetes accepts a narrow OpenAPI v3 subset for CRDs: no ``$ref``, a ``type`` on
every node (except int-or-string and preserve-unknown-fields nodes), no
``additionalProperties`` next to ``properties``, no ``anyOf`` except for
int-or-string. ``structural_schema`` inlines references, folds ``Optional`` away,
turns free-form objects into ``x-kubernetes-preserve-unknown-fields`` and keeps
descriptions. A schema feature it does not know is an error, never silently
dropped, so a model change cannot produce a CRD that the apiserver reads
differently from the model.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

PRESERVE = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"

_KEPT = {
    "type",
    "format",
    "pattern",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "description",
    "required",
    "properties",
    "items",
    "additionalProperties",
    PRESERVE,
    INT_OR_STRING,
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
}
_DROPPED = {"title", "default", "examples"}


class SchemaConversionError(ValueError):
    """The model uses a JSON-schema feature that has no structural equivalent."""


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of ``model``, with aliases as property names."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return _convert(raw, defs, model.__name__)


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Inline a $ref or single allOf; the referring node's own keys win (descriptions)."""
    while True:
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        elif "allOf" in node and len(node["allOf"]) == 1:
            node = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
        else:
            return node


def _fold_optional(node: dict[str, Any], where: str) -> dict[str, Any]:
    if "anyOf" not in node:
        return node
    options = [o for o in node["anyOf"] if o != {"type": "null"}]
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    if rest.get(INT_OR_STRING):
        return rest
    if len(options) != 1:
        raise SchemaConversionError(f"{where}: unions other than Optional are not structural")
    return {**options[0], **rest}


def _convert(node: dict[str, Any], defs: dict[str, Any], where: str) -> dict[str, Any]:
    node = _resolve(node, defs)
    node = _fold_optional(node, where)
    node = _resolve(node, defs)
    if "const" in node:
        node = {**{k: v for k, v in node.items() if k != "const"}, "enum": [node["const"]]}
    unknown = set(node) - _KEPT - _DROPPED
    if unknown:
        raise SchemaConversionError(f"{where}: no structural form for {sorted(unknown)}")
    out: dict[str, Any] = {}
    if "description" in node:
        out["description"] = node["description"]
    if node.get(INT_OR_STRING):
        out[INT_OR_STRING] = True
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return out
    for key in ("type", "format", "pattern", "enum", "minimum", "maximum"):
        if key in node:
            out[key] = node[key]
    for key in ("minLength", "maxLength", "minItems", "maxItems"):
        if key in node:
            out[key] = node[key]
    if node.get("type") == "object" or "properties" in node:
        out["type"] = "object"
        out.update(_convert_object(node, defs, where))
    elif node.get("type") == "array":
        out["items"] = _convert(node.get("items", {}), defs, f"{where}[]")
    if not out.get("type") and not out.get(PRESERVE):
        if node.get(PRESERVE) or set(node) <= {"description", PRESERVE}:
            out[PRESERVE] = True
        else:
            raise SchemaConversionError(f"{where}: node has no type")
    elif node.get(PRESERVE):
        out[PRESERVE] = True
    for key in ("x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-validations"):
        if key in node:
            out[key] = node[key]
    return out


def _convert_object(node: dict[str, Any], defs: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    props = node.get("properties")
    extra = node.get("additionalProperties")
    if props:
        out["properties"] = {
            name: _convert(sub, defs, f"{where}.{name}") for name, sub in props.items()
        }
        if node.get("required"):
            out["required"] = list(node["required"])
        return out
    if isinstance(extra, dict) and extra:
        out["additionalProperties"] = _convert(extra, defs, f"{where}.*")
    elif extra is not False:
        out[PRESERVE] = True
    return out
