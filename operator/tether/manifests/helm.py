"""Render a Helm chart with ``helm template``, offline.

Only the chart's folder and its value files are exported, to a private
per-render folder (``workdir``), and helm runs there, jailed to it where the
kernel allows (``toolrun``), with its cache, config and data homes in
throw-away folders, so no repository configuration or credentials of the host
are used and nothing is fetched: dependencies must be under the chart's
``charts/`` folder (directories or ``.tgz``; those from a declared helm or oci
Repository are laid there before the render by ``tether.sources.dependencies``),
and a dependency that is not is reported before helm runs, naming the
Repository to declare. A ``file://`` dependency must name a folder
inside the repository, and a symlink in the chart must stay inside it. Value
files are paths inside the repository, relative to the chart; URLs and
escapes are refused.
Objects keep helm's output order; each is traced to its ``# Source:`` template.
"""

from __future__ import annotations

import bisect
import posixpath
import re
from pathlib import Path
from typing import Any

from tether.manifests.errors import (
    InvalidObjectError,
    ManifestPathEscapeError,
    ReferenceEscapeError,
    RenderToolError,
    SourceNotFoundError,
)
from tether.manifests.export import export_file, export_subtree
from tether.manifests.limits import Budget
from tether.manifests.objects import Manifest, ObjectSource, collect_objects
from tether.manifests.options import HelmOptions
from tether.manifests.toolrun import run_tool, tool_env
from tether.manifests.treeio import read_file, resolve_reference, tree_kind, tree_listdir
from tether.manifests.workdir import render_workdir
from tether.manifests.yaml import Loader, load_documents
from tether.tools import ToolNotFoundError, find_tool
from tether.tree import FileTree, joined_path, split_tree_path

CHART_FILE = "Chart.yaml"
_SOURCE_LINE = re.compile(r"^# Source: (.+?)\s*$", re.MULTILINE)
_REMOTE = ("http://", "https://", "oci://", "@", "alias:")


def is_helm_chart(tree: FileTree, path: str) -> bool:
    """True when ``path`` holds a Chart.yaml."""
    return tree_kind(tree, posixpath.join(path, CHART_FILE)) == "file"


def render_helm(
    tree: FileTree,
    path: str,
    options: HelmOptions,
    *,
    app_name: str,
    budget: Budget,
    loader: Loader = "auto",
) -> list[Manifest]:
    """Objects produced by ``helm template`` for the chart at ``path``."""
    shown = path or "."
    check_dependencies(tree, path, budget)
    value_files = [resolve_value_file(tree, path, name) for name in options.value_files]
    helm = _helm_binary(shown)
    with render_workdir("helm") as root:
        source = root / "src"
        export_subtree(tree, path, source, budget)
        for value_file in value_files:
            export_file(tree, value_file, source, budget)
        argv = helm_command(helm, source, path, options, app_name, value_files, root)
        output = run_tool(
            argv,
            file=shown,
            env=tool_env(root / "home", _helm_homes(root)),
            cwd=root,
            timeout=budget.tool_timeout(file=shown),
            max_output_bytes=budget.limits.max_total_bytes - budget.bytes,
            scrub={f"{source}/": "", str(source): ".", str(root): "<tmp>"},
            confine=root,
        )
    budget.add_bytes(len(output), file=shown)
    return _objects(output.decode("utf-8", errors="replace"), shown, budget, loader)


def helm_command(
    helm: str,
    source: Path,
    path: str,
    options: HelmOptions,
    app_name: str,
    value_files: list[str],
    work: Path,
) -> list[str]:
    """The ``helm template`` argument list; inline values are written under ``work``."""
    chart = source.joinpath(*split_tree_path(path))
    argv = [helm, "template", options.release_name or app_name, str(chart)]
    if options.namespace:
        argv += ["--namespace", options.namespace]
    for value_file in value_files:
        argv += ["--values", str(source.joinpath(*split_tree_path(value_file)))]
    if options.values.strip():
        inline = work / "inline-values.yaml"
        inline.write_text(options.values)
        argv += ["--values", str(inline)]
    for key, value in options.set:
        argv += ["--set", f"{key}={value}"]
    argv.append("--skip-crds" if options.skip_crds else "--include-crds")
    return argv


def resolve_value_file(tree: FileTree, chart_path: str, name: str) -> str:
    """The tree path of a value file named relative to the chart; it must stay inside."""
    if "://" in name:
        raise SourceNotFoundError(
            "value files must be files in the repository; URLs are not fetched", file=name
        )
    relative = joined_path(chart_path, name)
    if relative is None:
        raise ManifestPathEscapeError("value file lies outside the repository", file=name)
    try:
        kind = tree_kind(tree, relative)
    except ManifestPathEscapeError:
        raise ReferenceEscapeError(
            f"value file {name!r} leaves the repository (through a symlink)", file=relative
        ) from None
    if kind != "file":
        raise SourceNotFoundError("value file not found in the repository", file=relative)
    return relative


def check_dependencies(tree: FileTree, path: str, budget: Budget) -> None:
    """Fail before helm runs when a declared dependency is not vendored in charts/."""
    chart_file = posixpath.join(path, CHART_FILE)
    declared = _declared_dependencies(tree, path, budget)
    if not declared:
        return
    vendored = _vendored_charts(tree, path, budget)
    for file, index, dependency in declared:
        where = f"dependencies[{index}]"
        refuse_escaping_dependency(tree, path, dependency, file=file, where=where)
    for _file, _index, dependency in declared:
        name = str(dependency.get("name") or "")
        if name in vendored:
            continue
        repository = str(dependency.get("repository") or "")
        if repository.startswith(("http://", "https://", "oci://")):
            kind = "oci" if repository.startswith("oci://") else "helm"
            cause = (
                f"dependency {name!r} comes from {repository}, which no Repository of the "
                f"app's namespace serves: declare a Repository with type: {kind} and url: "
                f"{repository} (with its secretRef), or vendor the chart under charts/"
            )
        elif repository.startswith(_REMOTE):
            cause = (
                f"dependency {name!r} comes from {repository} and is not vendored under "
                "charts/; Tether never downloads at render time: run `helm dependency build` "
                "and commit the charts/ folder"
            )
        else:
            cause = f"dependency {name!r} is not under charts/; vendor it into the chart"
        raise SourceNotFoundError(cause, file=chart_file)


def refuse_escaping_dependency(
    tree: FileTree, chart: str, dependency: dict[str, Any], *, file: str, where: str
) -> None:
    """A ``file://`` dependency must name a path inside the repository (helm reads it
    on ``dependency build``; Tether never does, but a chart that points out is refused)."""
    repository = dependency.get("repository")
    if not isinstance(repository, str) or not repository.startswith("file://"):
        return
    target = repository[len("file://") :]
    resolve_reference(tree, chart, target, file=file, where=f"{where}.repository", shown=repository)


def _declared_dependencies(
    tree: FileTree, path: str, budget: Budget
) -> list[tuple[str, int, dict[str, Any]]]:
    """``(file, index, dependency)`` for each dependency in Chart.yaml and requirements.yaml."""
    found: list[tuple[str, int, dict[str, Any]]] = []
    for name in (CHART_FILE, "requirements.yaml"):
        file = posixpath.join(path, name)
        if tree_kind(tree, file) != "file":
            continue
        for document in load_documents(read_file(tree, file, budget), file=file):
            dependencies = (
                document.value.get("dependencies") if isinstance(document.value, dict) else None
            )
            if dependencies is None:
                continue
            if not isinstance(dependencies, list) or not all(
                isinstance(d, dict) for d in dependencies
            ):
                raise InvalidObjectError("dependencies must be a list of mappings", file=file)
            found.extend((file, index, item) for index, item in enumerate(dependencies))
    return found


def _vendored_charts(tree: FileTree, path: str, budget: Budget) -> set[str]:
    """Names of the charts under ``charts/``: folders by their Chart.yaml, archives by name."""
    folder = posixpath.join(path, "charts")
    if tree_kind(tree, folder) != "dir":
        return set()
    names: set[str] = set()
    for entry in tree_listdir(tree, folder):
        if entry.type == "dir":
            names.add(entry.name)
            chart = posixpath.join(entry.path, CHART_FILE)
            if tree_kind(tree, chart) == "file":
                for document in load_documents(read_file(tree, chart, budget), file=chart):
                    if isinstance(document.value, dict) and document.value.get("name"):
                        names.add(str(document.value["name"]))
        elif entry.name.endswith(".tgz"):
            names.add(entry.name[: -len(".tgz")].rsplit("-", 1)[0])
    return names


def _objects(output: str, shown: str, budget: Budget, loader: Loader) -> list[Manifest]:
    sources = [
        (output.count("\n", 0, m.start()) + 1, m.group(1)) for m in _SOURCE_LINE.finditer(output)
    ]
    lines = [line for line, _ in sources]
    label = f"{shown} (helm template)"
    manifests: list[Manifest] = []
    for document in load_documents(
        output, file=label, loader=loader, max_depth=budget.limits.max_depth
    ):
        at = bisect.bisect_right(lines, document.line) - 1
        file = f"{shown}: {sources[at][1]}" if at >= 0 else label
        found = collect_objects(document.value, ObjectSource(file, document.index), strict=True)
        budget.add_objects(len(found), file=file)
        manifests.extend(found)
    return manifests


def _helm_binary(shown: str) -> str:
    try:
        return find_tool("helm")
    except ToolNotFoundError as exc:
        raise RenderToolError(str(exc), file=shown) from None


def _helm_homes(root: Path) -> dict[str, str]:
    """Throw-away helm homes: no host repositories, registries or plugins are seen."""
    homes = {}
    for name in ("cache", "config", "data"):
        (root / name).mkdir()
        homes[f"HELM_{name.upper()}_HOME"] = str(root / name)
    (root / "home").mkdir()
    return homes
