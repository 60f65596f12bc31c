"""Building and editing message payloads the way Discord returns them."""

from __future__ import annotations

import copy
import logging
import re
import time
from typing import Any

from ._limits import DiscordError, check_message
from ._state import ADMINISTRATOR, MENTION_EVERYONE, World, iso

log = logging.getLogger(__name__)

EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15
# Flags a client may set when creating a message; Discord ignores the rest.
_CREATE_FLAGS = EPHEMERAL | SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


def _mentions(world: World, content: str, allowed: dict[str, Any] | None, guild_id: int | None
              ) -> tuple[list[dict[str, Any]], list[str], bool]:
    """Who a message pings, honouring ``allowed_mentions`` as Discord does."""
    parse = None if allowed is None else set(allowed.get("parse") or [])
    allowed_users = None if allowed is None else {int(u) for u in allowed.get("users") or []}
    allowed_roles = None if allowed is None else {int(r) for r in allowed.get("roles") or []}
    users: list[dict[str, Any]] = []
    for raw in dict.fromkeys(_USER_MENTION.findall(content)):
        uid = int(raw)
        ok = parse is None or "users" in parse or (allowed_users is not None and uid in allowed_users)
        if ok and uid in world.users:
            users.append(world.users[uid].payload())
    roles: list[str] = []
    guild = world.guilds.get(guild_id) if guild_id is not None else None
    for raw in dict.fromkeys(_ROLE_MENTION.findall(content)):
        rid = int(raw)
        ok = parse is None or "roles" in parse or (allowed_roles is not None and rid in allowed_roles)
        if ok and guild is not None and rid in guild.roles:
            roles.append(raw)
    everyone = ("@everyone" in content or "@here" in content) and (
        parse is None or "everyone" in parse
    )
    return users, roles, everyone


def _normalise_embeds(embeds: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for embed in embeds or []:
        embed = copy.deepcopy(embed)
        embed.setdefault("type", "rich")
        out.append(embed)
    return out


def new_message(
    world: World,
    *,
    channel_id: int,
    author: dict[str, Any],
    body: dict[str, Any],
    mtype: int = 0,
    flags: int | None = None,
    attachments: list[dict[str, Any]] | None = None,
    webhook_id: int | None = None,
    application_id: int | None = None,
    interaction_metadata: dict[str, Any] | None = None,
    validate_path: tuple[str | int, ...] = (),
    require_body: bool = True,
) -> dict[str, Any]:
    """A message object for ``body`` (validated against Discord's limits)."""
    check_message(body, path=validate_path, has_files=bool(attachments), require_body=require_body)
    channel = world.channel(channel_id)
    content = body.get("content") or ""
    if not isinstance(content, str):
        content = str(content)
    users, roles, everyone = _mentions(world, content, body.get("allowed_mentions"), channel.guild_id)
    if webhook_id is None and roles and channel.guild_id is not None:
        # A member (the bot included) pings a role that is not mentionable only with
        # Mention @everyone, @here, and All Roles; webhooks and interactions may ping any.
        guild = world.guilds[channel.guild_id]
        perms = guild.permissions_of(int(author["id"]))
        if not perms & (MENTION_EVERYONE | ADMINISTRATOR):
            roles = [r for r in roles if guild.roles[int(r)].mentionable]
    requested = int(body.get("flags") or 0) & _CREATE_FLAGS
    message: dict[str, Any] = {
        "id": str(world.ids.next()),
        "channel_id": str(channel_id),
        "type": mtype,
        "content": content,
        "author": author,
        "attachments": attachments or [],
        "embeds": _normalise_embeds(body.get("embeds")),
        "components": copy.deepcopy(body.get("components") or []),
        "mentions": users,
        "mention_roles": roles,
        "mention_everyone": everyone,
        "pinned": False,
        "tts": bool(body.get("tts", False)),
        "timestamp": iso(time.time()),
        "edited_timestamp": None,
        "flags": requested if flags is None else flags,
        "reactions": [],
    }
    if channel.guild_id is not None:
        message["guild_id"] = str(channel.guild_id)
    if body.get("nonce") is not None:
        message["nonce"] = body["nonce"]
    if body.get("message_reference"):
        message["message_reference"] = dict(body["message_reference"]) | {
            "channel_id": str(channel_id)
        }
    if webhook_id is not None:
        message["webhook_id"] = str(webhook_id)
    if application_id is not None:
        message["application_id"] = str(application_id)
    if interaction_metadata is not None:
        message["interaction_metadata"] = interaction_metadata
    if body.get("poll"):
        message["poll"] = body["poll"]
    return message


def edit_message(
    world: World,
    message: dict[str, Any],
    body: dict[str, Any],
    *,
    attachments: list[dict[str, Any]] | None = None,
    validate_path: tuple[str | int, ...] = (),
) -> dict[str, Any]:
    """Apply a PATCH body to a stored message in place (validated first); return it."""
    merged = copy.deepcopy(message)
    if "content" in body:
        merged["content"] = body["content"] or ""
    if "embeds" in body:
        merged["embeds"] = _normalise_embeds(body["embeds"])
    if "components" in body:
        merged["components"] = copy.deepcopy(body["components"] or [])
    if "attachments" in body:
        keep = {str(a.get("id")) for a in body["attachments"] or []}
        merged["attachments"] = [a for a in merged["attachments"] if a["id"] in keep]
    merged["attachments"] = merged["attachments"] + (attachments or [])
    if "flags" in body and body["flags"] is not None:
        # Only SUPPRESS_EMBEDS may be toggled on an existing message.
        merged["flags"] = (merged["flags"] & ~SUPPRESS_EMBEDS) | (int(body["flags"]) & SUPPRESS_EMBEDS)
    if merged["flags"] & LOADING:
        merged["flags"] &= ~LOADING
    check_message(merged, path=validate_path, has_files=bool(merged["attachments"]))
    if "allowed_mentions" in body or "content" in body:
        channel = world.channel(int(merged["channel_id"]))
        users, roles, everyone = _mentions(
            world, merged["content"], body.get("allowed_mentions"), channel.guild_id
        )
        merged.update(mentions=users, mention_roles=roles, mention_everyone=everyone)
    merged["edited_timestamp"] = iso(time.time())
    message.clear()
    message.update(merged)
    mid = int(message["id"])
    world.edit_counts[mid] = world.edit_counts.get(mid, 0) + 1
    return message


def attachments_from(files: list[dict[str, Any]], world: World, api_base: str,
                     channel_id: int) -> list[dict[str, Any]]:
    """Attachment objects for uploaded multipart files."""
    out = []
    for f in files:
        aid = world.ids.next()
        url = f"{api_base}/attachments/{channel_id}/{aid}/{f['filename']}"
        out.append({
            "id": str(aid),
            "filename": f["filename"],
            "size": f["size"],
            "url": url,
            "proxy_url": url,
            "content_type": f.get("content_type") or "application/octet-stream",
            "description": f.get("description"),
        })
    return out


def find_message(world: World, channel_id: int, message_id: int) -> dict[str, Any]:
    message = world.messages_by_id.get(message_id)
    if (
        message is None
        or message_id in world.deleted_messages
        or int(message["channel_id"]) != channel_id
    ):
        raise DiscordError(404, 10008, "Unknown Message")
    return message
