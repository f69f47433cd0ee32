"""New objects for Git: a live object cleaned of what the server and Tether filled in.

``clean`` removes uid, resourceVersion, generation, creationTimestamp,
managedFields, selfLink, deletion marks, status, the kubectl last-applied
annotation, a Deployment's revision annotation, a Service's allocated
clusterIP(s) (not ``None``), Tether's tracking marks (``tether.dev/app``,
``tether.dev/tracking-id``, ``tether.dev/operation``), the capture selector's
label keys, and the ``labels``/``annotations``/``metadata`` maps that end up
empty. ``new_object_path`` names the file ``<folder>/<kind>-<name>.yaml``,
lower-case (characters other than ``a-z0-9.-_`` become ``-``), and
``render_new_object`` writes it as block YAML with ``apiVersion``, ``kind``,
``metadata`` first. Pure; it stops at the object: refusing Secrets and
existing files is ``edits.apply_plan``'s job.
"""

from __future__ import annotations

import copy
import io
import posixpath
import re
from collections.abc import Iterable
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.representer import RoundTripRepresenter

from tether.constants import APP_LABEL, OPERATION_ANNOTATION, TRACKING_ANNOTATION
from tether.diff.lastapplied import LAST_APPLIED

SERVER_METADATA: Final = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
TETHER_LABELS: Final = (APP_LABEL,)
TETHER_ANNOTATIONS: Final = (TRACKING_ANNOTATION, OPERATION_ANNOTATION, LAST_APPLIED)
# Written by controllers, not by people: kept in Git they would be stale or pinned.
SERVER_ANNOTATIONS: Final = ("deployment.kubernetes.io/revision",)
_FIRST_KEYS: Final = ("apiVersion", "kind", "metadata")
_UNSAFE_FILE_CHARS: Final = re.compile(r"[^a-z0-9._-]")


def clean(obj: dict[str, Any], selector_keys: Iterable[str]) -> dict[str, Any]:
    """A copy of a live object fit for Git (see the module docstring)."""
    cleaned = copy.deepcopy(obj)
    cleaned.pop("status", None)
    metadata = cleaned.get("metadata")
    if isinstance(metadata, dict):
        for field in SERVER_METADATA:
            metadata.pop(field, None)
        _drop_keys(metadata, "labels", (*TETHER_LABELS, *selector_keys))
        _drop_keys(metadata, "annotations", (*TETHER_ANNOTATIONS, *SERVER_ANNOTATIONS))
        if not metadata:
            del cleaned["metadata"]
    _drop_allocated_cluster_ip(cleaned)
    return {key: cleaned[key] for key in _ordered_keys(cleaned)}


def _drop_allocated_cluster_ip(obj: dict[str, Any]) -> None:
    """A Service's clusterIP(s) are allocated by the server; in Git they would pin an
    address another cluster may not have. ``None`` (headless) is the user's and stays."""
    spec = obj.get("spec")
    if obj.get("kind") != "Service" or obj.get("apiVersion") != "v1" or not isinstance(spec, dict):
        return
    if spec.get("clusterIP") != "None":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)


def new_object_path(folder: str, obj: dict[str, Any]) -> str:
    """``<folder>/<kind>-<name>.yaml``, lower-case, safe characters only."""
    kind = str(obj.get("kind", "object"))
    metadata = obj.get("metadata")
    name = str(metadata.get("name", "")) if isinstance(metadata, dict) else ""
    stem = _UNSAFE_FILE_CHARS.sub("-", f"{kind}-{name}".lower())
    return posixpath.normpath(posixpath.join(folder.strip("/") or ".", f"{stem}.yaml"))


def render_new_object(obj: dict[str, Any]) -> bytes:
    """Block-style YAML for a new file (2-space indent, multi-line strings as ``|``)."""
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    yaml.Representer = _Representer
    out = io.StringIO()
    yaml.dump(obj, out)
    return out.getvalue().encode("utf-8")


class _Representer(RoundTripRepresenter):
    def represent_str(self, data: str) -> Any:
        style = "|" if "\n" in data and _literal_safe(data) else None
        return self.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Representer.add_representer(str, _Representer.represent_str)


def _literal_safe(text: str) -> bool:
    # A literal block cannot keep trailing blanks on a line or control characters.
    lines = text.split("\n")
    return all(line == line.rstrip(" \t") and line.isprintable() for line in lines)


def _drop_keys(metadata: dict[str, Any], field: str, keys: Iterable[str]) -> None:
    values = metadata.get(field)
    if not isinstance(values, dict):
        return
    for key in keys:
        values.pop(key, None)
    if not values:
        del metadata[field]


def _ordered_keys(obj: dict[str, Any]) -> list[str]:
    first = [key for key in _FIRST_KEYS if key in obj]
    return first + [key for key in obj if key not in _FIRST_KEYS]
