"""Interactions: building INTERACTION_CREATE payloads and tracking what the bot answered.

An ``InteractionResult`` follows one interaction from dispatch through its
callback, deferred completion, edits and followups, so a test can assert on
exactly what a Discord user would see.
"""

# Waiting helpers take a timeout so a hang fails with a message naming what was awaited.
# ruff: noqa: ASYNC109

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._messages import EPHEMERAL, LOADING
from ._state import ALL_PERMISSIONS, DM, Notifier, World, new_token

log = logging.getLogger(__name__)

# Interaction types
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
# Callback types
CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE = 4, 5, 6
UPDATE_MESSAGE, AUTOCOMPLETE_RESULT, MODAL = 7, 8, 9

_VALID_CALLBACKS = {
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE,
                        UPDATE_MESSAGE, MODAL},
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE},
}


class InteractionFailed(AssertionError):
    """Discord refused the bot's answer to an interaction (e.g. 400 50035) before it completed."""


@dataclass
class Rejection:
    """A request about an interaction that the emulator answered with an error."""

    method: str
    path: str
    status: int
    body: dict[str, Any]


class InteractionResult:
    """What became of one dispatched interaction. Message fields are live wire payloads."""

    def __init__(self, world: World, notifier: Notifier, payload: dict[str, Any],
                 sent_at: float) -> None:
        self._world = world
        self._notifier = notifier
        self.payload = payload
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.kind: int = payload["type"]
        self.sent_at = sent_at
        self.callbacks: list[dict[str, Any]] = []
        self.rejections: list[Rejection] = []
        self.edits: list[dict[str, Any]] = []
        self._followup_ids: list[int] = []
        self.original_id: int | None = None
        self._edits_at_ack = 0
        self.component_message_id: int | None = (
            int(payload["message"]["id"]) if payload.get("message") else None
        )

    # -- what the bot answered -------------------------------------------------
    @property
    def type(self) -> int | None:
        """The callback type of the accepted acknowledgement (4, 5, 6, 7, 8 or 9)."""
        return self.callbacks[0]["type"] if self.callbacks else None

    @property
    def data(self) -> dict[str, Any] | None:
        """The accepted callback's ``data`` (message payload, choices or modal)."""
        return self.callbacks[0].get("data") if self.callbacks else None

    @property
    def message(self) -> dict[str, Any] | None:
        """The message the response lives on, as it is now (after edits).

        For a command: the original response. For a component press answered with
        6 or 7: the message that holds the component. None for 8 and 9.
        """
        mid = self.original_id
        if mid is None and self.type in (DEFERRED_UPDATE, UPDATE_MESSAGE):
            mid = self.component_message_id
        if mid is None:
            return None
        return copy.deepcopy(self._world.messages_by_id.get(mid))

    original = message

    @property
    def followups(self) -> list[dict[str, Any]]:
        """Messages the bot sent through the followup webhook, in order (current state)."""
        return [copy.deepcopy(self._world.messages_by_id[m]) for m in self._followup_ids]

    @property
    def content(self) -> str | None:
        msg = self.message
        return None if msg is None else msg["content"]

    @property
    def embeds(self) -> list[dict[str, Any]]:
        msg = self.message
        return [] if msg is None else msg["embeds"]

    @property
    def components(self) -> list[dict[str, Any]]:
        msg = self.message
        return [] if msg is None else msg["components"]

    @property
    def ephemeral(self) -> bool:
        msg = self.message
        if msg is not None:
            return bool(msg["flags"] & EPHEMERAL)
        data = self.data or {}
        return bool(int(data.get("flags") or 0) & EPHEMERAL)

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        """Autocomplete choices (callback type 8)."""
        if self.type != AUTOCOMPLETE_RESULT:
            return None
        return list((self.data or {}).get("choices") or [])

    @property
    def modal(self) -> dict[str, Any] | None:
        return self.data if self.type == MODAL else None

    @property
    def complete(self) -> bool:
        """True once the user sees a final answer (a deferred one has been filled in)."""
        t = self.type
        if t is None:
            return False
        if t == DEFERRED_CHANNEL_MESSAGE:
            msg = self._world.messages_by_id.get(self.original_id or 0)
            return msg is not None and not msg["flags"] & LOADING
        if t == DEFERRED_UPDATE:
            # Filled in by an @original edit, a followup, or a plain edit of the message.
            edits_now = self._world.edit_counts.get(self.component_message_id or 0, 0)
            return bool(self.edits or self._followup_ids or edits_now > self._edits_at_ack)
        return True

    # -- waiting ---------------------------------------------------------------
    async def wait_for(self, predicate: Callable[[InteractionResult], Any], timeout: float = 5.0,
                       what: str = "a condition on the interaction") -> Any:
        return await self._notifier.wait_until(lambda: predicate(self), timeout, what)

    async def wait(self, timeout: float = 5.0, *, until: str = "response") -> InteractionResult:
        """Wait for the answer: ``until="callback"`` (any ack) or ``"response"`` (deferred filled in).

        Raises InteractionFailed as soon as Discord refuses an answer before completion.
        """

        def done() -> bool:
            reached = self.type is not None if until == "callback" else self.complete
            if reached:
                return True
            if self.rejections:
                rej = self.rejections[-1]
                raise InteractionFailed(
                    f"discord emulator refused {rej.method} {rej.path}: {rej.status} {rej.body}"
                )
            return False

        try:
            await self._notifier.wait_until(done, timeout, f"the bot to answer interaction {self.id}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; state: {self!r}") from None
        return self

    async def wait_followups(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        await self._notifier.wait_until(lambda: len(self._followup_ids) >= count, timeout,
                                        f"{count} followup(s) on interaction {self.id}")
        return self.followups

    def __repr__(self) -> str:
        return (f"<InteractionResult id={self.id} kind={self.kind} type={self.type} "
                f"complete={self.complete} followups={len(self._followup_ids)} "
                f"edits={len(self.edits)} rejections={[(r.status, r.body) for r in self.rejections]}>")


# -- building payloads ---------------------------------------------------------
def _snowflake_of(value: Any) -> int:
    return int(getattr(value, "id", value))


def _convert(world: World, guild_id: int | None, opt: dict[str, Any], value: Any,
             resolved: dict[str, dict[str, Any]]) -> Any:
    t = opt["type"]
    name = opt["name"]
    if t == 3:
        return str(value)
    if t == 4:
        return int(value)
    if t == 10:
        return float(value)
    if t == 5:
        return bool(value)
    if t in (6, 9) and _snowflake_of(value) in world.users:
        uid = _snowflake_of(value)
        resolved.setdefault("users", {})[str(uid)] = world.users[uid].payload()
        guild = world.guilds.get(guild_id) if guild_id else None
        if guild is not None and uid in guild.members:
            member = guild.members[uid].payload(with_user=False)
            member["permissions"] = str(guild.permissions_of(uid))
            resolved.setdefault("members", {})[str(uid)] = member
        return str(uid)
    if t in (8, 9) and guild_id is not None:
        rid = _snowflake_of(value)
        guild = world.guild(guild_id)
        if rid in guild.roles:
            resolved.setdefault("roles", {})[str(rid)] = guild.roles[rid].payload()
            return str(rid)
    if t == 7:
        cid = _snowflake_of(value)
        ch = world.channel(cid)
        data = {"id": str(cid), "name": ch.name, "type": ch.type, "permissions": str(ALL_PERMISSIONS)}
        if ch.guild_id is not None:
            data["guild_id"] = str(ch.guild_id)
        resolved.setdefault("channels", {})[str(cid)] = data
        return str(cid)
    raise ValueError(f"option {name!r} (type {t}): cannot send value {value!r}")


def build_options(world: World, command: dict[str, Any], path: Sequence[str],
                  values: Mapping[str, Any], focused: str | None, guild_id: int | None
                  ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Nest subcommand options and typed values as Discord's client would send them."""
    resolved: dict[str, dict[str, Any]] = {}
    schema = command.get("options") or []
    where = f"/{command['name']}"
    chain: list[dict[str, Any]] = []
    for part in path:
        sub = next((o for o in schema if o["name"] == part and o["type"] in (1, 2)), None)
        if sub is None:
            names = [o["name"] for o in schema if o["type"] in (1, 2)]
            raise ValueError(f"{where} has no subcommand {part!r} (has {names})")
        chain.append(sub)
        schema = sub.get("options") or []
        where += f" {part}"
    if any(o["type"] in (1, 2) for o in schema):
        raise ValueError(f"{where} needs a subcommand: {[o['name'] for o in schema]}")
    leaf: list[dict[str, Any]] = []
    for name, value in values.items():
        opt = next((o for o in schema if o["name"] == name), None)
        if opt is None:
            raise ValueError(f"{where} has no option {name!r} (has {[o['name'] for o in schema]})")
        if name == focused:
            leaf.append({"name": name, "type": opt["type"], "value": str(value), "focused": True})
            continue
        converted = _convert(world, guild_id, opt, value, resolved)
        choices = opt.get("choices")
        if choices and converted not in [c["value"] for c in choices]:
            raise ValueError(f"{where} option {name!r} only takes {[c['value'] for c in choices]}")
        leaf.append({"name": name, "type": opt["type"], "value": converted})
    if focused is None:
        missing = [o["name"] for o in schema if o.get("required") and o["name"] not in values]
        if missing:
            raise ValueError(f"{where} is missing required option(s) {missing}")
    elif focused not in values:
        raise ValueError(f"focused option {focused!r} needs a value in options")
    options = leaf
    for sub in reversed(chain):
        options = [{"name": sub["name"], "type": sub["type"], "options": options}]
    return options, resolved


def interaction_payload(world: World, *, kind: int, data: dict[str, Any], channel_id: int,
                        user_id: int, message: dict[str, Any] | None = None,
                        locale: str = "en-US") -> dict[str, Any]:
    """An INTERACTION_CREATE body for a user acting in a guild channel or a DM."""
    channel = world.channel(channel_id)
    if user_id not in world.users:
        raise ValueError(f"unknown user {user_id}")
    payload: dict[str, Any] = {
        "id": str(world.ids.next()),
        "application_id": str(world.application_id),
        "type": kind,
        "data": data,
        "channel_id": str(channel_id),
        "token": new_token(72),
        "version": 1,
        "locale": locale,
        "entitlements": [],
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    chan = channel.payload(world)
    if channel.type == DM:
        if channel.recipient_ids != [user_id]:
            raise ValueError(f"user {user_id} is not the recipient of DM channel {channel_id}")
        payload["user"] = world.users[user_id].payload()
        payload["context"] = 1
        payload["authorizing_integration_owners"] = {"0": str(user_id)}
        payload["app_permissions"] = str(world.bot_permissions)
    else:
        guild = world.guild(channel.guild_id or 0)
        member = guild.members.get(user_id)
        if member is None:
            raise ValueError(f"user {user_id} is not a member of guild {guild.id}")
        perms = guild.permissions_of(user_id)
        payload["guild_id"] = str(guild.id)
        payload["guild"] = {"id": str(guild.id), "locale": "en-US", "features": []}
        payload["guild_locale"] = "en-US"
        payload["member"] = member.payload() | {"permissions": str(perms)}
        payload["context"] = 0
        payload["authorizing_integration_owners"] = {"0": str(guild.id)}
        payload["app_permissions"] = str(guild.permissions_of(world.bot_user.id))
        chan["permissions"] = str(perms)
    payload["channel"] = chan
    if message is not None:
        payload["message"] = message
    return payload


def find_component(message: dict[str, Any], custom_id: str) -> dict[str, Any]:
    """The component with ``custom_id`` on a message (searching nested layouts)."""

    def walk(items: list[dict[str, Any]]) -> dict[str, Any] | None:
        for item in items:
            if item.get("custom_id") == custom_id:
                return item
            for key in ("components", "accessory", "component"):
                child = item.get(key)
                if isinstance(child, dict):
                    child = [child]
                if isinstance(child, list):
                    found = walk(child)
                    if found is not None:
                        return found
        return None

    found = walk(message.get("components") or [])
    if found is None:
        raise ValueError(f"message {message.get('id')} has no component with custom_id {custom_id!r}")
    return found


def valid_callback(kind: int, callback_type: int) -> bool:
    return callback_type in _VALID_CALLBACKS.get(kind, set())

