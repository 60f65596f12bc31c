"""The emulated Discord world: users, guilds, channels, members, messages, webhooks, commands.

Everything here is plain data plus the wire payloads Discord would send for it
(API v10). The REST and gateway layers read and mutate one ``World``.
"""

# Waiting helpers take a timeout so a hang fails with a message naming what was awaited.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

DISCORD_EPOCH_MS = 1_420_070_400_000

# Channel types (Discord API v10).
GUILD_TEXT = 0
DM = 1

# What @everyone may do unless a test says otherwise: view channels, send
# messages, embed links, attach files, read history, add reactions, use
# application commands. Deliberately no moderation bits.
DEFAULT_EVERYONE_PERMISSIONS = (
    (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 6) | (1 << 31)
)
# The bot's own role: the everyone set plus manage messages and external emojis.
DEFAULT_BOT_PERMISSIONS = DEFAULT_EVERYONE_PERMISSIONS | (1 << 13) | (1 << 18)
ADMINISTRATOR = 1 << 3
MENTION_EVERYONE = 1 << 17  # "Mention @everyone, @here, and All Roles"
ALL_PERMISSIONS = (1 << 53) - 1


def iso(ts: float) -> str:
    """An ISO 8601 timestamp with offset, as Discord writes them."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


class Snowflakes:
    """Hands out increasing snowflake ids that encode their creation time like Discord's."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        candidate = ms << 22
        if candidate <= self._last:
            candidate = self._last + 1
        self._last = candidate
        return candidate


class Notifier:
    """Wakes every waiter whenever the world changes; waiters re-check their condition."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"discord emulator: timed out after {timeout:.1f}s waiting for {what}")
            event = self._event
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                continue


@dataclass
class User:
    id: int
    name: str
    bot: bool = False
    global_name: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
        }


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    mentionable: bool = False  # "Allow anyone to @mention this role"

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": False,
            "mentionable": self.mentionable,
            "flags": 0,
        }


@dataclass
class Channel:
    id: int
    name: str
    type: int = GUILD_TEXT
    guild_id: int | None = None
    position: int = 0
    topic: str | None = None
    recipient_ids: list[int] = field(default_factory=list)

    def payload(self, world: World) -> dict[str, Any]:
        data: dict[str, Any] = {"id": str(self.id), "type": self.type, "flags": 0}
        if self.guild_id is not None:
            data.update(
                guild_id=str(self.guild_id),
                name=self.name,
                position=self.position,
                permission_overwrites=[],
                topic=self.topic,
                nsfw=False,
                parent_id=None,
                rate_limit_per_user=0,
                last_message_id=None,
            )
        else:
            data.update(
                recipients=[world.users[u].payload() for u in self.recipient_ids],
                last_message_id=None,
            )
        return data


@dataclass
class Member:
    guild_id: int
    user: User
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: float = field(default_factory=time.time)

    @property
    def id(self) -> int:
        return self.user.id

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.role_ids],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)
    joined_at: float = field(default_factory=time.time)

    def permissions_of(self, user_id: int) -> int:
        """The member's guild-level permissions (roles only; no channel overwrites)."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members.get(user_id)
        perms = self.roles[self.id].permissions
        if member is not None:
            for role_id in member.role_ids:
                perms |= self.roles[role_id].permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms


@dataclass
class Webhook:
    """A plain (incoming) channel webhook, usable without a bot connection."""

    id: int
    token: str
    channel_id: int
    guild_id: int | None
    name: str
    api_base: str

    @property
    def url(self) -> str:
        """The URL in the form Discord hands out (what ``discord.Webhook.from_url`` parses)."""
        return f"https://discord.com/api/webhooks/{self.id}/{self.token}"

    @property
    def local_url(self) -> str:
        """The same webhook on the emulator (for plain HTTP clients)."""
        return f"{self.api_base}/webhooks/{self.id}/{self.token}"

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": 1,
            "guild_id": None if self.guild_id is None else str(self.guild_id),
            "channel_id": str(self.channel_id),
            "name": self.name,
            "avatar": None,
            "token": self.token,
            "application_id": None,
            "user": None,
        }


@dataclass
class RecordedRequest:
    """One HTTP request as Discord would have received it."""

    method: str
    path: str  # relative to the API base, e.g. "/channels/123/messages"
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    time: float
    files: list[dict[str, Any]] = field(default_factory=list)
    status: int | None = None
    response: Any = None


def new_token(n: int = 48) -> str:
    """A URL-safe token long enough for discord.py's webhook URL pattern (60+ chars)."""
    return secrets.token_urlsafe(n)


class World:
    """All emulated state; ids are snowflakes, messages are stored as wire payloads."""

    def __init__(self, *, bot_name: str = "paperboy-test") -> None:
        self.ids = Snowflakes()
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.messages_by_id: dict[int, dict[str, Any]] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.deleted_messages: set[int] = set()
        self.edit_counts: dict[int, int] = {}
        self.nonces: dict[tuple[int, str], int] = {}
        self.global_commands: dict[str, dict[str, Any]] = {}
        self.guild_commands: dict[int, dict[str, dict[str, Any]]] = {}
        self.command_versions = 0
        self.application_id = self.ids.next()
        self.bot_user = self.add_user(bot_name, bot=True, user_id=self.application_id)
        self.app_owner = self.add_user("app-owner")
        self.bot_permissions = DEFAULT_BOT_PERMISSIONS

    # -- people and places -------------------------------------------------
    def add_user(self, name: str, *, bot: bool = False, user_id: int | None = None) -> User:
        user = User(id=user_id or self.ids.next(), name=name, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(self, name: str, owner_id: int | None, everyone_permissions: int) -> Guild:
        guild_id = self.ids.next()
        if owner_id is None:
            owner_id = self.add_user(f"{name}-owner").id
        elif owner_id not in self.users:
            self.add_user(f"user-{owner_id}", user_id=owner_id)
        guild = Guild(id=guild_id, name=name, owner_id=owner_id)
        guild.roles[guild_id] = Role(guild_id, guild_id, "@everyone", everyone_permissions)
        self.guilds[guild_id] = guild
        bot_role = self.add_role(guild_id, "paperboy", self.bot_permissions)
        self.add_member(guild_id, self.bot_user, [bot_role.id])
        self.add_member(guild_id, self.users[owner_id], [])
        return guild

    def add_role(self, guild_id: int, name: str, permissions: int, *, mentionable: bool = False) -> Role:
        guild = self.guild(guild_id)
        role = Role(self.ids.next(), guild_id, name, permissions, position=len(guild.roles), mentionable=mentionable)
        guild.roles[role.id] = role
        return role

    def add_member(self, guild_id: int, user: User, role_ids: list[int]) -> Member:
        guild = self.guild(guild_id)
        for role_id in role_ids:
            if role_id not in guild.roles:
                raise ValueError(f"role {role_id} is not in guild {guild_id}")
        member = Member(guild_id=guild_id, user=user, role_ids=list(role_ids))
        guild.members[user.id] = member
        return member

    def add_channel(self, guild_id: int, name: str, topic: str | None = None) -> Channel:
        guild = self.guild(guild_id)
        channel = Channel(self.ids.next(), name, GUILD_TEXT, guild_id, len(guild.channel_ids), topic)
        guild.channel_ids.append(channel.id)
        self.channels[channel.id] = channel
        self.channel_messages[channel.id] = []
        return channel

    def dm_channel(self, user_id: int) -> Channel:
        """The bot's DM channel with a user (created on first use, like Discord)."""
        if user_id not in self.users:
            raise KeyError(f"unknown user {user_id}")
        for channel in self.channels.values():
            if channel.type == DM and channel.recipient_ids == [user_id]:
                return channel
        channel = Channel(self.ids.next(), "", DM, None, recipient_ids=[user_id])
        self.channels[channel.id] = channel
        self.channel_messages[channel.id] = []
        return channel

    def add_webhook(self, channel_id: int, name: str, api_base: str) -> Webhook:
        channel = self.channel(channel_id)
        hook = Webhook(self.ids.next(), new_token(), channel_id, channel.guild_id, name, api_base)
        self.webhooks[hook.id] = hook
        return hook

    def guild(self, guild_id: int) -> Guild:
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise KeyError(f"discord emulator: no guild {guild_id}") from None

    def channel(self, channel_id: int) -> Channel:
        try:
            return self.channels[channel_id]
        except KeyError:
            raise KeyError(f"discord emulator: no channel {channel_id}") from None

    # -- payloads ----------------------------------------------------------
    def guild_create_payload(self, guild: Guild, *, all_members: bool = True) -> dict[str, Any]:
        """GUILD_CREATE data; without the GUILD_MEMBERS intent Discord sends only the bot member."""
        members = [m for m in guild.members.values() if all_members or m.id == self.bot_user.id]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": iso(guild.joined_at),
            "large": False,
            "unavailable": False,
            "member_count": len(guild.members),
            "members": [m.payload() for m in members],
            "channels": [self.channels[c].payload(self) for c in guild.channel_ids],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    # -- messages ----------------------------------------------------------
    def store_message(self, message: dict[str, Any], *, visible: bool = True) -> dict[str, Any]:
        """Keep a created message; ``visible`` is False for ephemeral ones (not in the channel)."""
        mid = int(message["id"])
        self.messages_by_id[mid] = message
        if visible:
            self.channel_messages.setdefault(int(message["channel_id"]), []).append(mid)
        return message

    def channel_history(self, channel_id: int) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(self.messages_by_id[m])
            for m in self.channel_messages.get(channel_id, [])
            if m not in self.deleted_messages
        ]

    def delete_message(self, message_id: int) -> None:
        self.deleted_messages.add(message_id)
