"""``tether capture``: write what the cluster has back into the source, as the operator does.

Renders SOURCE, reads the live copies of the objects the ``--field`` rules
name (and, with ``--new-objects``, the labelled objects no app tracks in the
namespace), and builds the same ``EditPlan`` the operator would, through the
same functions (``controller.writeback.collect`` and ``plan_for``, the edit
model's ``apply_plan``). It prints the unified diff of the files it would
change. With ``--push``: a Git SOURCE gets one commit pushed to ``--branch``
(default: ``--revision``, which must then be a branch) with the Repository
credentials flags; a local folder has its files edited in place.

``--new-objects`` over a namespace no app tracks yet is how a team adopts it
into Git. Files holding a Secret are not printed (only named). Exit codes:
0 done (or nothing to write back), 1 the edit or the push failed (the
condition reasons of the operator), 2 bad input or no cluster.
"""

from __future__ import annotations

import asyncio
import difflib
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tether.appspec import AppSpec, WriteBackSpec
from tether.cli.diff import flag_spec
from tether.cli.messages import INPUT_ERRORS, cli_message
from tether.cli.source import load_source_at, source_options
from tether.constants import WRITE_BACK_AUTHOR, WRITE_BACK_MESSAGE
from tether.controller.ports import PushRequest, Rendered, RepoAccess
from tether.tree import TreeError, joined_path
from tether.writeback.capture import CaptureSpec, FieldRule, Found, parse_kinds
from tether.writeback.edits import EditPlan, apply_plan, is_secret_key
from tether.writeback.errors import WriteBackError
from tether.writeback.newobject import new_object_path
from tether.writeback.pointer import FieldPointer

if TYPE_CHECKING:
    from tether.controller.writeback_adapter import WriteBackAdapter

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


def parse_field(text: str) -> FieldRule:
    """``[GROUP/]KIND:POINTER`` (``apps/Deployment:/spec/replicas``); KIND may be a glob.

    Without a group, any group matches (``Deployment:/spec/replicas``).
    """
    left, sep, pointer = text.partition(":")
    if not sep or not left or not pointer:
        raise click.BadParameter(f"{text!r}: expected [GROUP/]KIND:POINTER", param_hint="--field")
    group, _, kind = left.rpartition("/")
    try:
        parsed = FieldPointer.parse(pointer)
    except WriteBackError as exc:
        raise click.BadParameter(str(exc), param_hint="--field") from None
    return FieldRule(kinds=parse_kinds(kind), pointer=parsed, group=group if group else "*")


def parse_selector(text: str) -> tuple[tuple[str, str], ...]:
    """``key=value[,key=value]`` (equality only) as sorted pairs."""
    pairs: dict[str, str] = {}
    for term in (t.strip() for t in text.split(",")):
        key, sep, value = term.partition("=")
        if not sep or not key.strip() or "!" in key:
            raise click.BadParameter(
                f"{text!r}: expected key=value[,key=value]", param_hint="--new-objects"
            )
        pairs[key.strip()] = value.strip()
    return tuple(sorted(pairs.items()))


@click.command()
@source_options
@click.option("--app", required=True, help="Application name (tracking label).")
@click.option("--namespace", "-n", default="default", help="Destination and app namespace.")
@click.option("--kubeconfig", default=None, help="Kubeconfig file.")
@click.option("--context", default=None, help="Kubeconfig context.")
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="[GROUP/]KIND:POINTER",
    help="A field to capture, e.g. apps/Deployment:/spec/replicas or "
    "Deployment:/spec/template/spec/containers[name=web]/image (repeatable).",
)
@click.option(
    "--new-objects",
    default=None,
    metavar="SELECTOR",
    help="Add live objects with these labels (key=value,...) that no app tracks as files.",
)
@click.option("--allow-secrets", is_flag=True, help="Allow Secret values to be written.")
@click.option(
    "--push",
    is_flag=True,
    help="Commit and push (Git SOURCE) or edit the files in place (local folder).",
)
@click.option("--branch", default=None, help="Branch to commit on (default: --revision).")
@click.option(
    "--author-name", default=WRITE_BACK_AUTHOR[0], show_default=True, help="Commit author."
)
@click.option(
    "--author-email", default=WRITE_BACK_AUTHOR[1], show_default=True, help="Commit email."
)
@click.option(
    "--message",
    default=WRITE_BACK_MESSAGE,
    help="Commit message; {app}, {namespace}, {changes} and {revision} are replaced.",
)
def capture(**params: Any) -> None:
    """Write live values of listed fields, and new labelled objects, back to SOURCE.

    Prints the unified diff; --push commits and pushes it (or, for a local folder,
    edits the files). Exit 0 done, 1 the edit or push failed, 2 bad input.
    """
    try:
        if not params["fields"] and not params["new_objects"]:
            raise click.UsageError("pass --field or --new-objects: there is nothing to capture")
        rules = tuple(parse_field(f) for f in params["fields"])
        selector = parse_selector(params["new_objects"]) if params["new_objects"] else None
        loaded = load_source_at(
            **_source_params(params),
            app_name=params["app"],
            helm_namespace=params["namespace"],
        )
        _check_author(params["author_name"], params["author_email"])
        app = replace(
            flag_spec(params),
            write_back=WriteBackSpec(
                capture=CaptureSpec(rules, selector, bool(params["allow_secrets"])),
                branch=params["branch"],
                author_name=params["author_name"],
                author_email=params["author_email"],
                message=params["message"],
            ),
        )
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(EXIT_INPUT)
    result = loaded.result
    rendered = Rendered(
        tuple(dict(o) for o in result.objects),
        tuple(map(str, result.sources)),
        result.sources,
        str(result.renderer),
    )
    sys.exit(asyncio.run(_capture(params, app, rendered, loaded.commit)))


_CAPTURE_FLAGS = frozenset(
    {"kubeconfig", "context", "app", "namespace", "fields", "new_objects", "allow_secrets",
     "push", "branch", "author_name", "author_email", "message"}
)  # fmt: skip


def _check_author(name: str, email: str) -> None:
    """The same checks as ``spec.writeBack.author`` (one line, exit 2)."""
    from pydantic import ValidationError

    from tether.api.writeback import WriteBackAuthor

    try:
        WriteBackAuthor(name=name, email=email)
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise click.BadParameter(
            str(problem.get("msg")), param_hint=f"--author-{problem['loc'][0]}"
        ) from None


def _source_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in _CAPTURE_FLAGS}


async def _capture(params: dict[str, Any], app: AppSpec, rendered: Rendered, commit: str) -> int:
    from tether.controller.writeback import collect, plan_for
    from tether.controller.writeback_adapter import WriteBackAdapter
    from tether.engine import Engine
    from tether.git import FileURLPolicy, GitCache, GitError
    from tether.kube.errors import KubeError

    try:
        engine = await Engine.connect(params.get("kubeconfig"), params.get("context"))
    except KubeError as exc:
        click.echo(f"error: {cli_message(exc)}", err=True)
        return EXIT_INPUT
    git = GitCache(file_urls=FileURLPolicy.any_folder())
    port = WriteBackAdapter(engine, git, fetch_missing=True)
    refused_input: tuple[type[Exception], ...] = (*INPUT_ERRORS, TimeoutError, KubeError)
    try:
        found = await collect(port, app, rendered)
    except refused_input as exc:
        click.echo(f"error: {cli_message(exc)}", err=True)
        return EXIT_INPUT
    finally:
        await engine.close()
    for refusal in found.refused:
        click.echo(f"refused: {refusal.message}", err=True)
    if found.empty:
        click.echo("nothing to write back: the listed fields match the source", err=True)
        return EXIT_FAILED if found.refused else EXIT_OK
    plan = plan_for(app, found, rendered.renderer)
    local = Path(params["source"])
    try:
        if local.is_dir() or local.is_file():  # a file is read from its folder
            folder = local if local.is_dir() else local.resolve().parent
            return _local(folder, plan, found, push=bool(params["push"]))
        return await _git(params, app, plan, found, commit, port)
    except WriteBackError as exc:
        click.echo(f"error: {exc.reason}: {cli_message(exc)}", err=True)
        return EXIT_FAILED
    except GitError as exc:
        click.echo(f"error: {cli_message(exc)}", err=True)
        return EXIT_INPUT


def _local(folder: Path, plan: EditPlan, found: Found, *, push: bool) -> int:
    """Print the diff; with ``push``, write the files in the folder."""
    root = folder.resolve()

    def read(path: str) -> bytes | None:
        target = _inside(root, path)
        return target.read_bytes() if target.is_file() else None

    changed = apply_plan(plan, read)
    _print_diff(changed, read, _secret_files(found, plan))
    if push:
        for path, data in changed.items():
            target = _inside(root, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        click.echo(f"wrote {len(changed)} file(s) in {folder}", err=True)
    return EXIT_OK


async def _git(
    params: dict[str, Any],
    app: AppSpec,
    plan: EditPlan,
    found: Found,
    commit: str,
    port: WriteBackAdapter,
) -> int:
    from tether.cli.source import flag_auth
    from tether.controller.writeback import push_request

    branch = params["branch"] or params["revision"]
    git = port.git
    auth = flag_auth(params)
    insecure = bool(params.get("insecure"))
    snapshot = await git.fetch(params["source"], branch, auth, insecure=insecure)
    if not snapshot.ref.startswith("refs/heads/"):
        click.echo(
            f"error: RevisionNotBranch: {branch!r} is {snapshot.ref or 'a commit'}, not a branch: "
            "pass --branch",
            err=True,
        )
        return EXIT_INPUT
    tree = git.tree(snapshot)

    def read(path: str) -> bytes | None:
        try:
            return tree.read(path)
        except TreeError:  # absent at the tip: a new file
            return None

    try:
        changed = apply_plan(plan, read)
        _print_diff(changed, read, _secret_files(found, plan))
    finally:
        tree.close()
    if not params["push"]:
        return EXIT_OK
    access = RepoAccess(params["source"], auth, insecure)
    short = snapshot.ref.removeprefix("refs/heads/")
    request: PushRequest = push_request(app, plan, access, short, commit or snapshot.commit)
    pushed = await port.push(request)
    if not pushed.changed:
        click.echo(f"nothing to commit: {pushed.branch} already has these values", err=True)
        return EXIT_OK
    click.echo(f"pushed {pushed.commit} to {pushed.branch}", err=True)
    return EXIT_OK


def _inside(root: Path, path: str) -> Path:
    joined = joined_path("", path)
    if joined is None:
        raise click.ClickException(f"{path}: leaves the folder")
    return root / joined


def _secret_files(found: Found, plan: EditPlan) -> set[str]:
    files = {c.origin.file for c in found.captures if is_secret_key(c.key) and c.origin}
    for new in plan.new_objects:
        if new.obj.get("kind") == "Secret":
            files.add(new_object_path(new.folder, new.obj))
    return files


def _print_diff(changed: dict[str, bytes], read: Any, secret_files: set[str]) -> None:
    for path in sorted(changed):
        if path in secret_files:
            click.echo(f"# {path}: changed (it holds a Secret; not shown)")
            continue
        before = read(path)
        old = (before or b"").decode("utf-8", "replace").splitlines(keepends=True)
        new = changed[path].decode("utf-8", "replace").splitlines(keepends=True)
        source = f"a/{path}" if before is not None else "/dev/null"
        for line in difflib.unified_diff(old, new, source, f"b/{path}"):
            click.echo(line if line.endswith("\n") else line + "\n", nl=False)
