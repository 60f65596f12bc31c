"""DiscordEmulator: the test-facing handle on a loopback Discord (REST + gateway) server."""

# Waiting helpers take a timeout so a hang fails with a message naming what was awaited.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.endpoints import point_discord

from ._drive import InteractionDriver
from ._faults import Fault, path_matches
from ._gateway import RECONNECT, Gateway, GatewayFrame
from ._interactions import (
    InteractionFailed,
    InteractionResult,
)
from ._messages import new_message
from ._rest import Rest, Settings
from ._state import (
    DEFAULT_EVERYONE_PERMISSIONS,
    Channel,
    Guild,
    Member,
    Notifier,
    RecordedRequest,
    Role,
    User,
    Webhook,
    World,
)
from ._webhooks import Webhooks

log = logging.getLogger(__name__)


def point_discord_py_at(api_base: str, gateway_url: str) -> Callable[[], None]:
    """Send the unmodified discord.py client to another Discord (e.g. this emulator).

    Sets ``discord.http.Route.BASE`` (REST and webhooks) and
    ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (the websocket; a plain
    ``Client`` never asks ``GET /gateway/bot``), the way the service does for
    ``[discord] api_base``. Process-wide: returns a function that restores the previous values.
    """
    return point_discord(api_base, gateway_url)


class DiscordEmulator(InteractionDriver):
    """A loopback Discord API v10 (REST + gateway) on 127.0.0.1 and a free port.

    Use ``async with DiscordEmulator(token=...) as emu:``; build guilds, channels
    and members, point discord.py at ``emu.api_base`` / ``emu.gateway_url``, start
    the bot, ``await emu.wait_ready()``, then drive it with ``slash``,
    ``autocomplete`` and ``press_button`` and assert on what Discord received.
    """

    def __init__(
        self,
        token: str = "test-token",
        *,
        bot_name: str = "paperboy-test",
        message_rate: tuple[int, float] = (5, 5.0),
        webhook_rate: tuple[int, float] = (5, 2.0),
        default_rate: tuple[int, float] = (50, 1.0),
        global_rate: tuple[int, float] | None = None,
        interaction_window: float = 3.0,
        token_ttl: float = 900.0,
        heartbeat_interval: float = 41.25,
        split_compressed_frames: bool = False,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        self.host = host
        self.everyone_permissions = everyone_permissions
        self.port = 0
        self._notifier = Notifier()
        self._world = World(bot_name=bot_name)
        self._gateway = Gateway(
            self._world, self._notifier, token,
            heartbeat_interval_ms=int(heartbeat_interval * 1000),
            split_compressed_frames=split_compressed_frames,
            resume_url=lambda: f"ws://{self.host}:{self.port}/resume",
        )
        settings = Settings(token, message_rate, webhook_rate, default_rate,
                            interaction_window, token_ttl, global_rate)
        self._rest = Rest(self._world, self._notifier, self._gateway, settings,
                          api_base=lambda: self.api_base, gateway_url=lambda: self.gateway_url)
        self._webhooks = Webhooks(self._rest)
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._restore: Callable[[], None] | None = None

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> DiscordEmulator:
        app = web.Application(middlewares=[self._rest.middleware], client_max_size=64 * 1024 * 1024)
        app.add_routes(self._rest.routes() + self._webhooks.routes())
        app.add_routes([web.get("/", self._gateway.handle), web.get("/resume", self._gateway.handle)])
        app.router.add_route("*", "/api/v10/{tail:.*}", self._no_route)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0,
                                     access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("discord emulator listening on %s", self.api_base)
        return self

    async def _no_route(self, request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    async def close(self) -> None:
        if self._restore is not None:
            self._restore()
            self._restore = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def point_discord_py(self) -> None:
        """``point_discord_py_at`` this emulator; undone automatically by ``close()``."""
        if self._restore is None:
            self._restore = point_discord_py_at(self.api_base, self.gateway_url)

    # -- addresses and identities ----------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """What discord.py's ``Route.BASE`` must be."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """What ``DiscordWebSocket.DEFAULT_GATEWAY`` must be (as a yarl.URL)."""
        return f"ws://{self.host}:{self.port}/"

    @property
    def application_id(self) -> int:
        return self._world.application_id

    @property
    def bot_user_id(self) -> int:
        return self._world.bot_user.id

    @property
    def bot_user(self) -> User:
        return self._world.bot_user

    @property
    def interaction_window(self) -> float:
        """Seconds after dispatch in which the bot must acknowledge (Discord: 3)."""
        return self._rest.settings.interaction_window

    @interaction_window.setter
    def interaction_window(self, seconds: float) -> None:
        self._rest.settings.interaction_window = seconds

    @property
    def honour_nonce(self) -> bool:
        """False: ``enforce_nonce`` is ignored, as after Discord's few-minute nonce window."""
        return self._rest.honour_nonce

    @honour_nonce.setter
    def honour_nonce(self, value: bool) -> None:
        self._rest.honour_nonce = value

    @property
    def post_delay(self) -> float:
        """Seconds a message create (channel or webhook) waits after posting before it answers."""
        return self._rest.post_delay

    @post_delay.setter
    def post_delay(self, value: float) -> None:
        self._rest.post_delay = value

    def drop_after_posting(self, count: int = 1) -> None:
        """The next ``count`` message creates are posted, then their connection is dropped unanswered."""
        self._rest.drop_after_post = count

    @property
    def message_rate(self) -> tuple[int, float]:
        """Per-channel message-send limit: (messages, per seconds); Discord: (5, 5.0)."""
        return self._rest.settings.message_rate

    @message_rate.setter
    def message_rate(self, rate: tuple[int, float]) -> None:
        self._rest.settings.message_rate = rate
        self._rest.limiter.reset()

    @property
    def global_rate(self) -> tuple[int, float] | None:
        """The bot token's global limit over every bucket: (requests, per seconds); Discord: (50, 1.0)."""
        return self._rest.settings.global_rate

    @global_rate.setter
    def global_rate(self, rate: tuple[int, float] | None) -> None:
        self._rest.settings.global_rate = rate
        self._rest.limiter.reset()

    @property
    def bot_permissions(self) -> int:
        """Permissions of the bot's role in guilds added from now on."""
        return self._world.bot_permissions

    @bot_permissions.setter
    def bot_permissions(self, value: int) -> None:
        self._world.bot_permissions = value

    # -- building the world -------------------------------------------------------------------
    def add_user(self, name: str, *, bot: bool = False) -> User:
        return self._world.add_user(name, bot=bot)

    def add_guild(self, name: str = "Guild", *, owner_id: int | None = None,
                  everyone_permissions: int | None = None) -> Guild:
        """A guild with @everyone, the bot (as a member with its own role) and an owner member.

        Sent to a connected bot as GUILD_CREATE straight away; otherwise in its READY.
        """
        perms = self.everyone_permissions if everyone_permissions is None else everyone_permissions
        guild = self._world.add_guild(name, owner_id, perms)
        if self._gateway.live_sessions:
            self._background(self._gateway.guild_join(guild))
        return guild

    def add_role(self, guild_id: int, name: str, permissions: int = 0, *, mentionable: bool = False) -> Role:
        """A role; only a ``mentionable`` one pings when the bot lacks Mention All Roles (as on Discord)."""
        return self._world.add_role(guild_id, name, permissions, mentionable=mentionable)

    def add_member(self, guild_id: int, name: str | None = None, *, user_id: int | None = None,
                   permissions: int | None = None, roles: list[int] | None = None) -> Member:
        """A guild member: an existing user (``user_id``) or a new one called ``name``.

        ``permissions`` gives the member a role of its own with those bits (on top of
        @everyone); ``roles`` adds existing roles.
        """
        if user_id is None:
            if name is None:
                raise ValueError("add_member needs a name or a user_id")
            user = self._world.add_user(name)
        else:
            user = self._world.users[user_id]
        role_ids = list(roles or [])
        if permissions is not None:
            role_ids.append(self._world.add_role(guild_id, f"{user.name}-role", permissions).id)
        member = self._world.add_member(guild_id, user, role_ids)
        self._live("GUILD_MEMBER_ADD", lambda: member.payload() | {"guild_id": str(guild_id)})
        return member

    def add_channel(self, guild_id: int, name: str, *, topic: str | None = None) -> Channel:
        channel = self._world.add_channel(guild_id, name, topic)
        self._live("CHANNEL_CREATE", lambda: channel.payload(self._world))
        return channel

    def dm_channel(self, user_id: int) -> Channel:
        """The DM channel between the bot and a user (created on first use)."""
        return self._world.dm_channel(user_id)

    def add_webhook(self, channel_id: int, name: str = "paperboy-announcer") -> Webhook:
        """A plain incoming webhook; ``.url`` is Discord's form, ``.local_url`` the emulator's."""
        return self._world.add_webhook(channel_id, name, self.api_base)

    def guild(self, guild_id: int) -> Guild:
        return self._world.guild(guild_id)

    def channel(self, channel_id: int) -> Channel:
        return self._world.channel(channel_id)

    def _live(self, event: str, payload: Callable[[], dict[str, Any]]) -> None:
        if self._gateway.live_sessions:
            self._background(self._gateway.dispatch(event, payload()))

    def _background(self, coro: Any) -> None:
        # World-building calls are sync; their gateway events go out on the loop.
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- gateway ----------------------------------------------------------------------------------
    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Until a client has IDENTIFYed and been sent READY and every GUILD_CREATE."""
        await self._notifier.wait_until(self._gateway.connected, timeout,
                                        "a discord.py client to IDENTIFY (READY sent)")

    async def wait_resumed(self, count: int = 1, timeout: float = 10.0) -> None:
        """Until ``count`` RESUMEs have succeeded and a client is connected again."""
        await self._notifier.wait_until(
            lambda: self._gateway.resume_count >= count and self._gateway.connected(),
            timeout, f"{count} gateway RESUME(s)")

    async def drop_gateway(self, code: int | None = 4000) -> int:
        """Close the bot's websocket(s) (code None: cut TCP). discord.py RESUMEs; returns count."""
        return await self._gateway.drop(code)

    async def request_reconnect(self) -> None:
        """Send opcode 7 RECONNECT; discord.py closes and RESUMEs."""
        await self._gateway.send_op(RECONNECT, None)

    async def invalidate_session(self, resumable: bool = False) -> None:
        """Send opcode 9 INVALID_SESSION; with ``resumable=False`` the bot must IDENTIFY again.

        discord.py sleeps 5 s in ``Client.before_identify_hook`` before re-IDENTIFYing;
        override that hook in tests.
        """
        await self._gateway.invalidate(resumable)

    async def dispatch(self, event: str, data: dict[str, Any]) -> int:
        """Send any DISPATCH event to the bot's session(s); returns how many got (or queued) it."""
        return await self._gateway.dispatch(event, data)

    @property
    def identify_count(self) -> int:
        return self._gateway.identify_count

    @property
    def resume_count(self) -> int:
        return self._gateway.resume_count

    @property
    def heartbeat_count(self) -> int:
        return self._gateway.heartbeat_count

    @property
    def replayed_count(self) -> int:
        """Events re-sent on RESUME because the client missed them."""
        return self._gateway.replayed_count

    @property
    def gateway_received(self) -> list[dict[str, Any]]:
        """Every payload clients sent on the gateway (IDENTIFY, heartbeats, RESUME...)."""
        return list(self._gateway.received)

    @property
    def gateway_connections(self) -> list[dict[str, Any]]:
        """Per websocket: compress mode, whether it used resume_gateway_url, frame counts, payloads."""
        return [
            {"compress": c.compress, "resume_url": c.resume_url, "binary_frames": c.binary_frames,
             "text_frames": c.text_frames, "frames": list(c.frames), "closed": c.ws.closed}
            for c in self._gateway.connections
        ]

    def gateway_events(self) -> list[GatewayFrame]:
        return [f for c in self._gateway.connections for f in c.frames]

    # -- what Discord received -----------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every REST request, in order (path relative to the API base)."""
        return list(self._rest.requests)

    def requests_to(self, method: str, pattern: str) -> list[RecordedRequest]:
        """Requests whose method and path match (``{name}`` = one path segment, ``*`` = any)."""
        return [r for r in self._rest.requests
                if method in ("*", r.method) and path_matches(pattern, r.path)]

    @property
    def unhandled(self) -> list[RecordedRequest]:
        """Requests to routes the emulator does not implement (answered 404/405)."""
        return list(self._rest.unhandled)

    def messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages visible in a channel, oldest first, as they are now (edits applied)."""
        return self._world.channel_history(channel_id)

    def message_count(self, channel_id: int) -> int:
        return len(self._world.channel_history(channel_id))

    @property
    def message_counts(self) -> dict[int, int]:
        return {cid: self.message_count(cid) for cid in self._world.channel_messages}

    def message(self, message_id: int) -> dict[str, Any] | None:
        """Any message by id, ephemeral ones included."""
        found = self._world.messages_by_id.get(message_id)
        return copy.deepcopy(found)

    def allowed_mentions(self, message_id: int) -> Any:
        """The ``allowed_mentions`` the bot sent with a message (None if it sent none)."""
        return self._rest.allowed_mentions.get(message_id)

    async def wait_messages(self, channel_id: int, count: int = 1, timeout: float = 5.0
                            ) -> list[dict[str, Any]]:
        await self._notifier.wait_until(lambda: self.message_count(channel_id) >= count, timeout,
                                        f"{count} message(s) in channel {channel_id}")
        return self.messages(channel_id)

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Synced commands: global ones, or a guild's with ``guild_id``."""
        store = (self._world.global_commands if guild_id is None
                 else self._world.guild_commands.get(guild_id, {}))
        return copy.deepcopy(list(store.values()))

    async def wait_commands(self, guild_id: int | None = None, timeout: float = 5.0
                            ) -> list[dict[str, Any]]:
        await self._notifier.wait_until(lambda: self.commands(guild_id), timeout,
                                        "a command sync (bulk overwrite)")
        return self.commands(guild_id)

    async def user_message(self, channel_id: int, user_id: int, content: str) -> dict[str, Any]:
        """A user posts in a channel: stored and sent to the bot as MESSAGE_CREATE."""
        message = new_message(self._world, channel_id=channel_id,
                              author=self._world.users[user_id].payload(), body={"content": content})
        self._world.store_message(message)
        await self._rest.announce("MESSAGE_CREATE", message)
        return copy.deepcopy(message)

    # -- faults ----------------------------------------------------------------------------------
    def fail_next(self, method: str, pattern: str, *, status: int = 500, count: int = 1,
                  retry_after: float = 0.05, code: int = 0, message: str | None = None,
                  via: bool = True) -> Fault:
        """Answer the next ``count`` matching requests with ``status`` (429 carries Via and
        ``retry_after`` so discord.py retries; ``via=False`` looks like a Cloudflare ban)."""
        return self._rest.faults.add(Fault(method.upper(), pattern, status, count, retry_after,
                                           code, message, via))

    def refuse_channel(self, channel_id: int, status: int = 403) -> None:
        """Channel routes answer 403 code 50013 (Missing Permissions) or 404 code 10003."""
        if status not in (403, 404):
            raise ValueError("refuse_channel status must be 403 or 404")
        self._rest.refused[channel_id] = status

    def allow_channel(self, channel_id: int) -> None:
        self._rest.refused.pop(channel_id, None)

    def reset_rate_limits(self) -> None:
        self._rest.limiter.reset()


__all__ = ["DiscordEmulator", "InteractionFailed", "InteractionResult", "point_discord_py_at"]
