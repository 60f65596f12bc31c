"""Where announcements go: a channel through the bot (with a nonce), or a webhook over plain HTTP."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import aiohttp
import discord

from bot.announcer import Refused, RetryLater, TargetGone
from bot.send import message_kwargs
from storage.models import Subscription

log = logging.getLogger(__name__)

_DISCORD_WEBHOOK = re.compile(
    r"^https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api(?:/v\d+)?/webhooks/(\d+)/([\w-]+)/?$"
)
# A wait longer than this is not slept through inside a drain; the row is retried later.
MAX_INLINE_WAIT = 10.0
TIMEOUT = aiohttp.ClientTimeout(total=30)


def webhook_target(url: str, api_base: str) -> str:
    """The URL to POST to: a Discord webhook URL moves to ``api_base`` when Discord lives elsewhere."""
    match = _DISCORD_WEBHOOK.match(url.strip())
    if match is None:
        return url.strip()
    return f"{api_base.rstrip('/')}/webhooks/{match[1]}/{match[2]}"


def mask(url: str) -> str:
    head, _, _ = url.rstrip("/").rpartition("/")
    return f"{head}/***"


class ChannelSender:
    """Posts through the logged-in bot; discord.py paces by Discord's rate-limit buckets."""

    records_in_flight = False

    def __init__(self, bot: discord.Client) -> None:
        self.bot = bot

    def handles(self, sub: Subscription) -> bool:
        return sub.channel_id is not None

    async def send(self, sub: Subscription, payload: dict[str, Any], nonce: str) -> int | None:
        assert sub.channel_id is not None
        channel = self.bot.get_partial_messageable(sub.channel_id)
        try:
            message = await channel.send(**message_kwargs(payload), nonce=nonce)
        except discord.NotFound as exc:
            raise TargetGone(
                f"channel {sub.channel_id} no longer exists (404 {exc.text or 'Unknown Channel'}); "
                "/unsubscribe it or /subscribe another channel"
            ) from exc
        except discord.Forbidden as exc:
            raise TargetGone(
                f"the bot may not post in <#{sub.channel_id}> (403 {exc.text or 'Missing Permissions'}); "
                "give it View Channel, Send Messages and Embed Links there, then /subscribe again to resume"
            ) from exc
        except discord.HTTPException as exc:
            if exc.status == 429 or exc.status >= 500:
                raise RetryLater(f"Discord answered {exc.status}: {exc.text or exc}") from exc
            raise Refused(f"Discord refused the message ({exc.status} {exc.code}: {exc.text})") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryLater(f"could not reach Discord: {exc or exc.__class__.__name__}") from exc
        return message.id


class WebhookSender:
    """POSTs to ``<webhook_url>?wait=true`` with aiohttp; no bot needed. Honours rate-limit headers."""

    records_in_flight = True

    def __init__(self, session: aiohttp.ClientSession, *, api_base: str, username: str = "paperboy") -> None:
        self.session = session
        self.api_base = api_base
        self.username = username
        self._resume_at: dict[str, float] = {}

    def handles(self, sub: Subscription) -> bool:
        return sub.webhook_url is not None

    async def _pace(self, url: str) -> None:
        loop = asyncio.get_running_loop()
        wait = self._resume_at.get(url, 0.0) - loop.time()
        if wait > 0:
            await asyncio.sleep(min(wait, MAX_INLINE_WAIT))

    def _note_headers(self, url: str, headers: Any) -> None:
        try:
            remaining = int(headers.get("X-RateLimit-Remaining", "1"))
            reset_after = float(headers.get("X-RateLimit-Reset-After", "0"))
        except ValueError:
            return
        if remaining <= 0:
            self._resume_at[url] = asyncio.get_running_loop().time() + reset_after

    async def send(self, sub: Subscription, payload: dict[str, Any], nonce: str) -> int | None:
        assert sub.webhook_url is not None
        url = webhook_target(sub.webhook_url, self.api_base)
        body = {
            "content": payload.get("content") or "",
            "embeds": payload.get("embeds") or [],
            "allowed_mentions": payload.get("allowed_mentions") or {"parse": []},
            "username": self.username,
        }
        for _ in range(3):
            await self._pace(url)
            try:
                async with self.session.post(url, params={"wait": "true"}, json=body, timeout=TIMEOUT) as resp:
                    self._note_headers(url, resp.headers)
                    data = await _json(resp)
                    status = resp.status
            except aiohttp.ClientConnectorError as exc:
                raise RetryLater(f"could not connect to the webhook's server: {exc}") from exc
            if status == 429:
                after = float(data.get("retry_after", 1.0)) if isinstance(data, dict) else 1.0
                if after <= MAX_INLINE_WAIT:
                    await asyncio.sleep(after)
                    continue
                raise RetryLater(f"webhook rate limited for {after:.0f}s", after=after)
            if 200 <= status < 300:
                return int(data["id"]) if isinstance(data, dict) and data.get("id") else None
            text = data.get("message", "") if isinstance(data, dict) else ""
            if status in (401, 403, 404):
                raise TargetGone(
                    f"the webhook {mask(sub.webhook_url)} was deleted or its token is wrong ({status} {text}); "
                    "fix webhook_url in [[announce]] and restart"
                )
            if status >= 500:
                raise RetryLater(f"Discord answered {status}: {text}")
            raise Refused(f"Discord refused the webhook message ({status}: {text})")
        raise RetryLater("webhook still rate limited after 3 waits")


async def _json(resp: aiohttp.ClientResponse) -> Any:
    try:
        return await resp.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return None
