"""Where announcements go: a channel through the bot (with a nonce), or a webhook over plain HTTP.

Each sender also finds its own earlier announcement again (by the footer marker, see
bot.announcer) and edits or replies under a posted message. Posts are paced by
bot.pacer from Discord's rate-limit headers: given an HTTP session, ChannelSender
posts with the bot's token itself instead of through discord.py, whose request
sleeps out an emptied window before it hands back the message it already posted.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

import aiohttp
import discord

from bot.announce_format import message_marked
from bot.announcer import (
    CannotCheck,
    MessageGone,
    OutcomeUnknown,
    Refused,
    RetryLater,
    TargetGone,
)
from bot.pacer import Pacer
from bot.send import allowed_mentions_of, embeds_of, message_kwargs
from storage.models import Subscription

log = logging.getLogger(__name__)

_DISCORD_WEBHOOK = re.compile(
    r"^https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api(?:/v\d+)?/webhooks/(\d+)/([\w-]+)/?$"
)
# A wait longer than this is not slept through inside a drain; the row is retried later.
MAX_INLINE_WAIT = 10.0
TIMEOUT = aiohttp.ClientTimeout(total=30)
FIND_PAGES = 10  # at most 1,000 messages are read looking for one marker
CHANNEL_POST = "POST /channels/{channel_id}/messages"
ATTEMPTS = 12  # tries of one post inside a drain (each waits as long as the headers say first)


async def find_marked(
    http: discord.http.HTTPClient, channel_id: int, lead: str, sub_id: int, since: datetime,
    *, author_id: int | None = None, webhook_id: int | None = None,
) -> int | None:
    """Page through the channel's messages since ``since`` for this subscription's post marked ``lead``."""
    after = discord.utils.time_snowflake(since)
    for _ in range(FIND_PAGES):
        try:
            messages = await http.logs_from(channel_id, 100, after=after)
        except discord.Forbidden as exc:
            raise CannotCheck(f"the bot may not read the history of <#{channel_id}> ({exc.status})") from exc
        except discord.NotFound as exc:
            raise TargetGone(f"channel {channel_id} no longer exists (404); /unsubscribe it") from exc
        except discord.HTTPException as exc:
            raise RetryLater(f"Discord answered {exc.status} reading <#{channel_id}>") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryLater(f"could not reach Discord: {exc or exc.__class__.__name__}") from exc
        for message in messages:
            if webhook_id is not None and message.get("webhook_id") != str(webhook_id):
                continue
            if author_id is not None and str(message.get("author", {}).get("id")) != str(author_id):
                continue
            if message_marked(message, lead, sub_id):
                return int(message["id"])
        if len(messages) < 100:
            return None
        after = max(int(m["id"]) for m in messages)
    return None


def _channel_error(channel_id: int, status: int, code: int, text: str) -> Exception:
    """What an error answer to a channel post means for the delivery."""
    if status == 404:
        return TargetGone(
            f"channel {channel_id} no longer exists (404 {text or 'Unknown Channel'}); "
            "/unsubscribe it or /subscribe another channel"
        )
    if status == 403:
        return TargetGone(
            f"the bot may not post in <#{channel_id}> (403 {text or 'Missing Permissions'}); "
            "give it View Channel, Send Messages and Embed Links there, then /subscribe again to resume"
        )
    if status == 429 or status >= 500:
        return RetryLater(f"Discord answered {status}: {text}")
    return Refused(f"Discord refused the message ({status} {code}: {text})")


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
    """Posts as the logged-in bot, paced by Discord's rate-limit buckets.

    With ``session`` the post is made here (bot.pacer keeps the channel's bucket and
    the global limit); without it, through discord.py's channel.send.
    """

    has_nonce = True

    def __init__(
        self, bot: discord.Client, session: aiohttp.ClientSession | None = None, *, pacer: Pacer | None = None
    ) -> None:
        self.bot = bot
        self.session = session
        self.pacer = pacer or Pacer()

    def handles(self, sub: Subscription) -> bool:
        return sub.channel_id is not None

    async def send(
        self, sub: Subscription, payload: dict[str, Any], nonce: str,
        reference: discord.MessageReference | None = None,
    ) -> int | None:
        assert sub.channel_id is not None
        if self.session is not None:
            return await self._post(sub.channel_id, payload, nonce, reference)
        channel = self.bot.get_partial_messageable(sub.channel_id)
        try:
            message = await channel.send(**message_kwargs(payload), nonce=nonce, reference=reference)  # type: ignore[arg-type]
        except discord.HTTPException as exc:
            raise _channel_error(sub.channel_id, exc.status, exc.code, exc.text or str(exc)) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryLater(f"could not reach Discord: {exc or exc.__class__.__name__}") from exc
        return message.id

    async def _post(
        self, channel_id: int, payload: dict[str, Any], nonce: str, reference: discord.MessageReference | None
    ) -> int | None:
        """POST the message with the bot's token, waiting for the bucket first; the new message's id."""
        assert self.session is not None
        token = self.bot.http.token
        if not token:
            raise RetryLater("the bot has not logged in yet")
        body: dict[str, Any] = {
            "embeds": payload.get("embeds") or [],
            "allowed_mentions": allowed_mentions_of(payload).to_dict(),
            "nonce": nonce,
            "enforce_nonce": True,
        }
        if payload.get("content"):
            body["content"] = payload["content"]
        if reference is not None:
            body["message_reference"] = reference.to_message_reference_dict()
        url = f"{discord.http.Route.BASE}/channels/{channel_id}/messages"
        headers = {"Authorization": f"Bot {token}", "User-Agent": "paperboy (announcer)"}
        major = str(channel_id)
        told_off = 0
        for _ in range(ATTEMPTS):
            wait = await self.pacer.acquire(CHANNEL_POST, major, max_wait=MAX_INLINE_WAIT)
            if wait:
                raise RetryLater(f"<#{channel_id}> is rate limited for {wait:.0f}s", after=wait)
            try:
                async with self.session.post(url, json=body, headers=headers, timeout=TIMEOUT) as resp:
                    data = await _json(resp)
                    status = resp.status
                    shared = self.pacer.note(CHANNEL_POST, major, status, resp.headers, data)
            except aiohttp.ClientConnectorError as exc:
                raise RetryLater(f"could not connect to Discord: {exc}") from exc  # nothing was sent
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise OutcomeUnknown(f"no answer from Discord: {exc or exc.__class__.__name__}") from exc
            if 200 <= status < 300 and isinstance(data, dict) and data.get("id"):
                return int(data["id"])
            if status == 429:
                # The pacer now knows the wait (a wait too long raises RetryLater above). The
                # global limit is shared by every lane: being told off there is nobody's fault.
                told_off += not shared
                if told_off < 3:
                    continue
                break
            text = str(data.get("message", "")) if isinstance(data, dict) else ""
            code = data.get("code", 0) if isinstance(data, dict) else 0
            raise _channel_error(channel_id, status, code, text)
        raise RetryLater(f"<#{channel_id}> still rate limited after {told_off} waits")

    async def find(self, sub: Subscription, lead: str, since: datetime) -> int | None:
        assert sub.channel_id is not None
        me = self.bot.user.id if self.bot.user else None
        return await find_marked(self.bot.http, sub.channel_id, lead, sub.id, since, author_id=me)

    async def edit(self, sub: Subscription, message_id: int, payload: dict[str, Any]) -> None:
        assert sub.channel_id is not None
        message = self.bot.get_partial_messageable(sub.channel_id).get_partial_message(message_id)
        try:
            await message.edit(
                content=payload.get("content") or None, embeds=embeds_of(payload),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.NotFound as exc:
            raise MessageGone(f"message {message_id} was deleted") from exc
        except discord.Forbidden as exc:
            raise MessageGone(f"message {message_id} cannot be edited ({exc.text})") from exc
        except discord.HTTPException as exc:
            raise RetryLater(f"Discord answered {exc.status}: {exc.text or exc}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryLater(f"could not reach Discord: {exc or exc.__class__.__name__}") from exc

    async def reply(
        self, sub: Subscription, message_id: int | None, payload: dict[str, Any], nonce: str
    ) -> int | None:
        """Post under ``message_id``; when that message is gone, Discord posts it without the reply link."""
        assert sub.channel_id is not None
        reference = (
            discord.MessageReference(message_id=message_id, channel_id=sub.channel_id, fail_if_not_exists=False)
            if message_id else None
        )
        return await self.send(sub, payload, nonce, reference)


class WebhookSender:
    """POSTs to ``<webhook_url>?wait=true`` with aiohttp; no bot needed. Honours rate-limit headers."""

    has_nonce = False

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_base: str,
        username: str = "paperboy",
        reader: Any = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.session = session
        self.api_base = api_base
        self.username = username
        # () -> discord.Client | None: the bot, when one runs, reads a webhook's channel to
        # find an interrupted send's marker; without it such a send cannot be checked.
        self.reader = reader or (lambda: None)
        self.pacer = pacer or Pacer(global_rate=None)  # webhooks do not count against the bot's global limit
        self._channels: dict[str, tuple[int, int]] = {}

    def handles(self, sub: Subscription) -> bool:
        return sub.webhook_url is not None

    def _body(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "content": payload.get("content") or "",
            "embeds": payload.get("embeds") or [],
            "allowed_mentions": payload.get("allowed_mentions") or {"parse": []},
        }

    async def send(self, sub: Subscription, payload: dict[str, Any], nonce: str) -> int | None:
        assert sub.webhook_url is not None
        body = self._body(payload) | {"username": self.username}
        data = await self._call("POST", sub.webhook_url, "", body, params={"wait": "true"})
        return int(data["id"]) if isinstance(data, dict) and data.get("id") else None

    async def edit(self, sub: Subscription, message_id: int, payload: dict[str, Any]) -> None:
        assert sub.webhook_url is not None
        await self._call("PATCH", sub.webhook_url, f"/messages/{message_id}", self._body(payload))

    async def reply(
        self, sub: Subscription, message_id: int | None, payload: dict[str, Any], nonce: str
    ) -> int | None:
        # A webhook cannot reply to a message; its update is a message of its own.
        return await self.send(sub, payload, nonce)

    async def find(self, sub: Subscription, lead: str, since: datetime) -> int | None:
        assert sub.webhook_url is not None
        bot = self.reader()
        if bot is None or not getattr(bot, "user", None):
            raise CannotCheck("no bot is logged in to read the webhook's channel")
        hook_id, channel_id = await self._hook(sub.webhook_url)
        return await find_marked(bot.http, channel_id, lead, sub.id, since, webhook_id=hook_id)

    async def _hook(self, webhook_url: str) -> tuple[int, int]:
        """The webhook's id and channel, asked of Discord once (a webhook's token can read itself)."""
        if webhook_url not in self._channels:
            data = await self._call("GET", webhook_url, "", None)
            if not isinstance(data, dict) or "channel_id" not in data:
                raise CannotCheck("Discord did not say which channel the webhook posts to")
            self._channels[webhook_url] = (int(data["id"]), int(data["channel_id"]))
        return self._channels[webhook_url]

    async def _call(
        self, method: str, webhook_url: str, tail: str, body: dict[str, Any] | None,
        params: dict[str, str] | None = None,
    ) -> Any:
        base = webhook_target(webhook_url, self.api_base)
        url = base + tail
        route = f"{method} /webhooks/{{webhook_id}}/{{webhook_token}}{'/messages/{message_id}' if tail else ''}"
        for _ in range(3):
            wait = await self.pacer.acquire(route, base, max_wait=MAX_INLINE_WAIT, counts_global=False)
            if wait:
                raise RetryLater(f"webhook rate limited for {wait:.0f}s", after=wait)
            try:
                async with self.session.request(method, url, params=params, json=body, timeout=TIMEOUT) as resp:
                    data = await _json(resp)
                    status = resp.status
                    self.pacer.note(route, base, status, resp.headers, data)
            except aiohttp.ClientConnectorError as exc:
                raise RetryLater(f"could not connect to the webhook's server: {exc}") from exc
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise OutcomeUnknown(f"no answer from the webhook: {exc or exc.__class__.__name__}") from exc
            if status == 429:
                continue  # the pacer now knows the wait; a wait too long raises RetryLater above
            if 200 <= status < 300:
                return data
            text = data.get("message", "") if isinstance(data, dict) else ""
            code = data.get("code", "") if isinstance(data, dict) else ""
            if status in (401, 403, 404):
                if code == 10008:
                    raise MessageGone(f"message not found ({status} {code} {text})")
                raise TargetGone(
                    f"the webhook {mask(webhook_url)} was deleted or its token is wrong ({status} {text}); "
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
