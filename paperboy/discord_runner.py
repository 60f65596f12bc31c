"""Starting Discord inside `paperboy run`: the bot, its announcer, and bot-less webhook announcements."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import discord

from bot.announcer import Announcer, RetryLater, compose
from bot.client import PaperboyBot
from bot.endpoints import point_discord
from bot.senders import ChannelSender, WebhookSender, mask
from paperboy.config import DIGEST_DAYS, AnnounceConfig, Config
from storage.errors import PaperboyError
from storage.models import Subscription
from storage.store import Store
from storage.subscriptions import filters_text, parse_filters
from storage.text import author_key, slugify

log = logging.getLogger(__name__)

READY_TIMEOUT = 20.0


async def start_bot(
    config: Config,
    store: Store,
    session: aiohttp.ClientSession,
    jobs: Any,
    stack: contextlib.AsyncExitStack,
    say: Callable[[str], None],
    *,
    ready_timeout: float = READY_TIMEOUT,
    bot_options: dict[str, Any] | None = None,
    announcer_options: dict[str, Any] | None = None,
    metrics: Any | None = None,
) -> PaperboyBot:
    """Log in and connect in the background; hook the announcer and digest into the jobs.

    ``metrics`` (paperboy.metrics.Metrics, optional) gets command timings and delivery outcomes.
    """
    if not config.discord_token:
        raise PaperboyError("Discord: DISCORD_TOKEN is not set")
    stack.callback(point_discord(config.discord.api_base, config.discord.gateway_url))
    bot = PaperboyBot(store=store, settings=config.bot_settings(), session=session, metrics=metrics,
                      **(bot_options or {}))
    announcer = _scheduled(Announcer(
        store, [ChannelSender(bot, session)], base_url=bot.base_url, **_with_metrics(announcer_options, metrics)
    ), config)

    async def run() -> None:
        try:
            await bot.start(config.discord_token or "")
        except discord.LoginFailure:
            say("Discord: the token was refused (401); check DISCORD_TOKEN. Discord stays off")
        except (discord.HTTPException, discord.GatewayNotFound, aiohttp.ClientError, OSError) as exc:
            say(f"Discord: cannot connect to {config.discord.api_base} ({exc}); Discord stays off")

    task = asyncio.create_task(run(), name="discord-bot")

    async def stop() -> None:
        # The scheduler has just cancelled any drain; let its last send be recorded first.
        await announcer.wait_idle()
        if not bot.is_closed():
            await bot.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)

    ready = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({ready, task}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED)
    if ready in done:
        guilds = len(bot.guilds)
        synced = f"; commands synced ({', '.join(bot.synced)})" if bot.synced else ""
        say(f"Discord: logged in as {bot.user} in {guilds} server{'s' if guilds != 1 else ''}{synced}")
    else:
        ready.cancel()
        if task not in done:
            say(f"Discord: not ready after {ready_timeout:.0f}s; still connecting in the background")
    jobs.drain = compose(jobs.drain, announcer.drain)
    jobs.digest = announcer.post_digests
    _report_breaks(announcer, jobs)
    return bot


def _report_breaks(announcer: Announcer, jobs: Any) -> None:
    ops = getattr(jobs, "ops", None)
    if ops is not None:
        announcer.on_paused = ops.subscription_broke


def ops_poster(
    config: Config, session: aiohttp.ClientSession, bot: discord.Client | None
) -> Callable[[str, str], Any] | None:
    """What posts to [ops]: the bot in ``channel``, or the webhook named by ``webhook_env``; None if unset."""
    if config.ops.channel:
        if bot is None:
            log.warning("[ops] channel is set but the bot is off (no DISCORD_TOKEN); nothing is posted there")
            return None
        sender: ChannelSender | WebhookSender = ChannelSender(bot)
        target = Subscription(id=0, guild_id=None, channel_id=config.ops.channel, webhook_url=None,
                              target="all", value=None, created_at=datetime.now(UTC))
    elif config.ops_webhook:
        sender = WebhookSender(session, api_base=config.discord.api_base, username="paperboy ops")
        target = Subscription(id=0, guild_id=None, channel_id=None, webhook_url=config.ops_webhook,
                              target="all", value=None, created_at=datetime.now(UTC))
    else:
        if config.ops.webhook_env:
            log.warning("[ops] webhook_env names %s, which is empty; nothing is posted to an ops channel",
                        config.ops.webhook_env)
        return None

    async def post(text: str, nonce: str) -> object:
        return await sender.send(target, {"content": text, "embeds": [], "allowed_mentions": {"parse": []}}, nonce)

    return post


async def sync_webhooks(config: Config, store: Store) -> int:
    """Make the webhook subscriptions match [[announce]]: add new ones, update changed ones, drop unlisted ones."""
    wanted: dict[tuple[str, str, str], AnnounceConfig] = {}
    for ann in config.announce:
        url = config.webhook_url(ann)
        if not url:
            log.warning("[[announce]] %s: %s is empty; skipped", ann.name, ann.webhook_url_env or "webhook_url")
            continue
        wanted[(url, ann.target, _stored_value(ann.target, ann.value))] = ann
    present = {
        (s.webhook_url or "", s.target, s.value or ""): s for s in await store.outbox.subscriptions(webhooks=True)
    }
    for key, ann in wanted.items():
        url, target, value = key
        days = DIGEST_DAYS[ann.digest]
        mention = ann.mention_role or None
        sub = present.get(key)
        if sub is None or sub.digest != days:
            await store.outbox.subscribe(target=target, value=value or None, webhook_url=url, digest=days,
                                         include=ann.include, exclude=ann.exclude, mention_role_id=mention)
            if sub is None:
                log.info("webhook subscription added: %s (%s %s) -> %s", ann.name, target, value, mask(url))
            continue
        # Compared in stored form, so a config written "a, b" is not rewritten as "a b" at every start.
        options = (filters_text(parse_filters(ann.include, "include")),
                   filters_text(parse_filters(ann.exclude, "exclude")), mention)
        if (sub.include, sub.exclude, sub.mention_role_id) != options:
            await store.outbox.edit(sub.id, include=ann.include, exclude=ann.exclude, mention_role_id=mention)
    for key in present.keys() - wanted.keys():
        await store.outbox.unsubscribe(present[key].id)
        log.info("webhook subscription removed (no longer in [[announce]]): %s", mask(key[0]))
    return len(wanted)


def _scheduled(announcer: Announcer, config: Config) -> Announcer:
    announcer.digest_weekday = config.schedule.digest_weekday
    announcer.digest_timezone = config.schedule.timezone
    return announcer


def _with_metrics(options: dict[str, Any] | None, metrics: Any | None) -> dict[str, Any]:
    merged = dict(options or {})
    if metrics is not None:
        merged.setdefault("on_outcome", metrics.observe_delivery)
    return merged


def _stored_value(target: str, value: str) -> str:
    """The form ingest matches on: author keys and topic slugs are derived, so no lookup is needed."""
    if target == "author":
        return author_key(value)
    if target == "topic":
        return slugify(value)
    if target == "category":
        return value.strip()
    return ""


async def start_webhooks(
    config: Config,
    store: Store,
    session: aiohttp.ClientSession,
    jobs: Any,
    say: Callable[[str], None],
    *,
    announcer_options: dict[str, Any] | None = None,
    metrics: Any | None = None,
    bot: discord.Client | None = None,
) -> Announcer:
    """Announce to [[announce]] webhooks over plain HTTP, beside (or without) the bot.

    With ``bot`` (logged in), a webhook send of unknown outcome is looked for in the
    webhook's channel before it is resent; without it, it is recorded as sent, unverified.
    """
    count = await sync_webhooks(config, store)

    def reader() -> discord.Client | None:
        if bot is None:
            return None
        if not bot.is_ready():
            raise RetryLater("the bot is still connecting; the webhook's channel is read once it is ready")
        return bot

    announcer = _scheduled(Announcer(
        store, [WebhookSender(session, api_base=config.discord.api_base, reader=reader)],
        base_url=config.public_base_url,
        **_with_metrics(announcer_options, metrics),
    ), config)
    jobs.drain = compose(jobs.drain, announcer.drain)
    _report_breaks(announcer, jobs)
    if jobs.digest is None:
        jobs.digest = announcer.post_digests
    else:
        jobs.digest = compose(jobs.digest, announcer.post_digests)
    say(f"announcements: {count} webhook{'s' if count != 1 else ''} from [[announce]]")
    return announcer
