"""The desired step: keys, hooks, waves, and errors that name the file and the object."""

from __future__ import annotations

from typing import Any

from fakeapi import FakeDiscovery

from tether.appspec import spec_from_flags
from tether.engine.desired import Desired
from tether.identity import ResourceKey, UnknownKindError
from tether.plan.errors import DuplicateObjectError, InvalidHookError

APP = spec_from_flags(app="web", namespace="ns")


def cm(name: str = "", **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name} if name else {"generateName": "job-"}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


class GrowingDiscovery(FakeDiscovery):
    """Learns the kind Gadget at its next refresh (a CRD was installed meanwhile)."""

    def __init__(self) -> None:
        self.refreshes = 0

    async def refresh(self, *, force: bool = True) -> None:
        self.refreshes += 1

    def is_namespaced(self, group: str, kind: str) -> bool | None:
        if kind == "Gadget":
            return True if self.refreshes else None
        return super().is_namespaced(group, kind)


async def test_hooks_and_waves_are_marked_and_stamped_objects_keyed() -> None:
    rendered = [
        cm("a", **{"argocd.argoproj.io/sync-wave": "2"}),
        cm(**{"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "-1"}),
        cm("skipped", **{"argocd.argoproj.io/hook": "Skip"}),
    ]
    found = await Desired(FakeDiscovery()).of(APP, rendered)  # type: ignore[arg-type]
    a, hook, skipped = (ResourceKey("", "ConfigMap", "ns", n) for n in ("a", "", "skipped"))
    assert found.errors == () and [k for k, _ in found.objects] == [a, hook, skipped]
    assert found.hooks == {hook, skipped}
    assert (found.waves[a], found.waves[hook]) == (2, -1)
    assert found.objects[0][1]["metadata"]["labels"]["tether.dev/app"] == "ns_web"


async def test_bad_annotations_and_duplicates_name_the_file_and_the_object() -> None:
    rendered = [cm("a", **{"argocd.argoproj.io/hook": "Sometimes"}), cm("b"), cm("b")]
    sources = ("a.yaml[doc 1]", "b.yaml[doc 1]", "c/b.yaml[doc 2]")
    found = await Desired(FakeDiscovery()).of(APP, rendered, sources=sources)  # type: ignore[arg-type]
    assert [type(p) for p in found.problems] == [InvalidHookError, DuplicateObjectError]
    bad, twice = found.errors
    assert bad.startswith("a.yaml[doc 1]: ConfigMap a") and "Sometimes" in bad
    assert twice == "ConfigMap ns/b is declared twice: b.yaml[doc 1] and c/b.yaml[doc 2]"
    assert [k.name for k, _ in found.objects] == ["b"]


async def test_an_unknown_kind_refreshes_discovery_once_and_is_found() -> None:
    gadget = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    discovery = GrowingDiscovery()
    found = await Desired(discovery).of(APP, [gadget])  # type: ignore[arg-type]
    assert found.errors == () and discovery.refreshes == 1

    class Never(GrowingDiscovery):
        def is_namespaced(self, group: str, kind: str) -> bool | None:
            return None if kind == "Gadget" else super().is_namespaced(group, kind)

    missing = await Desired(Never()).of(APP, [gadget], sources=("g.yaml[doc 1]",))  # type: ignore[arg-type]
    assert isinstance(missing.problems[0], UnknownKindError)
    assert missing.errors[0].startswith("g.yaml[doc 1]: Gadget g: the cluster does not know")
