"""Driving the bot as a Discord user would: slash commands, autocomplete, buttons, selects."""

# Waiting helpers take a timeout so a hang fails with a message naming what was awaited.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Mapping
from typing import Any

from ._gateway import Gateway
from ._interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    InteractionResult,
    build_options,
    find_component,
    interaction_payload,
)
from ._rest import Rest
from ._state import DM, Channel, Notifier, World

log = logging.getLogger(__name__)


def _message_id_of(message: Any) -> int:
    if isinstance(message, InteractionResult):
        found = message.message
        if found is None:
            raise ValueError(f"interaction {message.id} has no response message")
        return int(found["id"])
    if isinstance(message, Mapping):
        return int(message["id"])
    return int(getattr(message, "id", message))


class InteractionDriver:
    """The user-side half of DiscordEmulator (mixed in; uses its world, gateway and REST state)."""

    _world: World
    _gateway: Gateway
    _rest: Rest
    _notifier: Notifier

    def _find_command(self, name: str, channel: Channel, ctype: int = 1) -> dict[str, Any]:
        key = f"{ctype}:{name}"
        if channel.guild_id is not None:
            guild_cmd = self._world.guild_commands.get(channel.guild_id, {}).get(key)
            if guild_cmd is not None:
                return guild_cmd
        cmd = self._world.global_commands.get(key)
        if cmd is None:
            where = "DMs" if channel.guild_id is None else f"guild {channel.guild_id}"
            raise LookupError(f"no command /{name} registered for {where}; synced: "
                              f"{self._synced_names(channel.guild_id)}")
        if channel.guild_id is None and (
            cmd.get("dm_permission") is False
            or (cmd.get("contexts") is not None and 1 not in cmd["contexts"])
        ):
            raise LookupError(f"/{name} is not usable in DMs")
        return cmd

    def _synced_names(self, guild_id: int | None) -> list[str]:
        names = [c["name"] for c in self._world.global_commands.values()]
        if guild_id is not None:
            names += [c["name"] for c in self._world.guild_commands.get(guild_id, {}).values()]
        return names

    def _default_user(self, channel: Channel) -> int:
        if channel.type == DM:
            return channel.recipient_ids[0]
        return self._world.guild(channel.guild_id or 0).owner_id

    async def _send_interaction(self, payload: dict[str, Any], *, wait: bool, until: str,
                                timeout: float) -> InteractionResult:
        rec = InteractionResult(self._world, self._notifier, payload,
                                asyncio.get_running_loop().time())
        self._rest.interactions[rec.id] = rec
        self._rest.by_token[rec.token] = rec
        if not await self._gateway.dispatch("INTERACTION_CREATE", payload):
            raise RuntimeError("no bot session to send the interaction to (await wait_ready())")
        if wait:
            await rec.wait(timeout, until=until)
        return rec

    async def slash(self, command: str, *path: str, options: Mapping[str, Any] | None = None,
                    channel_id: int, user_id: int | None = None, wait: bool = True,
                    until: str = "response", timeout: float = 5.0, locale: str = "en-US"
                    ) -> InteractionResult:
        """A user runs ``/command [group] [sub] options...`` in a channel (guild or DM).

        Options are checked and typed against the synced command (users, roles and
        channels may be given as ids or objects with ``.id``; they are resolved).
        With ``wait`` it returns once the bot answered (``until="callback"``) or its
        answer is final (``"response"``: a deferral filled in by an edit or followup).
        """
        channel = self._world.channel(channel_id)
        cmd = self._find_command(command, channel)
        opts, resolved = build_options(self._world, cmd, path, options or {}, None,
                                       channel.guild_id)
        data: dict[str, Any] = {"id": cmd["id"], "name": cmd["name"], "type": 1, "options": opts}
        if resolved:
            data["resolved"] = resolved
        if "guild_id" in cmd:
            data["guild_id"] = cmd["guild_id"]
        payload = interaction_payload(self._world, kind=APPLICATION_COMMAND, data=data,
                                      channel_id=channel_id,
                                      user_id=user_id or self._default_user(channel), locale=locale)
        return await self._send_interaction(payload, wait=wait, until=until, timeout=timeout)

    async def autocomplete(self, command: str, *path: str, options: Mapping[str, Any],
                           focused: str, channel_id: int, user_id: int | None = None,
                           timeout: float = 5.0) -> list[dict[str, Any]]:
        """A user types into option ``focused``; returns the choices the bot offered."""
        rec = await self.autocomplete_interaction(command, *path, options=options, focused=focused,
                                                  channel_id=channel_id, user_id=user_id,
                                                  timeout=timeout)
        return rec.choices or []

    async def autocomplete_interaction(self, command: str, *path: str,
                                       options: Mapping[str, Any], focused: str, channel_id: int,
                                       user_id: int | None = None, wait: bool = True,
                                       timeout: float = 5.0) -> InteractionResult:
        channel = self._world.channel(channel_id)
        cmd = self._find_command(command, channel)
        opts, _ = build_options(self._world, cmd, path, options, focused, channel.guild_id)
        data: dict[str, Any] = {"id": cmd["id"], "name": cmd["name"], "type": 1, "options": opts}
        if "guild_id" in cmd:
            data["guild_id"] = cmd["guild_id"]
        payload = interaction_payload(self._world, kind=AUTOCOMPLETE, data=data,
                                      channel_id=channel_id,
                                      user_id=user_id or self._default_user(channel))
        return await self._send_interaction(payload, wait=wait, until="callback", timeout=timeout)

    async def press_button(self, message: Any, custom_id: str, *, user_id: int | None = None,
                           wait: bool = True, until: str = "response", timeout: float = 5.0
                           ) -> InteractionResult:
        """A user clicks the button ``custom_id`` on ``message`` (a payload, id or result)."""
        return await self._component(message, custom_id, None, user_id, wait, until, timeout)

    async def select(self, message: Any, custom_id: str, values: list[str], *,
                     user_id: int | None = None, wait: bool = True, until: str = "response",
                     timeout: float = 5.0) -> InteractionResult:
        """A user picks ``values`` in the select menu ``custom_id`` on ``message``."""
        return await self._component(message, custom_id, values, user_id, wait, until, timeout)

    async def _component(self, message: Any, custom_id: str, values: list[str] | None,
                         user_id: int | None, wait: bool, until: str, timeout: float
                         ) -> InteractionResult:
        mid = _message_id_of(message)
        stored = self._world.messages_by_id.get(mid)
        if stored is None or mid in self._world.deleted_messages:
            raise LookupError(f"no message {mid} in the emulator")
        component = find_component(stored, custom_id)
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} on message {mid} is disabled")
        ctype = component["type"]
        if (values is None) != (ctype == 2):
            raise ValueError(f"component {custom_id!r} is of type {ctype}")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": ctype}
        if values is not None:
            data["values"] = list(values)
        channel = self._world.channel(int(stored["channel_id"]))
        if user_id is None and isinstance(message, InteractionResult):
            payload_user = message.payload.get("member", {}).get("user") or message.payload["user"]
            user_id = int(payload_user["id"])
        payload = interaction_payload(self._world, kind=MESSAGE_COMPONENT, data=data,
                                      channel_id=channel.id,
                                      user_id=user_id or self._default_user(channel),
                                      message=copy.deepcopy(stored))
        return await self._send_interaction(payload, wait=wait, until=until, timeout=timeout)

    def interactions(self) -> list[InteractionResult]:
        return list(self._rest.interactions.values())
