"""Assemble and run the whole operator in one event loop.

``OperatorConfig`` is what ``tether run`` parses; ``run_operator`` connects to
the API server, builds the engine, the Git cache, the controllers, the probe
server and the kopf registry, and runs kopf (watches) next to Tether's own
worker pools until SIGINT/SIGTERM. kopf logs in with the same kubeconfig and
context as the engine, so both act with one identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kopf

from tether.controller import events as ev
from tether.controller.adapters import EngineAdapter, FetcherSource, GitCacheSource
from tether.controller.allocator import release_free_memory
from tether.controller.application import ApplicationController, AppPorts, Neighbours
from tether.controller.fence import NO_FENCE
from tether.controller.handlers import build_registry
from tether.controller.kubeio import (
    APPLICATIONS,
    REPOSITORIES,
    KubeEventSink,
    KubeSecretReader,
    KubeStatusPatcher,
)
from tether.controller.leader import LeaderElector, LeaseConfig
from tether.controller.memtrace import install_from_env as install_tracemalloc_from_env
from tether.controller.metrics import Metrics, Probes, ProbeServer
from tether.controller.rendering import render_app
from tether.controller.repository import RepositoryController
from tether.controller.runtime import Runtime
from tether.controller.status import StatusWriter
from tether.controller.writeback_adapter import WriteBackAdapter
from tether.manifests.toolrun import allow_tools, stop_tools
from tether.manifests.workdir import prepare as prepare_render_folders
from tether.sharding.membership import Membership, ShardConfig
from tether.sharding.shard import Shard, ShardedStatusPatcher
from tether.webhook.server import ReceiverConfig, WebhookReceiver

if TYPE_CHECKING:
    from tether.kube.client import KubeClient

log = logging.getLogger(__name__)

TRIM_PERIOD = 15.0  # seconds between two returns of freed heap memory, when idle


@dataclass(frozen=True)
class OperatorConfig:
    namespaces: tuple[str, ...] = ()
    clusterwide: bool = False
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 8080
    concurrency: int = 32
    cache_dir: Path | None = None
    allow_file_urls: tuple[Path, ...] = ()  # folders file:// Repository URLs may name
    kubeconfig: str | None = None
    context: str | None = None
    leader_elect: bool = False
    leader_namespace: str = ""
    lease_name: str = "tether-leader"
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    webhook: ReceiverConfig | None = None  # None: no webhook receiver
    shards: int = 1  # more than one: share the apps with the other replicas (sharding)
    shard_lease_seconds: int = 15
    shard_renew_seconds: float = 5.0

    @property
    def sharded(self) -> bool:
        return self.shards > 1


async def _kopf_login(client: KubeClient) -> kopf.AiohttpSession:
    """kopf's credentials: a session with the engine client's TLS context and current token.

    kopf calls this at start and again after a 401 or when ``expiration`` passes
    (an exec plugin's token); it closes the session it replaces. Handing kopf a
    session keeps tls-server-name, exec plugins and token files in one place and
    keeps kopf's own piggybacking logins (which import kubernetes clients) unused.
    """
    token = await client.authenticator.token()
    return kopf.AiohttpSession(
        server=client.host,
        aiohttp_session=await client.session_for(limit=0),
        expiration=token.expires if token is not None else None,
    )


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def _on_signal() -> None:
        stop.set()
        stop_tools()  # a render in a worker thread must not hold the shutdown up

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, _on_signal)


async def run_operator(cfg: OperatorConfig, *, stop: asyncio.Event | None = None) -> int:
    """Run until ``stop`` is set or a signal arrives; returns the exit code."""
    from tether.engine import Engine
    from tether.git.cache import GitCache
    from tether.git.urls import FileURLPolicy
    from tether.kube.client import KubeClient
    from tether.sources import SourceFetcher
    from tether.tools import cache_dir

    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    install_tracemalloc_from_env()
    allow_tools()
    prepare_render_folders()  # and remove those a killed predecessor left behind

    metrics = Metrics()
    probes = Probes()
    client = await KubeClient.connect(cfg.kubeconfig, cfg.context)
    client.counter.hooks.append(
        lambda verb, code, _s, resource: metrics.count_api_request(verb, code, resource)
    )
    engine = Engine(client, scoped_cache=cfg.sharded)
    git = GitCache(
        (cfg.cache_dir or cache_dir()) / "git", file_urls=FileURLPolicy(cfg.allow_file_urls)
    )
    source = GitCacheSource(git)
    fetcher = SourceFetcher((cfg.cache_dir or cache_dir()) / "sources")
    runtime = Runtime(concurrency=cfg.concurrency, repo_concurrency=max(2, cfg.concurrency // 4))
    events = ev.BackgroundSink(KubeEventSink(client))  # off the reconcile's path
    recorder = ev.EventRecorder(events, instance=cfg.identity)
    repo_patcher: Any = KubeStatusPatcher(client, REPOSITORIES)
    app_patcher = KubeStatusPatcher(client, APPLICATIONS)
    shard = _shard(cfg, client, runtime)
    if shard is not None:
        repo_patcher = ShardedStatusPatcher(repo_patcher, shard)
        metrics.shard = shard.identity
    repos = RepositoryController(
        store=runtime.repos,
        git=source,
        secrets=KubeSecretReader(client),
        writer=StatusWriter(repo_patcher),
        queue=runtime.repo_queue,
        events=recorder,
        metrics=metrics,
        wanted=runtime.wanted_revisions,
        following=runtime.apps_following,
        wake_app=runtime.app_queue.wake,
        charts=FetcherSource(fetcher),
    )
    apps = ApplicationController(
        AppPorts(
            engine=EngineAdapter(engine, git, render_app, fetcher, repos.declared),
            git=source,
            writer=StatusWriter(app_patcher),
            meta=app_patcher,
            events=recorder,
            metrics=metrics,
            fence=shard if shard is not None else NO_FENCE,
            writeback=WriteBackAdapter(engine, git),
        ),
        Neighbours(
            store=runtime.apps,
            queue=runtime.app_queue,
            repo_state=repos.state,
            repo_exists=lambda key: runtime.repos.get(key) is not None,
            wake_repo=runtime.repo_queue.wake,
            projects=runtime.projects,
            repo_url=runtime.repo_url,
        ),
    )
    runtime.reconcile_app = apps.reconcile
    runtime.reconcile_repo = repos.reconcile
    if shard is not None:
        shard.forget_app = apps.release
        runtime.owns = shard.owns
        runtime.alone = False
        runtime.reconcile_app = shard.gate(apps.reconcile)

    registry = build_registry(runtime, instance=cfg.identity)

    @kopf.on.login(registry=registry)
    async def _login(**_: Any) -> kopf.AiohttpSession:
        return await _kopf_login(client)

    server = ProbeServer(metrics, probes, cfg.metrics_host, cfg.metrics_port)
    port = await server.start()
    log.info("metrics and probes on %s:%d", cfg.metrics_host, port)
    receiver = await _start_webhooks(cfg, runtime, client, recorder, metrics, probes)

    ready = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = []
    kopf_task = asyncio.create_task(
        kopf.operator(
            registry=registry,
            clusterwide=cfg.clusterwide,
            namespaces=list(cfg.namespaces),
            standalone=True,
            stop_flag=stop,
            ready_flag=ready,
        ),
        name="kopf",
    )
    probes.checks["kopf"] = lambda: not kopf_task.done()
    kopf_task.add_done_callback(lambda _t: stop.set())  # no watches, no operator
    tasks.append(kopf_task)
    tasks.append(
        asyncio.create_task(_gauges(metrics, engine, stop, shard, runtime), name="tether-gauges")
    )
    elector: LeaderElector | None = None
    code = 0
    try:
        await _wait_first(ready, stop, kopf_task)
        # kopf installed its own SIGINT/SIGTERM handlers over ours, and they only stop
        # kopf: the workers would go on (still holding the Lease) until kopf is done.
        # Ours again: one signal stops workers and kopf (stop is its stop_flag) at once.
        _stop_on_signals(stop)
        # Ready means "watching, able to lead", so a warm standby is ready too: were it
        # not, a rolling update with leader election would never finish (the new pod
        # would wait for the Lease the old pod holds until the old pod is deleted).
        probes.ready = not stop.is_set()
        if cfg.leader_elect:
            elector = LeaderElector(
                client,
                LeaseConfig(
                    namespace=cfg.leader_namespace or "default",
                    name=cfg.lease_name,
                    identity=cfg.identity,
                ),
            )
            await _wait_first_coro(elector.acquire(), stop)
            if not stop.is_set():
                lost = asyncio.create_task(elector.hold(), name="tether-lease")
                lost.add_done_callback(lambda _t: stop.set())
                tasks.append(lost)
        if shard is not None and not stop.is_set():
            await _wait_first_coro(shard.membership.join(), stop)
            member = asyncio.create_task(shard.membership.run(), name="tether-shard-lease")
            member.add_done_callback(lambda _t: stop.set())  # not sure of our Lease: stop
            tasks.append(member)
            log.info(
                "shard %s of %d (Lease %s/%s)",
                shard.identity,
                cfg.shards,
                shard.membership.config.namespace,
                shard.membership.config.lease_name,
            )
        if not stop.is_set():
            await _load_projects(engine, runtime)
            probes.ready = True
            log.info("operator running (concurrency %d)", cfg.concurrency)
            await runtime.run(stop)
    finally:
        stop.set()
        stop_tools()
        probes.ready = False
        if elector is not None:
            await elector.release()
        if shard is not None:
            await shard.membership.leave()  # the others take our apps now, not at expiry
        with contextlib.suppress(asyncio.TimeoutError, Exception):
            await asyncio.wait_for(kopf_task, 15)
        if kopf_task.done() and not kopf_task.cancelled() and kopf_task.exception() is not None:
            log.error("kopf stopped: %s", kopf_task.exception())
            code = 1
        for task in tasks:
            task.cancel()
        await server.stop()
        if receiver is not None:
            await receiver.stop()
        await events.close()
        await engine.close()
    return code


async def _start_webhooks(
    cfg: OperatorConfig,
    runtime: Runtime,
    client: Any,
    recorder: ev.EventRecorder,
    metrics: Metrics,
    probes: Probes,
) -> WebhookReceiver | None:
    """The push webhook receiver on its own port, when configured."""
    if cfg.webhook is None:
        return None
    from tether.controller.webhooks import RepositoryDirectory

    directory = RepositoryDirectory(
        runtime, KubeSecretReader(client), recorder, KubeStatusPatcher(client, REPOSITORIES)
    )
    receiver = WebhookReceiver(
        cfg.webhook, directory, count=metrics.count_webhook, ready=lambda: probes.ready
    )
    port = await receiver.start()
    log.info(
        "push webhooks on %s:%d (global secret %s)",
        cfg.webhook.host,
        port,
        "set" if cfg.webhook.global_secret else "not set",
    )
    return receiver


async def _load_projects(engine: Any, runtime: Runtime) -> None:
    """Read every Project once before the first app is judged, so that no app is refused
    for a Project the watch has not delivered yet. A failure here is only logged: the
    watch fills the book, and an app refused meanwhile is woken when its Project comes."""
    from tether.kube.resource import GVK

    try:
        res = await engine.discovery.resource(GVK("tether.dev", "v1alpha1", "Project"))
        items, _version = await engine.client.list_all(res)
    except Exception as exc:  # no CRD yet, no RBAC: the watch reports it too
        log.warning("could not list Projects at startup: %s", exc)
        return
    for item in items:
        runtime.on_project_event(None, item)


async def _wait_first(
    ready: asyncio.Event, stop: asyncio.Event, kopf_task: asyncio.Task[Any]
) -> None:
    waits = [asyncio.ensure_future(ready.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait([*waits, kopf_task], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
    if kopf_task.done():
        stop.set()


async def _wait_first_coro(coro: Any, stop: asyncio.Event) -> None:
    task = asyncio.ensure_future(coro)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()


def _shard(cfg: OperatorConfig, client: Any, runtime: Runtime) -> Shard | None:
    """This replica's shard when ``--shards`` is above one, else None (today's mode)."""
    if not cfg.sharded:
        return None
    membership = Membership(
        client,
        ShardConfig(
            namespace=cfg.leader_namespace or "default",
            identity=cfg.identity,
            shards=cfg.shards,
            lease_seconds=cfg.shard_lease_seconds,
            renew_seconds=cfg.shard_renew_seconds,
        ),
    )
    return Shard(client, membership, runtime.apps, runtime.app_queue)


async def _gauges(
    metrics: Metrics, engine: Any, stop: asyncio.Event, shard: Shard | None, runtime: Runtime
) -> None:
    period = 15.0 if shard is None else min(15.0, shard.membership.config.renew_seconds)
    trimmed = 0.0
    while not stop.is_set():
        if runtime.idle.is_set() and time.monotonic() - trimmed >= TRIM_PERIOD:
            release_free_memory()  # what a burst of reconciles freed goes back to the system
            trimmed = time.monotonic()
        with contextlib.suppress(Exception):
            metrics.set_cache_objects(engine.cache.object_count())
            if shard is not None:
                metrics.set_shard(
                    owned=shard.owned_count(),
                    queued=len(runtime.app_queue),
                    members=len(shard.membership.members),
                )
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), period)
