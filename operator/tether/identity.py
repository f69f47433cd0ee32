"""Resource identity and app tracking: which object is which, and whose it is.

A resource is identified by its ``ResourceKey`` (group, kind, namespace, name). Whether
a kind is namespaced comes from a ``Scope`` that the caller builds from discovery data
(and, for kinds whose CRD ships in the same source, from those CRDs). Tether marks each
object it manages with the label ``tether.dev/app`` (the app's instance value, a valid
label value of at most 63 characters) and the annotation ``tether.dev/tracking-id``
(``<app-ns>/<app-name>:<group>/<kind>:<ns>/<name>``). ``ownership`` reads those marks
back from a live object.

This module is pure: no I/O, no cluster access. It stops at deciding keys and ownership;
refusing conflicts and writing conditions is the caller's job.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tether.constants import APP_LABEL, TRACKING_ANNOTATION
from tether.constants import OPERATION_ANNOTATION as OPERATION_ANNOTATION
from tether.errors import TetherError

_MAX_LABEL_VALUE = 63
_LABEL_HASH_CHARS = 10
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class IdentityError(TetherError):
    """Base class for errors deciding an object's identity."""


class InvalidObjectError(IdentityError):
    """The object lacks apiVersion, kind or a name, or they have the wrong type."""


class NamespaceScopeError(IdentityError):
    """A cluster-scoped kind carries a namespace."""


class UnknownKindError(IdentityError):
    """Discovery does not know the kind, and no CRD in the source defines it."""

    def __init__(self, message: str, group: str, kind: str) -> None:
        super().__init__(message)
        self.group = group
        self.kind = kind


@dataclass(frozen=True, order=True)
class GroupKind:
    """A kind within an API group; the core group is ``""``."""

    group: str
    kind: str

    def __str__(self) -> str:
        return f"{self.group}/{self.kind}"


@dataclass(frozen=True, order=True)
class ResourceKey:
    """The identity of one object: group, kind, namespace (``""`` if cluster-scoped), name."""

    group: str
    kind: str
    namespace: str
    name: str

    @property
    def group_kind(self) -> GroupKind:
        return GroupKind(self.group, self.kind)

    @property
    def label(self) -> str:
        """``Kind ns/name`` (``Kind name`` when cluster-scoped), for messages."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"

    def __str__(self) -> str:
        return f"{self.group}/{self.kind}:{self.namespace}/{self.name}"

    def to_dict(self) -> dict[str, str]:
        return {
            "group": self.group,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceKey:
        values = [data.get(field, "") for field in ("group", "kind", "namespace", "name")]
        if not all(isinstance(v, str) for v in values):
            raise InvalidObjectError(f"resource key {dict(data)!r}: fields must be strings")
        return cls(*values)

    @classmethod
    def parse(cls, text: str) -> ResourceKey:
        """Parse the ``group/kind:namespace/name`` form that ``str()`` produces."""
        parsed = _parse_key_text(text)
        if parsed is None:
            raise InvalidObjectError(f"resource key {text!r}: expected group/kind:namespace/name")
        return parsed


@dataclass(frozen=True, order=True)
class AppRef:
    """The Application that manages objects: its namespace and name."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def instance(self) -> str:
        """The value of the ``tether.dev/app`` label for this app."""
        return app_instance(self)


class Scope(Protocol):
    """Discovery data: whether a kind is namespaced (True/False), or unknown (None)."""

    def is_namespaced(self, group_kind: GroupKind) -> bool | None: ...


@dataclass(frozen=True)
class StaticScope:
    """A ``Scope`` backed by a fixed mapping, e.g. built from a discovery snapshot."""

    kinds: Mapping[GroupKind, bool]

    def is_namespaced(self, group_kind: GroupKind) -> bool | None:
        return self.kinds.get(group_kind)


@dataclass(frozen=True)
class LayeredScope:
    """Asks ``primary`` first (live discovery), then ``fallback`` (e.g. CRDs in the source)."""

    primary: Scope
    fallback: Scope

    def is_namespaced(self, group_kind: GroupKind) -> bool | None:
        answer = self.primary.is_namespaced(group_kind)
        return answer if answer is not None else self.fallback.is_namespaced(group_kind)


def _core(*kinds: str) -> dict[GroupKind, bool]:
    return {GroupKind("", k): True for k in kinds}


# Built-in kinds of a recent Kubernetes, for tests and offline use (``tether render``).
BUILTIN_KINDS: Mapping[GroupKind, bool] = {
    **_core(
        "ConfigMap",
        "Secret",
        "Service",
        "ServiceAccount",
        "Pod",
        "PersistentVolumeClaim",
        "ResourceQuota",
        "LimitRange",
        "Endpoints",
        "Event",
        "ReplicationController",
        "PodTemplate",
    ),
    GroupKind("", "Namespace"): False,
    GroupKind("", "Node"): False,
    GroupKind("", "PersistentVolume"): False,
    **{
        GroupKind("apps", k): True
        for k in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ControllerRevision")
    },
    GroupKind("batch", "Job"): True,
    GroupKind("batch", "CronJob"): True,
    GroupKind("autoscaling", "HorizontalPodAutoscaler"): True,
    GroupKind("policy", "PodDisruptionBudget"): True,
    GroupKind("networking.k8s.io", "NetworkPolicy"): True,
    GroupKind("networking.k8s.io", "Ingress"): True,
    GroupKind("networking.k8s.io", "IngressClass"): False,
    GroupKind("rbac.authorization.k8s.io", "Role"): True,
    GroupKind("rbac.authorization.k8s.io", "RoleBinding"): True,
    GroupKind("rbac.authorization.k8s.io", "ClusterRole"): False,
    GroupKind("rbac.authorization.k8s.io", "ClusterRoleBinding"): False,
    GroupKind("storage.k8s.io", "StorageClass"): False,
    GroupKind("apiextensions.k8s.io", "CustomResourceDefinition"): False,
    GroupKind("apiregistration.k8s.io", "APIService"): False,
    GroupKind("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): False,
    GroupKind("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): False,
    GroupKind("scheduling.k8s.io", "PriorityClass"): False,
    GroupKind("coordination.k8s.io", "Lease"): True,
    GroupKind("discovery.k8s.io", "EndpointSlice"): True,
}

BUILTIN_SCOPE = StaticScope(BUILTIN_KINDS)


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> (``apps``, ``v1``); ``v1`` -> (``""``, ``v1``)."""
    group, _, version = api_version.rpartition("/")
    return group, version


def describe(obj: Mapping[str, Any]) -> str:
    """A short human name for an object in error messages: ``kind ns/name``."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    name = meta.get("name") or meta.get("generateName") or "<unnamed>"
    ns = meta.get("namespace")
    where = f"{ns}/{name}" if ns else str(name)
    return f"{obj.get('kind', '<no kind>')} {where}"


def as_written(obj: Mapping[str, Any]) -> str:
    """``describe(obj)``, saying when the namespace was left to defaulting."""
    meta = obj.get("metadata")
    has_namespace = isinstance(meta, Mapping) and bool(meta.get("namespace"))
    return describe(obj) if has_namespace else f"{describe(obj)} (no namespace)"


def scope_from_crds(objects: Iterable[Mapping[str, Any]]) -> StaticScope:
    """Scopes declared by the CustomResourceDefinitions among ``objects``."""
    kinds: dict[GroupKind, bool] = {}
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        if split_api_version(str(obj.get("apiVersion", "")))[0] != "apiextensions.k8s.io":
            continue
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            continue
        names = spec.get("names")
        group, kind = spec.get("group"), names.get("kind") if isinstance(names, Mapping) else None
        if isinstance(group, str) and isinstance(kind, str):
            kinds[GroupKind(group, kind)] = spec.get("scope", "Namespaced") != "Cluster"
    return StaticScope(kinds)


def with_source_crds(scope: Scope, objects: Iterable[Mapping[str, Any]]) -> Scope:
    """``scope``, augmented by CRDs in the desired set for kinds discovery does not know."""
    return LayeredScope(scope, scope_from_crds(objects))


def resource_key(obj: Mapping[str, Any], scope: Scope, default_namespace: str) -> ResourceKey:
    """The key of a desired object, defaulting its namespace when its kind is namespaced.

    A hook carrying only ``generateName`` gets an empty name here; the planner names it.
    """
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not api_version:
        raise InvalidObjectError(f"{describe(obj)}: missing apiVersion")
    if not isinstance(kind, str) or not kind:
        raise InvalidObjectError(f"{describe(obj)}: missing kind")
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        raise InvalidObjectError(f"{describe(obj)}: missing metadata")
    name = meta.get("name") or ""
    if not isinstance(name, str) or not (name or isinstance(meta.get("generateName"), str)):
        raise InvalidObjectError(f"{describe(obj)}: missing metadata.name")
    namespace = meta.get("namespace") or ""
    if not isinstance(namespace, str):
        raise InvalidObjectError(f"{describe(obj)}: metadata.namespace must be a string")
    group = split_api_version(api_version)[0]
    namespaced = scope.is_namespaced(GroupKind(group, kind))
    if namespaced is None:
        raise UnknownKindError(
            f"{describe(obj)}: the cluster does not know kind {kind} in group "
            f"{group or 'core'} ({api_version}), and no CRD in the source defines it",
            group,
            kind,
        )
    if not namespaced and namespace:
        raise NamespaceScopeError(
            f"{describe(obj)}: {kind} is cluster-scoped but the object sets namespace {namespace!r}"
        )
    return ResourceKey(group, kind, (namespace or default_namespace) if namespaced else "", name)


@functools.lru_cache(maxsize=4096)
def app_instance(app: AppRef) -> str:
    """The ``tether.dev/app`` label value: ``<ns>_<name>``, hashed down to 63 characters."""
    value = f"{app.namespace}_{app.name}"
    if len(value) <= _MAX_LABEL_VALUE and _LABEL_VALUE_RE.match(value):
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:_LABEL_HASH_CHARS]
    prefix = re.sub(r"[^-A-Za-z0-9_.]", "-", value)[: _MAX_LABEL_VALUE - _LABEL_HASH_CHARS - 1]
    prefix = prefix.strip("-_.")
    return f"{prefix}-{digest}" if prefix else digest


def tracking_id(app: AppRef, key: ResourceKey) -> str:
    """The ``tether.dev/tracking-id`` annotation value for ``key`` managed by ``app``."""
    return f"{app.namespace}/{app.name}:{key.group}/{key.kind}:{key.namespace}/{key.name}"


def parse_tracking_id(value: str) -> tuple[AppRef, ResourceKey] | None:
    """Split a tracking id into its app and key; ``None`` when it is malformed."""
    app_part, sep, rest = value.partition(":")
    if not sep:
        return None
    app_ns, slash, app_name = app_part.partition("/")
    key = _parse_key_text(rest)
    if not slash or not app_ns or not app_name or "/" in app_name or key is None:
        return None
    return AppRef(app_ns, app_name), key


def _parse_key_text(text: str) -> ResourceKey | None:
    parts = text.split(":")
    if len(parts) != 2:
        return None
    group, s1, kind = parts[0].partition("/")
    namespace, s2, name = parts[1].partition("/")
    if not s1 or not s2 or not kind or not name or "/" in kind or "/" in name:
        return None
    return ResourceKey(group, kind, namespace, name)


def stamp(obj: Mapping[str, Any], app: AppRef, key: ResourceKey) -> dict[str, Any]:
    """A copy of ``obj`` carrying the app label and the tracking annotation.

    The top level, ``metadata``, its labels and its annotations are new dicts; every other
    nested value is shared with ``obj`` (cheap for thousands of objects), so treat both as
    read-only, as the pure core does.
    """
    meta = obj.get("metadata")
    meta = dict(meta) if isinstance(meta, Mapping) else {}
    labels, annotations = meta.get("labels"), meta.get("annotations")
    meta["labels"] = {
        **(labels if isinstance(labels, Mapping) else {}),
        APP_LABEL: app_instance(app),
    }
    meta["annotations"] = {
        **(annotations if isinstance(annotations, Mapping) else {}),
        TRACKING_ANNOTATION: tracking_id(app, key),
    }
    return {**obj, "metadata": meta}


@dataclass(frozen=True)
class Owned:
    """The object is tracked by this app, at this key."""


@dataclass(frozen=True)
class NotManaged:
    """No app tracks the object here: no tracking id, a malformed one, or a copied object."""

    reason: str


@dataclass(frozen=True)
class SharedConflict:
    """Another app tracks this very object; it is reported and never taken over."""

    other: AppRef

    def __str__(self) -> str:
        return f"owned by app {self.other}"


Ownership = Owned | NotManaged | SharedConflict


def ownership(live: Mapping[str, Any], app: AppRef, key: ResourceKey) -> Ownership:
    """Who manages the live object at ``key``, judged by its tracking annotation."""
    meta = live.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    value = annotations.get(TRACKING_ANNOTATION) if isinstance(annotations, Mapping) else None
    if not isinstance(value, str) or not value:
        return NotManaged("no tracking id")
    parsed = parse_tracking_id(value)
    if parsed is None:
        return NotManaged("malformed tracking id")
    owner, tracked_key = parsed
    if tracked_key != key:
        return NotManaged(f"copied object: tracking id points at {tracked_key}")
    if owner != app:
        return SharedConflict(owner)
    return Owned()
