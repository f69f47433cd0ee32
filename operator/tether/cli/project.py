"""``tether project check PROJECT APP``: explain what a Project would refuse an Application.

PROJECT is a Project YAML file or the name of a Project in the cluster; APP is
``NAMESPACE/NAME`` of an Application in the cluster or an Application YAML file. The
command runs the operator's checks without writing anything: the app's namespace,
destination, source (the Repository's URL is read from the cluster) and
ServiceAccount, then, when the source renders (anonymously: a private repository is
reported, not read with the Repository's credentials), every object of the plan a
sync would run now (hooks, prunes of live tracked objects, CreateNamespace). Every
refusal is printed with its object, file and rule. Exit codes: 0 allowed, 2 error,
3 not permitted.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from tether.appspec import AppSpec

EXIT_ALLOWED, EXIT_ERROR, EXIT_NOT_PERMITTED = 0, 2, 3


@click.group()
def project() -> None:
    """Check Applications against Projects."""


@project.command()
@click.argument("project_ref", metavar="PROJECT")
@click.argument("app_ref", metavar="APP")
@click.option("--kubeconfig", default=None, help="Kubeconfig file.")
@click.option("--context", default=None, help="Kubeconfig context.")
def check(project_ref: str, app_ref: str, kubeconfig: str | None, context: str | None) -> None:
    """Explain what PROJECT (file or name) refuses APP (NAMESPACE/NAME or file).

    Exit 0 when everything is allowed, 3 when something is refused, 2 on errors.
    """
    sys.exit(asyncio.run(_check(project_ref, app_ref, kubeconfig, context)))


async def _check(
    project_ref: str, app_ref: str, kubeconfig: str | None, context: str | None
) -> int:
    from tether.engine import Engine
    from tether.kube.errors import KubeError

    try:
        engine = await Engine.connect(kubeconfig, context)
    except KubeError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    try:
        return await _explain(engine, project_ref, app_ref)
    except (click.ClickException, KubeError) as exc:
        message = exc.message if isinstance(exc, click.ClickException) else str(exc)
        click.echo(f"error: {message}", err=True)
        return EXIT_ERROR
    finally:
        await engine.close()


async def _explain(engine: Any, project_ref: str, app_ref: str) -> int:
    from dataclasses import replace

    from tether.api import parse_application
    from tether.appspec import spec_of
    from tether.tenancy import Request, SourceRequest, check, policy_of

    policy = policy_of(await _project(engine, project_ref))
    app = parse_application(await _object(engine, app_ref, "applications", "Application"))
    namespace = app.metadata.namespace or "default"
    spec = replace(spec_of(app), project=policy)
    messages: list[str] = []
    url, insecure = "", False
    for source in app.spec.all_sources:  # every source must be one the Project admits
        url, repo, insecure = source.repo_url or "", None, source.insecure
        if source.repository_ref is not None:
            repo = source.repository_ref
            url, insecure = await _repository(engine, repo.namespace or namespace, repo.name)
        request = Request(
            spec.ref,
            spec.destination_namespace,
            source=SourceRequest(
                url or "", repo.name if repo else None, repo.namespace if repo else None
            ),
            service_account=app.spec.destination.service_account_name,
        )
        messages += check(policy, request).messages()
    if not messages and spec.sources:
        click.echo("note: objects not checked: the app has several sources", err=True)
    elif not messages:
        rendered, sources, problem = await _render(spec, url or "", insecure)
        if problem:
            click.echo(f"note: objects not checked: {problem}", err=True)
        else:
            verdict = await engine.permitted(spec, rendered, sources)
            messages = verdict.messages() if verdict is not None else []
    for message in messages:
        click.echo(f"not permitted: {message}")
    if messages:
        return EXIT_NOT_PERMITTED
    click.echo(f"allowed: Project {policy.name} permits Application {spec.ref}")
    return EXIT_ALLOWED


async def _project(engine: Any, ref: str) -> Any:
    from tether.api import InvalidObjectError, parse_project

    body = await _object(engine, ref, "projects", "Project")
    try:
        return parse_project(body)
    except InvalidObjectError as exc:
        raise click.ClickException(str(exc)) from None


async def _object(engine: Any, ref: str, plural: str, kind: str) -> dict[str, Any]:
    """A file's single object, or the named object from the cluster."""
    path = Path(ref)
    if path.is_file():
        from ruamel.yaml import YAML

        docs = [d for d in YAML(typ="safe").load_all(path.read_text()) if d]
        if len(docs) != 1 or not isinstance(docs[0], dict) or docs[0].get("kind") != kind:
            raise click.ClickException(f"{ref}: expected exactly one {kind} object")
        return dict(docs[0])
    namespace, _, name = ref.rpartition("/")
    if plural != "projects" and not namespace:
        raise click.ClickException(f"{ref}: expected NAMESPACE/NAME or a {kind} file")
    found: dict[str, Any] = await _get(engine, plural, kind, name, namespace or None)
    return found


async def _get(engine: Any, plural: str, kind: str, name: str, namespace: str | None) -> Any:
    from tether.kube.errors import NotFound
    from tether.kube.resource import GVK

    res = await engine.discovery.resource(GVK("tether.dev", "v1alpha1", kind))
    try:
        return await engine.client.get(res, name, namespace)
    except NotFound:
        where = f"{namespace}/{name}" if namespace else name
        raise click.ClickException(f"{kind} {where} does not exist") from None


async def _repository(engine: Any, namespace: str, name: str) -> tuple[str, bool]:
    """A Repository's URL and whether it allows insecure transports."""
    spec = (await _get(engine, "repositories", "Repository", name, namespace)).get("spec") or {}
    return str(spec.get("url") or ""), bool(spec.get("insecure"))


async def _render(
    app: AppSpec, url: str, insecure: bool
) -> tuple[list[dict[str, Any]], tuple[str, ...], str]:
    """The app's objects and their files, read anonymously; or why they could not be."""
    from tether.cli.source import _render_git
    from tether.git.auth import GitAuth

    source = app.source
    try:
        loaded = await _render_git(
            url, source.revision, GitAuth(), insecure, source.path, source.render, app.name
        )
    except Exception as exc:  # any fetch or render failure is explained, not raised
        return [], (), f"{url} could not be rendered anonymously: {exc}"
    result = loaded.result
    return [dict(o) for o in result.objects], tuple(str(s) for s in result.sources), ""
