"""One Application, one typed spec: the frozen ``AppSpec`` family and the two ways to get one.

``spec_of(app)`` turns a validated ``Application`` (the pydantic API model) into
an ``AppSpec``; ``spec_from_flags(...)`` does the same for the CLI's flags.
These are the only two translations: the controller, the engine adapter, the
renderer and the sync policy all read the ``AppSpec``, so the CLI and the
operator judge an app through the same values.

What is here: the source (where, which revision, which folder, and the render
options as the one frozen ``tether.manifests.RenderOptions``), the
destination, the sync policy (automation, sync options, one retry model with
one ``Backoff``), the ignore rules and the engine's knobs. What is not: I/O.
Validation of user input is the API models' job; this module only reshapes
values they already checked.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tether.backoff import exponential
from tether.constants import WRITE_BACK_AUTHOR, WRITE_BACK_MESSAGE
from tether.diff import IgnoreRule
from tether.identity import AppRef, app_instance
from tether.kube.resource import GVK
from tether.manifests.options import (
    DirectoryOptions,
    HelmOptions,
    JsonnetOptions,
    JsonnetVar,
    KustomizeImage,
    KustomizeOptions,
    KustomizePatch,
    KustomizeTarget,
    RenderOptions,
    inline_values,
)
from tether.writeback.capture import CaptureSpec, FieldRule, parse_kinds
from tether.writeback.pointer import FieldPointer

if TYPE_CHECKING:  # the API models are only read here; the CLI need not import them
    from tether.api.application import (
        Application,
        ApplicationSource,
        IgnoreDifference,
    )
    from tether.api.application import JsonnetOptions as ApiJsonnetOptions
    from tether.api.writeback import WriteBack
    from tether.tenancy import ProjectPolicy

DeletionPolicy = Literal["Orphan", "Delete"]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``duration * factor**(retry-1)``, capped at ``max_duration``.

    ``retry`` counts from 1 (the first retry). Overflow-safe for any count
    (``tether.backoff.exponential``), so a failure streak of thousands never
    raises. Sync retries and failing reconciles use it.
    """

    duration: float = 5.0
    factor: float = 2.0
    max_duration: float = 180.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0 or less: no wait)."""
        return exponential(retry, self.duration, self.factor, self.max_duration)

    def jittered(
        self, retry: int, fraction: float = 0.1, rng: random.Random | None = None
    ) -> float:
        """``delay(retry)`` spread by up to +/- ``fraction`` so failing apps do not tick together."""
        base = self.delay(retry)
        spread = base * fraction
        return max(0.0, base + (rng or random).uniform(-spread, spread))


@dataclass(frozen=True)
class Retry:
    """``syncPolicy.retry``: how many retries after a failed automatic sync, and the waits."""

    limit: int = 0  # retries after the first failed attempt; < 0 means unlimited
    backoff: Backoff = Backoff()


@dataclass(frozen=True)
class SourceSpec:
    """Where the manifests come from and how to render them.

    Exactly one of ``repo_url`` (inline, read without credentials) and
    ``repository`` (a Repository in the app's namespace) is set for an
    Application; the CLI sets neither (its SOURCE is a folder or URL argument).
    """

    repo_url: str | None = None
    repository: str | None = None
    insecure: bool = False
    revision: str = "HEAD"
    path: str = ""  # normal form, "" for the repository root
    render: RenderOptions = field(default_factory=RenderOptions)
    chart: str = ""  # a chart of a helm or oci Repository; "" for Git and OCI artifacts
    ref: str = ""  # multi-source: the name others read its files by ($ref/path)

    @property
    def renders(self) -> bool:
        """Whether it contributes objects: a bare ``ref`` source without path does not."""
        return not (self.ref and not self.path and not self.chart)

    @property
    def followed(self) -> str:
        """What the app asks its Repository to resolve: the revision, or ``chart@revision``.

        The Repository's status lists it under this key, and apps look it up by it.
        """
        return f"{self.chart}@{self.revision}" if self.chart else self.revision


@dataclass(frozen=True)
class Destination:
    """Where namespaced objects go, and as whom they are written."""

    namespace: str = "default"
    service_account: str | None = None


@dataclass(frozen=True)
class SyncSpec:
    """When and how to sync: automation, sync options and retries."""

    automated: bool = False
    prune: bool = False
    self_heal: bool = False
    allow_empty: bool = False
    suspend: bool = False
    options: tuple[str, ...] = ()  # e.g. ServerSideApply=true, as written
    retry: Retry = Retry()


@dataclass(frozen=True)
class WriteBackSpec:
    """``spec.writeBack``: what to capture and how to commit it.

    ``branch`` None means the branch the app follows; ``debounce`` is in seconds.
    """

    capture: CaptureSpec = field(default_factory=CaptureSpec)
    branch: str | None = None
    push_branch: str | None = None
    author_name: str = WRITE_BACK_AUTHOR[0]
    author_email: str = WRITE_BACK_AUTHOR[1]
    message: str = WRITE_BACK_MESSAGE
    debounce: float = 10.0


@dataclass(frozen=True)
class AppSpec:
    """Everything the engine, the renderer and the controller need to know about one app.

    ``generation`` and ``uid`` identify the spec the value was built from, so a
    render memo keyed by them is dropped when the spec changes.
    """

    name: str
    namespace: str = "default"
    source: SourceSpec = SourceSpec()
    destination: Destination = Destination()
    sync: SyncSpec = SyncSpec()
    ignore: tuple[IgnoreRule, ...] = ()
    interval: float = 180.0
    deletion_policy: DeletionPolicy = "Orphan"
    concurrency: int = 8
    health_timeout: float = 300.0
    extra_kinds: tuple[GVK, ...] = ()
    uid: str = ""
    generation: int | None = None
    # The app's Project; None only for the CLI without --project (nothing to check).
    project: ProjectPolicy | None = None
    write_back: WriteBackSpec | None = None
    # spec.sources: every source in order (``source`` is then the first); () for one source
    sources: tuple[SourceSpec, ...] = ()

    @property
    def all_sources(self) -> tuple[SourceSpec, ...]:
        """Every source of the app: ``sources``, or ``(source,)``."""
        return self.sources or (self.source,)

    @property
    def ref(self) -> AppRef:
        return AppRef(self.namespace, self.name)

    @property
    def label(self) -> str:
        """The value of the tracking label on every object the app manages."""
        return app_instance(self.ref)

    @property
    def destination_namespace(self) -> str:
        return self.destination.namespace

    @property
    def service_account(self) -> str | None:
        return self.destination.service_account

    @property
    def sync_options(self) -> tuple[str, ...]:
        return self.sync.options

    @property
    def server_side(self) -> bool:
        return "ServerSideApply=true" in self.sync.options

    @property
    def needs_managed_fields(self) -> bool:
        """Whether an ignore rule names field managers (the cache must keep managedFields)."""
        return any(rule.managed_fields_managers for rule in self.ignore)

    @property
    def render_id(self) -> str:
        """What besides the commit shapes this app's render: uid and generation."""
        return f"{self.uid}:{self.generation}"


# -- from an Application -------------------------------------------------------------------


def spec_of(app: Application) -> AppSpec:
    """The ``AppSpec`` of a validated Application; the only translation of the CR."""
    namespace = app.metadata.namespace or "default"
    spec = app.spec
    sources = tuple(source_of(item) for item in spec.all_sources)
    return AppSpec(
        name=app.metadata.name,
        namespace=namespace,
        source=sources[0],
        sources=sources if spec.sources is not None else (),
        destination=Destination(
            namespace=app.target_namespace or namespace,
            service_account=spec.destination.service_account_name,
        ),
        sync=_sync_of(app),
        ignore=tuple(_ignore_rule(item) for item in spec.ignore_differences),
        interval=spec.interval_seconds,
        deletion_policy=spec.effective_deletion_policy(),
        uid=app.metadata.uid or "",
        generation=app.metadata.generation,
        write_back=write_back_of(spec.write_back) if spec.write_back is not None else None,
    )


def write_back_of(write_back: WriteBack) -> WriteBackSpec:
    """The ``WriteBackSpec`` of a validated ``spec.writeBack``."""
    capture = write_back.capture
    selector = capture.new_objects
    return WriteBackSpec(
        capture=CaptureSpec(
            fields=tuple(
                FieldRule(
                    kinds=parse_kinds(item.kind),
                    pointer=FieldPointer.parse(item.pointer),
                    group=item.group,
                    name=item.name,
                    helm_value=item.helm_value,
                )
                for item in capture.fields
            ),
            new_objects=tuple(sorted(selector.match_labels.items())) if selector else None,
            allow_secrets=capture.allow_secrets,
        ),
        branch=write_back.branch,
        push_branch=write_back.push_branch,
        author_name=write_back.author.name,
        author_email=write_back.author.email,
        message=write_back.message,
        debounce=write_back.debounce_seconds,
    )


def source_of(source: ApplicationSource) -> SourceSpec:
    return SourceSpec(
        repo_url=source.repo_url,
        repository=source.repository_ref.name if source.repository_ref is not None else None,
        insecure=source.insecure,
        revision=source.revision,
        path=source.clean_path,
        render=render_options(source),
        chart=source.chart or "",
        ref=source.ref or "",
    )


def render_options(source: ApplicationSource) -> RenderOptions:
    """The render options of ``spec.source``, read from the validated model (no dict trip)."""
    directory, kustomize, helm = source.directory, source.kustomize, source.helm
    options = RenderOptions()
    if directory is not None:
        options = RenderOptions(
            directory=DirectoryOptions(
                recurse=directory.recurse,
                include=tuple(directory.include),
                exclude=tuple(directory.exclude),
                jsonnet=_jsonnet(directory.jsonnet),
            )
        )
    if kustomize is not None:
        options = RenderOptions(
            kustomize=KustomizeOptions(
                name_prefix=kustomize.name_prefix or "",
                name_suffix=kustomize.name_suffix or "",
                namespace=kustomize.namespace or "",
                images=tuple(kustomize_image(item) for item in kustomize.images),
                common_labels=tuple(sorted(kustomize.common_labels.items())),
                common_annotations=tuple(sorted(kustomize.common_annotations.items())),
                patches=tuple(_kustomize_patch(item) for item in kustomize.patches),
            )
        )
    if helm is not None:
        options = RenderOptions(
            helm=HelmOptions(
                value_files=tuple(helm.value_files),
                values=inline_values(helm.values),
                set=tuple((p.name, p.value) for p in helm.parameters),
                release_name=helm.release_name or "",
                skip_crds=helm.skip_crds,
            )
        )
    return options


def _jsonnet(jsonnet: ApiJsonnetOptions | None) -> JsonnetOptions:
    if jsonnet is None:
        return JsonnetOptions()
    return JsonnetOptions(
        ext_vars=tuple(JsonnetVar(v.name, v.value, v.code) for v in jsonnet.ext_vars),
        tlas=tuple(JsonnetVar(v.name, v.value, v.code) for v in jsonnet.tlas),
        libs=tuple(jsonnet.libs),
    )


def _sync_of(app: Application) -> SyncSpec:
    from tether.api.types import parse_duration

    policy = app.spec.sync_policy
    auto = policy.automated
    retry = Retry()
    if policy.retry is not None:
        retry = Retry(
            limit=policy.retry.limit,
            backoff=Backoff(
                duration=parse_duration(policy.retry.backoff.duration),
                factor=policy.retry.backoff.factor,
                max_duration=parse_duration(policy.retry.backoff.max_duration),
            ),
        )
    return SyncSpec(
        automated=auto is not None,
        prune=bool(auto and auto.prune),
        self_heal=bool(auto and auto.self_heal),
        allow_empty=bool(auto and auto.allow_empty),
        suspend=app.spec.suspend,
        options=tuple(policy.sync_options),
        retry=retry,
    )


def _ignore_rule(item: IgnoreDifference) -> IgnoreRule:
    return IgnoreRule(
        group=item.group,
        kind=item.kind,
        name=item.name or "",
        namespace=item.namespace or "",
        json_pointers=tuple(item.json_pointers),
        managed_fields_managers=tuple(item.managed_fields_managers),
    )


def kustomize_image(text: str) -> KustomizeImage:
    """Argo CD's ``name=newName:tag`` / ``name:tag`` / ``name@digest`` image override."""
    name, _, replacement = text.partition("=")
    replacement = replacement or name
    digest = ""
    if "@" in replacement:
        replacement, digest = replacement.split("@", 1)
    new_name, tag = replacement, ""
    if ":" in replacement.rsplit("/", 1)[-1]:
        new_name, tag = replacement.rsplit(":", 1)
    return KustomizeImage(
        name=name, new_name=new_name if new_name != name else "", new_tag=tag, digest=digest
    )


def _kustomize_patch(item: dict[str, object]) -> KustomizePatch:
    target = item.get("target")
    if not isinstance(target, dict) or not target:
        return KustomizePatch(patch=str(item["patch"]))
    return KustomizePatch(
        patch=str(item["patch"]),
        target=KustomizeTarget(
            group=str(target.get("group", "")),
            version=str(target.get("version", "")),
            kind=str(target.get("kind", "")),
            name=str(target.get("name", "")),
            namespace=str(target.get("namespace", "")),
            label_selector=str(target.get("labelSelector", "")),
            annotation_selector=str(target.get("annotationSelector", "")),
        ),
    )


# -- from the CLI's flags ------------------------------------------------------------------


def spec_from_flags(
    *,
    app: str,
    namespace: str = "default",
    service_account: str | None = None,
    sync_options: Sequence[str] = (),
    revision: str = "HEAD",
    path: str = "",
    insecure: bool = False,
    render: RenderOptions | None = None,
    health_timeout: float = 300.0,
    concurrency: int = 8,
    ignore: Sequence[IgnoreRule] = (),
) -> AppSpec:
    """The ``AppSpec`` of ``tether diff`` / ``tether sync``; the only translation of flags.

    ``ignore`` is for library callers: the CLI has no flag for ignore rules.
    """
    return AppSpec(
        name=app,
        namespace=namespace,
        source=SourceSpec(
            revision=revision, path=path, insecure=insecure, render=render or RenderOptions()
        ),
        destination=Destination(namespace=namespace, service_account=service_account),
        sync=SyncSpec(options=tuple(sync_options)),
        ignore=tuple(ignore),
        health_timeout=health_timeout,
        concurrency=concurrency,
    )


def render_options_from_flags(
    *,
    recurse: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    value_files: Sequence[str] = (),
    set_values: Sequence[tuple[str, str]] = (),
    release_name: str | None = None,
    helm_namespace: str = "",
    jsonnet: JsonnetOptions | None = None,
) -> RenderOptions:
    """The render options the CLI's source flags ask for."""
    return RenderOptions(
        directory=DirectoryOptions(
            recurse=recurse,
            include=tuple(include),
            exclude=tuple(exclude),
            jsonnet=jsonnet or JsonnetOptions(),
        ),
        helm=HelmOptions(
            value_files=tuple(value_files),
            set=tuple(set_values),
            release_name=release_name or "",
            namespace=helm_namespace,
        ),
    )


__all__ = [
    "AppSpec",
    "Backoff",
    "Destination",
    "Retry",
    "SourceSpec",
    "SyncSpec",
    "WriteBackSpec",
    "render_options",
    "render_options_from_flags",
    "source_of",
    "spec_from_flags",
    "spec_of",
    "write_back_of",
]
