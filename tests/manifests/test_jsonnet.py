"""Jsonnet files in directory sources, through render() and the real evaluator process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tether.manifests import (
    DirectoryOptions,
    InvalidObjectError,
    JsonnetOptions,
    JsonnetVar,
    Limits,
    LocalTree,
    RenderOptions,
    RenderTimeoutError,
    SizeLimitError,
    SourceNotFoundError,
    render,
)
from tether.manifests.errors import JsonnetError
from tether.manifests.render import RenderResult


def cm(name: str, data: str = "{}") -> str:
    return f"{{ apiVersion: 'v1', kind: 'ConfigMap', metadata: {{ name: {name} }}, data: {data} }}"


def write(root: Path, files: dict[str, str]) -> LocalTree:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return LocalTree(root)


def run(
    tree: LocalTree,
    path: str = "",
    *,
    limits: Limits | None = None,
    ext_vars: tuple[JsonnetVar, ...] = (),
    tlas: tuple[JsonnetVar, ...] = (),
    libs: tuple[str, ...] = (),
    **directory: Any,
) -> RenderResult:
    jsonnet = JsonnetOptions(ext_vars=ext_vars, tlas=tlas, libs=libs)
    options = RenderOptions(directory=DirectoryOptions(jsonnet=jsonnet, **directory))
    return render(tree, path, options, app_name="app", cache_key=None, limits=limits)


def names(result: RenderResult) -> list[str]:
    return [o["metadata"]["name"] for o in result.objects]


def test_object_array_and_list_in_path_order_with_sources(tmp_path: Path) -> None:
    tree = write(
        tmp_path,
        {
            "a.jsonnet": cm("'one'"),
            "b.jsonnet": "[" + cm("'two'") + ", " + cm("'three'") + "]",
            "c.jsonnet": "{ apiVersion: 'v1', kind: 'List', items: [" + cm("'four'") + "] }",
            "d.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: five\n",
            "helpers.libsonnet": "error 'a library is not an entry point'",
        },
    )
    result = run(tree)
    assert names(result) == ["one", "two", "three", "four", "five"]
    assert [str(s) for s in result.sources] == [
        "a.jsonnet[doc 0]",
        "b.jsonnet[doc 0]",
        "b.jsonnet[doc 1]",
        "c.jsonnet[doc 0].items[0]",
        "d.yaml[doc 0]",
    ]
    assert result.renderer == "directory"


def test_numbers_and_types_come_out_as_kubectl_reads_json(tmp_path: Path) -> None:
    tree = write(
        tmp_path,
        {"d.jsonnet": "{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' },"
                      " spec: { replicas: 2, ratio: 0.5, paused: false } }"},
    )  # fmt: skip
    spec = run(tree).objects[0]["spec"]
    assert spec == {"replicas": 2, "ratio": 0.5, "paused": False}
    assert type(spec["replicas"]) is int


def test_recurse_include_and_exclude_apply_to_jsonnet(tmp_path: Path) -> None:
    tree = write(
        tmp_path,
        {"a.jsonnet": cm("'a'"), "sub/b.jsonnet": cm("'b'"), "sub/skip.jsonnet": "error 'no'"},
    )
    assert names(run(tree)) == ["a"]
    assert names(run(tree, recurse=True, exclude=("sub/skip*",))) == ["a", "b"]
    assert names(run(tree, recurse=True, include=("sub/b.*",))) == ["b"]


def test_single_jsonnet_file_as_the_path(tmp_path: Path) -> None:
    tree = write(tmp_path, {"apps/web.jsonnet": cm("'web'"), "apps/other.jsonnet": cm("'x'")})
    assert names(run(tree, "apps/web.jsonnet")) == ["web"]


def test_top_level_arguments_string_and_code(tmp_path: Path) -> None:
    tree = write(
        tmp_path,
        {"app.jsonnet": "function(name, replicas=1, labels={}) "
                        + cm("name", "{ replicas: std.toString(replicas) } + labels")},
    )  # fmt: skip
    tlas = (
        JsonnetVar("name", "web"),
        JsonnetVar("replicas", "3", code=True),
        JsonnetVar("labels", "{ team: 'a' }", code=True),
    )
    result = run(tree, tlas=tlas)
    assert result.objects[0]["metadata"]["name"] == "web"
    assert result.objects[0]["data"] == {"replicas": "3", "team": "a"}


def test_external_variables_string_and_code(tmp_path: Path) -> None:
    tree = write(
        tmp_path,
        {"app.jsonnet": cm("std.extVar('env')", "{ n: std.toString(std.extVar('n') + 1) }")},
    )
    ext = (JsonnetVar("env", "prod"), JsonnetVar("n", "41", code=True))
    result = run(tree, ext_vars=ext)
    assert names(result) == ["prod"]
    assert result.objects[0]["data"] == {"n": "42"}


def test_imports_relative_via_libs_and_importstr(tmp_path: Path) -> None:
    tree = write(
        tmp_path,
        {
            "apps/web/main.jsonnet": (
                "local k = import 'k.libsonnet';\n"  # found in the lib folder
                "local c = import '../common/names.libsonnet';\n"  # relative, stays inside
                "local t = importstr 'banner.txt';\n"  # relative to the importing file
                "[k.cm(c.web, t), k.cm(c.db, importstr 'sub/x.txt')]"
            ),
            "apps/web/banner.txt": "hello",
            "apps/web/sub/x.txt": "x",
            "apps/common/names.libsonnet": "{ web: 'web', db: 'db' }",
            "vendor/k/k.libsonnet": (
                "local inner = import 'inner.libsonnet';\n"  # relative to vendor/k/
                "{ cm(n, text):: " + cm("inner.prefix + n", "{ text: text }") + " }"
            ),
            "vendor/k/inner.libsonnet": "{ prefix: 'p-' }",
        },
    )
    result = run(tree, "apps/web", libs=("vendor/k",))
    assert names(result) == ["p-web", "p-db"]
    assert [o["data"]["text"] for o in result.objects] == ["hello", "x"]


def test_libs_are_searched_last_first_after_the_importing_folder(tmp_path: Path) -> None:
    tree = write(
        tmp_path,
        {
            "app/main.jsonnet": cm("(import 'which.libsonnet').name"),
            "one/which.libsonnet": "{ name: 'one' }",
            "two/which.libsonnet": "{ name: 'two' }",
        },
    )
    assert names(run(tree, "app", libs=("one", "two"))) == ["two"]
    assert names(run(tree, "app", libs=("two", "one"))) == ["one"]
    (tmp_path / "app/which.libsonnet").write_text("{ name: 'local' }")
    assert names(run(tree, "app", libs=("one", "two"))) == ["local"]


def test_imports_count_against_the_budget(tmp_path: Path) -> None:
    tree = write(
        tmp_path,
        {"main.jsonnet": cm("'a'", "{ big: importstr 'big.txt' }"), "big.txt": "x" * 5000},
    )
    limits = Limits(max_total_bytes=4000)
    with pytest.raises(SizeLimitError, match=r"^big\.txt: total rendered size passes the limit"):
        run(tree, limits=limits)


def test_an_import_read_by_every_file_counts_once(tmp_path: Path) -> None:
    files = {f"f{i}.jsonnet": cm(f"(import 'lib.libsonnet').n + '{i}'") for i in range(5)}
    tree = write(tmp_path, {**files, "lib.libsonnet": "{ n: 'x' }"})
    assert names(run(tree, limits=Limits(max_files=6))) == [f"x{i}" for i in range(5)]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"bad.jsonnet": "{\n  apiVersion: 'v1',\n  kind: 'ConfigMap'\n  metadata: {}\n}"},
            r"^bad\.jsonnet:4:3: expected a comma before next field\.$",
        ),
        (
            {"bad.jsonnet": "local x = 1;\n{ a: error 'boom: ' + x }"},
            r"^bad\.jsonnet:2:6: boom: 1$",
        ),
        (
            {"bad.jsonnet": "local l = import 'l.libsonnet';\nl.f(1)", "l.libsonnet": (
                "{\n  f(x):: x + {},\n}")},
            r"^bad\.jsonnet: l\.libsonnet:2:10: binary operator \+ requires matching types, got "
            r"number and object\. \(from bad\.jsonnet:2:1\)$",
        ),
        (
            {"bad.jsonnet": "import 'missing.libsonnet'"},
            r"^bad\.jsonnet:1:1: couldn't open import \"missing\.libsonnet\": not found",
        ),
        (
            {"bad.jsonnet": cm("std.extVar('nope')")},
            r"^bad\.jsonnet:1:\d+: undefined external variable: nope$",
        ),
    ],
)  # fmt: skip
def test_errors_name_file_line_and_column(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    tree = write(tmp_path, files)
    with pytest.raises(JsonnetError, match=message) as info:
        run(tree)
    assert info.value.file == "bad.jsonnet"
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("'a string'", r"^out\.jsonnet: the output is a string; a Jsonnet file must give an"),
        ("null", r"^out\.jsonnet: the output is null"),
        ("[" + cm("'a'") + ", 3]", r"^out\.jsonnet\[doc 1\]: array item 1 is a number, not an object$"),
        ("{ a: 1 }", r"^out\.jsonnet\[doc 0\]: the document is not a Kubernetes object"),
        ("[{ apiVersion: 'v1', kind: 'ConfigMap', metadata: {} }]",
         r"^out\.jsonnet\[doc 0\]: ConfigMap: metadata\.name is missing"),
    ],
)  # fmt: skip
def test_output_that_is_not_objects_is_an_error(tmp_path: Path, text: str, message: str) -> None:
    tree = write(tmp_path, {"out.jsonnet": text})
    with pytest.raises(InvalidObjectError, match=message):
        run(tree)


def test_missing_lib_folder_is_an_error(tmp_path: Path) -> None:
    tree = write(tmp_path, {"app/a.jsonnet": cm("'a'")})
    with pytest.raises(SourceNotFoundError, match=r"^app: Jsonnet lib folder 'vendor' is not a"):
        run(tree, "app", libs=("vendor",))


def test_runaway_recursion_hits_the_stack_limit(tmp_path: Path) -> None:
    tree = write(tmp_path, {"loop.jsonnet": "local f(n) = f(n + 1) + 1;\nf(0)"})
    with pytest.raises(JsonnetError, match=r"^loop\.jsonnet:1:\d+: max stack frames exceeded\.$"):
        run(tree, limits=Limits(jsonnet_max_stack=100))


def test_huge_output_hits_the_size_limit(tmp_path: Path) -> None:
    tree = write(
        tmp_path,
        {"big.jsonnet": "[" + cm("'cm-' + i", "{ pad: std.repeat('x', 1000) }")
                        + " for i in std.range(1, 300)]"},
    )  # fmt: skip
    with pytest.raises(
        SizeLimitError, match=r"^big\.jsonnet: Jsonnet output is [\d,]+ bytes, over"
    ):
        run(tree, limits=Limits(max_total_bytes=200_000))


def test_slow_evaluation_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    # A tail-recursive loop of 10^9 steps in constant memory: only the deadline ends it.
    slow = "local f(n, acc) = if n == 0 then acc else f(n - 1, acc + 1) tailstrict;\n"
    tree = write(tmp_path, {"a.jsonnet": cm("'a'"), "slow.jsonnet": slow + cm("'x' + f(1e9, 0)")})
    with pytest.raises(RenderTimeoutError, match=r"^slow\.jsonnet: Jsonnet evaluation did not"):
        run(tree, limits=Limits(tool_timeout=2))


def test_memory_hungry_evaluation_hits_the_memory_limit(tmp_path: Path) -> None:
    hungry = "std.length(std.makeArray(100000000, function(i) [i]))"
    tree = write(tmp_path, {"big.jsonnet": cm("'x' + " + hungry)})
    with pytest.raises(JsonnetError, match=r"^big\.jsonnet: Jsonnet evaluation ran out of memory"):
        run(tree, limits=Limits(jsonnet_max_memory=300 * 1024 * 1024, tool_timeout=60))


def test_importbin_gives_bytes(tmp_path: Path) -> None:
    tree = write(tmp_path, {"bin.jsonnet": cm("'b'"), "x.bin": ""})
    (tmp_path / "x.bin").write_bytes(b"\x00\xff")
    (tmp_path / "bin.jsonnet").write_text(
        "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b' },"
        " binaryData: { x: std.base64(importbin 'x.bin') } }"
    )
    assert run(tree).objects[0]["binaryData"] == {"x": "AP8="}


def test_an_empty_array_is_an_empty_render_not_an_error(tmp_path: Path) -> None:
    # The allowEmpty rule downstream (policy and plan) decides what an empty render means.
    tree = write(
        tmp_path,
        {"none.jsonnet": "[]", "list.jsonnet": "{ apiVersion: 'v1', kind: 'List', items: [] }"},
    )
    assert run(tree).objects == ()


def test_render_cache_keys_on_jsonnet_options(tmp_path: Path) -> None:
    from tether.manifests import RenderCache

    tree = write(tmp_path, {"app.jsonnet": "function(name) " + cm("name")})
    cache: RenderCache[RenderResult] = RenderCache(max_entries=4)

    def name(value: str) -> list[str]:
        jsonnet = JsonnetOptions(tlas=(JsonnetVar("name", value),))
        options = RenderOptions(directory=DirectoryOptions(jsonnet=jsonnet))
        return names(render(tree, "", options, app_name="app", cache_key="c1", cache=cache))

    assert name("one") == ["one"]
    assert name("two") == ["two"]
    assert name("one") == ["one"]


def _children(parent: int) -> list[int]:
    """Live (non-zombie) Jsonnet workers whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == parent and stat[0] != "Z" and b"jsonnet_worker.py" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


def test_the_worker_dies_with_a_killed_parent(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    slow = "local f(n, acc) = if n == 0 then acc else f(n - 1, acc + 1) tailstrict;\n"
    write(tmp_path, {"slow.jsonnet": slow + cm("'x' + f(1e9, 0)")})
    script = (
        "import sys; from pathlib import Path; from tether.manifests import *\n"
        "render(LocalTree(Path(sys.argv[1])), '', app_name='a', cache_key=None,"
        " limits=Limits(tool_timeout=600))\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)])
    try:
        deadline = time.monotonic() + 60
        while not (workers := _children(parent.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert workers, "the render never started its Jsonnet worker"
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 30
    while _alive(workers[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    survived = _alive(workers[0])
    if survived:
        os.kill(workers[0], signal.SIGKILL)
    assert not survived, "the worker outlived its killed parent"


def test_stop_tools_kills_a_running_evaluation(tmp_path: Path) -> None:
    import threading

    from tether.manifests.toolrun import RenderStoppedError, allow_tools, stop_tools

    slow = "local f(n, acc) = if n == 0 then acc else f(n - 1, acc + 1) tailstrict;\n"
    tree = write(tmp_path, {"slow.jsonnet": slow + cm("'x' + f(1e9, 0)")})
    errors: list[BaseException] = []

    def render_slow() -> None:
        try:
            run(tree, limits=Limits(tool_timeout=600))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=render_slow)
    thread.start()
    try:
        while thread.is_alive() and stop_tools() == 0:  # once the evaluator runs, kill it
            allow_tools()
            thread.join(0.05)
        thread.join(60)
        assert not thread.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], RenderStoppedError), errors
    finally:
        allow_tools()
