"""The closure export carries every file a legitimate kustomization reads.

One overlay uses each field that names a file (resources, components,
generators' files/envs/env, patches, patchesStrategicMerge, patchesJson6902,
replacements, configurations, crds, openapi, a transformer config) and a
base reached through an in-repository symlink; it must render exactly as
kustomize renders the whole folder, over a Git commit and a local folder.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tree_builders import DEPLOYMENT, TreeFactory, write_files

from tether.manifests import load_documents, render

FILES = {
    "shared/base/kustomization.yaml": "resources:\n  - deploy.yaml\n",
    "shared/base/deploy.yaml": DEPLOYMENT,
    "shared/component/kustomization.yaml": (
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
        "commonAnnotations:\n  from-component: 'yes'\n"
    ),
    "app/kustomization.yaml": """\
resources:
  - base
  - extra/svc.yaml
components:
  - ../shared/component
configMapGenerator:
  - name: settings
    files:
      - app.properties
      - renamed=conf/raw.txt
    envs:
      - conf/vars.env
secretGenerator:
  - name: creds
    env: conf/secret.env
generatorOptions:
  disableNameSuffixHash: true
patches:
  - path: patches/replicas.yaml
patchesStrategicMerge:
  - patches/image.yaml
patchesJson6902:
  - target: {group: apps, version: v1, kind: Deployment, name: web}
    path: patches/json.yaml
replacements:
  - path: replacements/port.yaml
configurations:
  - conf/names.yaml
crds:
  - conf/crd-schema.json
openapi:
  path: conf/openapi.json
transformers:
  - transformers/labels.yaml
""",
    "app/extra/svc.yaml": (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n    - port: 80\n"
    ),
    "app/app.properties": "color=blue\n",
    "app/conf/raw.txt": "raw\n",
    "app/conf/vars.env": "MODE=prod\n",
    "app/conf/secret.env": "TOKEN=abc\n",
    "app/conf/names.yaml": "nameReference: []\n",
    "app/conf/crd-schema.json": "{}\n",
    "app/conf/openapi.json": (
        '{"definitions": {}, "paths": {}, "info": {"title": "t", "version": "v"}, '
        '"swagger": "2.0"}\n'
    ),
    "app/patches/replicas.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n"
    ),
    "app/patches/image.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n"
        "    spec:\n      containers:\n        - name: web\n          image: nginx:2.0\n"
    ),
    "app/patches/json.yaml": "- op: add\n  path: /spec/minReadySeconds\n  value: 7\n",
    "app/replacements/port.yaml": (
        "source: {kind: ConfigMap, name: settings, fieldPath: data.MODE}\n"
        "targets:\n  - select: {kind: Service, name: web}\n"
        "    fieldPaths: [metadata.annotations.mode]\n    options: {create: true}\n"
    ),
    "app/transformers/labels.yaml": (
        "apiVersion: builtin\nkind: LabelTransformer\nmetadata:\n  name: team\n"
        "labels:\n  team: shop\nfieldSpecs:\n  - path: metadata/labels\n    create: true\n"
    ),
    "unrelated/huge.txt": "x" * 100_000,
}
LINKS = {"app/base": "../shared/base"}


def kustomize_whole_folder(kustomize: str, root: Path) -> bytes:
    done = subprocess.run(
        [kustomize, "build", str(root / "app")], capture_output=True, check=True, timeout=60
    )
    return done.stdout


def test_every_file_field_is_exported(
    make_tree: TreeFactory, kustomize: str, tmp_path: Path
) -> None:
    result = render(make_tree(FILES, LINKS), "app", app_name="a", cache_key=None)
    objects = {f"{o['kind']}/{o['metadata']['name']}": o for o in result.objects}
    assert sorted(objects) == [
        "ConfigMap/settings",
        "Deployment/web",
        "Secret/creds",
        "Service/web",
    ]
    deploy = objects["Deployment/web"]
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["minReadySeconds"] == 7
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2.0"
    assert deploy["metadata"]["annotations"] == {"from-component": "yes"}
    assert deploy["metadata"]["labels"] == {"team": "shop"}
    assert objects["ConfigMap/settings"]["data"] == {
        "app.properties": "color=blue\n",
        "renamed": "raw\n",
        "MODE": "prod",
    }
    assert objects["Service/web"]["metadata"]["annotations"]["mode"] == "prod"
    # and exactly what kustomize makes of the whole folder on disk
    reference = tmp_path / "reference"
    write_files(reference, FILES, LINKS)
    expected = load_documents(kustomize_whole_folder(kustomize, reference), file="reference")
    assert [document.value for document in expected] == list(result.objects)
