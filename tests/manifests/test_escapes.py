"""The escape catalogue: every way a source may try to read outside its repository.

Each case plants files outside the repository (a folder with a unique marker)
and a source that points at them: ``..`` chains, absolute paths, symlinked
folders and files, through every Kustomize field that names a file and
through Helm's dependencies, value files and chart symlinks. Each render is
refused with a ManifestPathEscapeError naming the file that holds the
reference and the reference itself (field names in any case, as kustomize
reads them; two spellings of one field are refused as ambiguous), and the
marker appears nowhere. Every
case runs over a real Git commit (GitTree) and over a local folder.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tree_builders import TreeFactory

from tether.manifests import (
    HelmOptions,
    ManifestPathEscapeError,
    RenderOptions,
    render,
)
from tether.manifests.errors import InvalidObjectError, ReferenceEscapeError

MARKER = f"planted-{uuid.uuid4().hex[:12]}"
OUT = Path(f"/tmp/{MARKER}")  # absolute, so symlinks and '..' chains reach it from any repo
UP = "../" * 30 + str(OUT).lstrip("/")  # enough '..' to climb to / from any depth


@dataclass(frozen=True)
class Case:
    name: str
    files: dict[str, str]
    file: str  # the file the error must name
    reference: str  # the entry the error must name
    links: dict[str, str] = field(default_factory=dict)
    path: str = "app"
    values: tuple[str, ...] = ()
    kind: type[Exception] = ReferenceEscapeError


def kust(body: str) -> dict[str, str]:
    return {"app/kustomization.yaml": body, "app/cm.yaml": CM}


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n"
CHART = "apiVersion: v2\nname: web\nversion: 0.1.0\n"
TEMPLATE = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n"


def helm(chart_yaml: str = CHART, **extra: str) -> dict[str, str]:
    return {"chart/Chart.yaml": chart_yaml, "chart/templates/cm.yaml": TEMPLATE, **extra}


def dependency(repository: str) -> str:
    return (
        CHART + f"dependencies:\n  - name: evil\n    version: 0.1.0\n    repository: {repository}\n"
    )


CASES = [
    Case("resources ..-chain", kust(f"resources:\n  - cm.yaml\n  - {UP}\n"),
         "app/kustomization.yaml", f"resources[1] '{UP}' leaves the repository"),
    Case("resources absolute", kust(f"resources:\n  - {OUT}\n"),
         "app/kustomization.yaml", f"resources[0] '{OUT}' leaves the repository"),
    # kustomize matches field names without regard to case (Go's encoding/json)
    Case("RESOURCES in capitals", kust(f"RESOURCES:\n  - {UP}\n"),
         "app/kustomization.yaml", "resources[0]"),
    Case("resources with a long s", kust(f"re\u017fources:\n  - {UP}\n"),
         "app/kustomization.yaml", "resources[0]"),
    Case("Patches Path in capitals", kust(f"resources: [cm.yaml]\nPatches:\n  - PATH: {UP}/patch.yaml\n"),
         "app/kustomization.yaml", "patches[0].path"),
    Case("resources and Resources", kust(f"resources: [cm.yaml]\nResources:\n  - {UP}\n"),
         "app/kustomization.yaml", "'Resources' is given twice", kind=InvalidObjectError),
    Case("bases ..-chain", kust(f"bases:\n  - {UP}\n"),
         "app/kustomization.yaml", "bases[0]"),
    Case("components ..-chain", kust(f"resources: [cm.yaml]\ncomponents:\n  - {UP}\n"),
         "app/kustomization.yaml", "components[0]"),
    Case("nested base escapes",
         {**kust("resources:\n  - ../base\n"), "base/kustomization.yaml": f"resources:\n  - {UP}\n"},
         "base/kustomization.yaml", "resources[0]"),
    Case("symlinked folder", kust("resources:\n  - linked\n"),
         "app/kustomization.yaml", "resources[0] 'linked' leaves the repository",
         links={"app/linked": str(OUT)}),
    Case("symlinked folder, relative", kust("resources:\n  - linked/sub\n"),
         "app/kustomization.yaml", "resources[0] 'linked/sub'",
         links={"app/linked": "../" * 12 + str(OUT).lstrip("/")}),
    Case("symlinked file", kust("resources:\n  - cm.yaml\n  - evil.yaml\n"),
         "app/kustomization.yaml", "resources[1] 'evil.yaml'",
         links={"app/evil.yaml": str(OUT / "cm.yaml")}),
    Case("configMapGenerator files",
         kust(f"configMapGenerator:\n  - name: c\n    files:\n      - key={UP}/cm.env\n"),
         "app/kustomization.yaml", "configMapGenerator[0].files[0]"),
    Case("configMapGenerator envs",
         kust(f"configMapGenerator:\n  - name: c\n    envs:\n      - {OUT}/cm.env\n"),
         "app/kustomization.yaml", "configMapGenerator[0].envs[0]"),
    Case("secretGenerator env", kust(f"secretGenerator:\n  - name: s\n    env: {UP}/cm.env\n"),
         "app/kustomization.yaml", "secretGenerator[0].env"),
    Case("secretGenerator file symlink",
         kust("secretGenerator:\n  - name: s\n    files:\n      - token\n"),
         "app/kustomization.yaml", "secretGenerator[0].files[0] 'token'",
         links={"app/token": str(OUT / "cm.env")}),
    Case("patches path", kust(f"resources: [cm.yaml]\npatches:\n  - path: {UP}/patch.yaml\n"),
         "app/kustomization.yaml", "patches[0].path"),
    Case("patchesStrategicMerge", kust(f"resources: [cm.yaml]\npatchesStrategicMerge:\n  - {UP}/patch.yaml\n"),
         "app/kustomization.yaml", "patchesStrategicMerge[0]"),
    Case("patchesJson6902 absolute",
         kust(f"resources: [cm.yaml]\npatchesJson6902:\n  - target: {{kind: ConfigMap, name: fine}}\n"
              f"    path: {OUT}/patch.yaml\n"),
         "app/kustomization.yaml", "patchesJson6902[0].path"),
    Case("crds", kust(f"resources: [cm.yaml]\ncrds:\n  - {UP}/cm.yaml\n"),
         "app/kustomization.yaml", "crds[0]"),
    Case("openapi path", kust(f"resources: [cm.yaml]\nopenapi:\n  path: {UP}/cm.yaml\n"),
         "app/kustomization.yaml", "openapi.path"),
    Case("configurations absolute", kust(f"resources: [cm.yaml]\nconfigurations:\n  - {OUT}/cm.yaml\n"),
         "app/kustomization.yaml", "configurations[0]"),
    Case("replacements path", kust(f"resources: [cm.yaml]\nreplacements:\n  - path: {UP}/cm.yaml\n"),
         "app/kustomization.yaml", "replacements[0].path"),
    Case("helmGlobals chartHome", kust(f"helmGlobals:\n  chartHome: {UP}\n"),
         "app/kustomization.yaml", "helmGlobals.chartHome"),
    Case("transformer config path",
         {**kust("resources: [cm.yaml]\ntransformers:\n  - patcher.yaml\n"),
          "app/patcher.yaml": f"apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: p\npath: {UP}/patch.yaml\n"},
         "app/kustomization.yaml", "transformers[0].path"),
    Case("kustomization is a symlink out", {"app/cm.yaml": CM},
         "app/kustomization.yaml", "leaves the repository",
         links={"app/kustomization.yaml": str(OUT / "kustomization.yaml")}),
    Case("helm file:// dependency ..-chain", helm(dependency(f"file://{UP}")),
         "chart/Chart.yaml", f"dependencies[0].repository 'file://{UP}' leaves the repository",
         path="chart"),
    Case("helm file:// dependency absolute", helm(dependency(f"file://{OUT}")),
         "chart/Chart.yaml", "dependencies[0].repository", path="chart"),
    Case("helm requirements.yaml file://",
         helm(**{"chart/requirements.yaml": f"dependencies:\n  - name: evil\n    repository: file://../{UP}\n"}),
         "chart/requirements.yaml", "dependencies[0].repository", path="chart"),
    Case("helm file:// dependency via symlink", helm(dependency("file://vendor/evil")),
         "chart/Chart.yaml", "dependencies[0].repository 'file://vendor/evil'", path="chart",
         links={"chart/vendor": str(OUT)}),
    Case("helm value file outside", helm(), f"{UP}/values.yaml", "value file lies outside",
         path="chart", values=(f"{UP}/values.yaml",), kind=ManifestPathEscapeError),
    Case("helm value file absolute", helm(), f"{OUT}/values.yaml", "value file lies outside",
         path="chart", values=(f"{OUT}/values.yaml",), kind=ManifestPathEscapeError),
    Case("helm value file symlink", helm(), "chart/prod.yaml",
         "value file 'prod.yaml' leaves the repository (through a symlink)",
         path="chart", values=("prod.yaml",), links={"chart/prod.yaml": str(OUT / "values.yaml")}),
    Case("helm template symlink", helm(), "chart/templates/evil.yaml", "symlink leaves the repository",
         path="chart", links={"chart/templates/evil.yaml": str(OUT / "cm.yaml")}),
    Case("helm chart subfolder symlink", helm(), "chart/templates/more", "symlink leaves",
         path="chart", links={"chart/templates/more": "../../" + UP}),
]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def planted() -> Iterator[Path]:
    """The files outside every repository that the cases try to reach."""
    files = {
        "kustomization.yaml": "resources:\n  - cm.yaml\n",
        "cm.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {MARKER}\n",
        "cm.env": f"stolen={MARKER}\n",
        "patch.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\ndata:\n  x: {MARKER}\n",
        "values.yaml": f"name: {MARKER}\n",
        "sub/kustomization.yaml": "resources:\n  - ../cm.yaml\n",
    }
    for name, text in files.items():
        (OUT / name).parent.mkdir(parents=True, exist_ok=True)
        (OUT / name).write_text(text)
    yield OUT
    for path in sorted(OUT.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    OUT.rmdir()


def test_the_catalogue_is_broad() -> None:
    assert len(CASES) >= 15
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_escape_is_refused_naming_the_file_and_reference(
    make_tree: TreeFactory, case: Case, kustomize: str, helm: str
) -> None:
    tree = make_tree(case.files, case.links)
    options = RenderOptions(helm=HelmOptions(value_files=case.values))
    with pytest.raises((ManifestPathEscapeError, InvalidObjectError)) as info:
        render(tree, case.path, options, app_name="evil", cache_key=None)
    assert isinstance(info.value, case.kind)
    message = str(info.value)
    assert message.startswith(f"{case.file}: "), message
    assert case.reference in message, message
    assert MARKER not in message.replace(str(OUT), "<out>")


def test_the_same_sources_render_once_they_stay_inside(make_tree: TreeFactory) -> None:
    """The harness is sound: with the planted files inside the repository, they render."""
    files = {
        "app/kustomization.yaml": "resources:\n  - ../vendor/sub\n",
        "vendor/sub/kustomization.yaml": "resources:\n  - ../base\n",
        "vendor/base/kustomization.yaml": "resources:\n  - cm.yaml\n",
        "vendor/base/cm.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {MARKER}\n",
    }
    result = render(make_tree(files), "app", app_name="ok", cache_key=None)
    assert [o["metadata"]["name"] for o in result.objects] == [MARKER]
