"""The one app-command error handler: domain errors become ephemeral sentences; the rest is logged."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from storage.errors import PaperboyError

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong on our side while answering; it has been logged. Try again in a minute."


def sentence_for(error: app_commands.AppCommandError) -> str:
    """What to tell the user about ``error`` (a PaperboyError says it itself)."""
    original = getattr(error, "original", error)
    if isinstance(original, PaperboyError):
        return str(original)
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works only in a server channel, not in direct messages."
    if isinstance(error, app_commands.MissingPermissions):
        return "You need the " + ", ".join(p.replace("_", " ").title() for p in error.missing_permissions) + \
            " permission for this command. Ask a server admin."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.TransformerError):
        return f"{error.value!r} is not a valid {error.type.name.lower()} here; pick one from the list."
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot run this command here."
    return UNEXPECTED


async def on_app_command_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    sentence = sentence_for(error)
    if sentence == UNEXPECTED:
        name = interaction.command.qualified_name if interaction.command else "?"
        log.error("/%s failed", name, exc_info=error)
    else:
        log.info("refused /%s: %s", interaction.command.qualified_name if interaction.command else "?", sentence)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(sentence, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
        else:
            await interaction.response.send_message(
                sentence, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )
    except discord.HTTPException as exc:
        log.warning("could not tell the user about an error: %s", exc)
