"""Checks run inside commands: a server owner can change who sees a command, so we look again."""

from __future__ import annotations

import discord

from storage.errors import PermissionDeniedError


def require_guild(interaction: discord.Interaction, command: str) -> int:
    """The guild id, or a clear refusal when the command is run in a DM."""
    if interaction.guild_id is None:
        raise PermissionDeniedError(
            f"{command} works only in a server: it sets up announcements for a server's channels. "
            "Run it in a channel of the server you manage."
        )
    return interaction.guild_id


def require_manage_guild(interaction: discord.Interaction, command: str) -> int:
    """The guild id, if the user holds Manage Server there (Administrator implies it)."""
    guild_id = require_guild(interaction, command)
    perms = interaction.permissions
    if not (perms.manage_guild or perms.administrator):
        raise PermissionDeniedError(
            f"{command} needs the Manage Server permission, which you do not have here. "
            "Ask a server admin to run it, or to give your role Manage Server."
        )
    return guild_id


def channel_id_of(interaction: discord.Interaction, channel: object | None) -> int:
    if channel is not None:
        return int(channel.id)  # type: ignore[attr-defined]
    if interaction.channel_id is None:  # pragma: no cover - Discord always sends it for commands
        raise PermissionDeniedError("Name the channel with channel: — this place has no channel id.")
    return interaction.channel_id


def may_manage(interaction: discord.Interaction) -> bool:
    """True when the user could run the admin commands here (autocomplete lists nothing otherwise)."""
    if interaction.guild_id is None:
        return False
    perms = interaction.permissions
    return bool(perms.manage_guild or perms.administrator)


def can_ping(interaction: discord.Interaction, role: discord.Role | None) -> bool:
    """Whether the bot's messages will really ping ``role`` (a mentionable role, or the bot may ping all)."""
    if role is None or role.mentionable:
        return True
    perms = interaction.app_permissions
    return bool(perms.mention_everyone or perms.administrator)
