"""The composition root: open the store, HTTP session, feed server, scheduler and bot; stop cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TextIO

import aiohttp
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from feeds._web_http import SiteRunner
from feeds.publish import FeedSettings
from feeds.sources.fetch import Fetcher
from feeds.web import invalidate, make_app
from paperboy.config import Config, SourceConfig, search_acronyms
from paperboy.discord_runner import ops_poster, start_bot, start_webhooks
from paperboy.health import Health
from paperboy.jobs import Jobs
from paperboy.metrics import Metrics
from storage.store import Store

log = logging.getLogger(__name__)

USER_AGENT = "paperboy/0.1 (+https://github.com/paperboy-lab/paperboy)"
DEMO_OWNER = "Sangheum Hwang"


def demo_listing_path() -> Path:
    return Path(str(resources.files("paperboy") / "demo" / "lab.txt"))


def with_default_sources(config: Config) -> Config:
    """With no config file at all, follow the demo listing; a given config means exactly what it says."""
    if config.path is None and not config.sources:
        demo = SourceConfig(
            name="demo", kind="listing", url=str(demo_listing_path()), interval=3600.0, owner=DEMO_OWNER
        )
        return replace(config, sources=(demo,))
    return config


@dataclass(slots=True)
class Running:
    """What a started service exposes to tests and to the health and metrics endpoints."""

    config: Config
    store: Store
    jobs: Jobs
    scheduler: AsyncIOScheduler
    base_url: str | None = None
    app: web.Application | None = None
    bot: object | None = None
    metrics: Metrics | None = None
    health: Health | None = None
    extras: dict[str, object] = field(default_factory=dict)


def _bind(host: str, port: int) -> socket.socket:
    """Bind before building the app, so `port = 0` yields a real port for the feeds' own URLs."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        from storage.errors import ConfigError

        raise ConfigError(
            f"[http] cannot listen on {host}:{port} ({exc.strerror}); set another [http] port, or 0 for a free one"
        ) from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve(
    config: Config,
    *,
    stop: asyncio.Event,
    out: TextIO | None = None,
    started: Callable[[Running], None] | None = None,
) -> None:
    """Run until ``stop`` is set. Every resource is opened here and closed in reverse order."""
    out = out or sys.stdout
    config = with_default_sources(config)

    def say(line: str) -> None:
        print(f"paperboy: {line}", file=out, flush=True)

    async with AsyncExitStack() as stack:
        # The service retries its own writes when a CLI beside it holds the lock (30 s in all).
        store = await Store.open(config.store.path, announce_max_age=config.max_age, busy_retries=2,
                                 hand_back_cache=True)
        stack.push_async_callback(store.close)
        store.use_acronyms(search_acronyms(config))
        say(f"database {Path(config.store.path).resolve()} ({await store.count_papers()} papers)")

        session = await stack.enter_async_context(
            aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}, trust_env=False)
        )
        fetcher = Fetcher(session, user_agent=USER_AGENT)

        on_change: list = []
        jobs = Jobs(config, store, fetcher, on_change=on_change)
        scheduler = AsyncIOScheduler(timezone="UTC")
        running = Running(config, store, jobs, scheduler)
        # The bot reads running.metrics for its command timings; health looks the bot up per request.
        running.metrics = Metrics(store, jobs)
        running.health = Health(
            store,
            scheduler,
            config.sources,
            bot=lambda: running.bot,  # type: ignore[arg-type,return-value]
            discord=bool(config.discord_token),
            jitter=config.schedule.jitter,
        )

        if config.http.enabled:
            sock = _bind(config.http.host, config.http.port)
            port = sock.getsockname()[1]
            public = config.http.public_url or config.http.base_url
            base = public.rstrip("/") + "/" if public else f"http://{config.http.host}:{port}/"
            settings = FeedSettings(
                title=config.feeds.title,
                subtitle=config.feeds.subtitle,
                base_url=base,
                entries=config.feeds.entries,
                author=config.feeds.author or None,
            )
            app = make_app(store, settings, extra_routes=[running.metrics.route()], health=running.health)
            running.metrics.install(app)
            on_change.append(lambda: invalidate(app))
            runner = SiteRunner(app, access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            await web.SockSite(runner, sock).start()
            running.app, running.base_url = app, base
            say(f"feeds at {base} (Atom {base}feed.atom, RSS {base}feed.rss, JSON {base}feed.json)")
            say(f"health at {base}healthz, metrics at {base}metrics")
        else:
            say("HTTP is off ([http] enabled = false)")

        if config.discord_token:
            running.bot = await start_bot(config, store, session, jobs, stack, say, metrics=running.metrics)
        else:
            say(
                "Discord is off: set DISCORD_TOKEN to your bot's token "
                "(and see [discord] in config.example.toml) to turn it on"
            )
        if config.announce:
            announcer = await start_webhooks(
                config, store, session, jobs, say, metrics=running.metrics, bot=running.bot  # type: ignore[arg-type]
            )
            # A webhook post under way is recorded before the session and store close.
            stack.push_async_callback(announcer.wait_idle)

        jobs.ops.poster = ops_poster(config, session, running.bot)  # type: ignore[arg-type]
        if jobs.ops.poster is not None:
            ops = config.ops
            where = f"channel {ops.channel}" if ops.channel else f"the webhook in {ops.webhook_env}"
            say(f"ops: source failures, sharp drops, recoveries and broken subscriptions go to {where}")
        await jobs.register_sources()
        jobs.schedule(scheduler)
        scheduler.start()
        stack.callback(scheduler.shutdown, wait=False)
        if config.sources:
            say("sources: " + ", ".join(f"{s.name} ({s.kind}, every {_every(s.interval)})" for s in config.sources))
        else:
            say(f"no [[sources]] in {config.path}; nothing is ingested until you add some")
        if started is not None:
            started(running)
        say("running; press Ctrl-C to stop")
        await stop.wait()
        say("stopping")


def _every(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


async def run(config: Config) -> int:
    """`paperboy run`: serve until Ctrl-C or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
            pass
    await serve(config, stop=stop)
    return 0
