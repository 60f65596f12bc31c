"""The paperboy Discord client: a commands.Bot holding the store, its cogs and the reply helper."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.model import Answer
from bot.render import render
from bot.send import is_ephemeral, message_kwargs
from bot.settings import BotSettings
from bot.views import Pager
from storage.store import Store

log = logging.getLogger(__name__)

# Discord drops an interaction not acknowledged within 3 s; answer directly until
# this much of the window has gone, then defer and follow up.
DEFER_AFTER = 2.0


class _NoVoiceWarning(logging.Filter):
    """paperboy never uses voice: drop discord.py's start-up warning about missing voice libraries."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "voice will NOT be supported" not in record.getMessage()


def _quiet_voice_warning() -> None:
    logger = logging.getLogger("discord.client")
    if not any(isinstance(f, _NoVoiceWarning) for f in logger.filters):
        logger.addFilter(_NoVoiceWarning())


class PaperboyBot(commands.Bot):
    """The bot. Everything it needs comes in through the constructor; nothing is global."""

    def __init__(
        self,
        *,
        store: Store | None,
        settings: BotSettings | None = None,
        session: aiohttp.ClientSession | None = None,
        base_url: str | None = None,
        view_timeout: float = 180.0,
        defer_after: float = DEFER_AFTER,
        sync_commands: bool | None = None,
        guild_ready_timeout: float = 2.0,
        metrics: Any | None = None,
    ) -> None:
        _quiet_voice_warning()
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=guild_ready_timeout,
        )
        self.store = store
        self.settings = settings or BotSettings()
        self.session = session
        self.base_url = base_url or self.settings.public_base_url
        self.view_timeout = view_timeout
        self.defer_after = defer_after
        self.sync_commands = self.settings.sync_commands if sync_commands is None else sync_commands
        self.synced: list[str] = []
        self.metrics = metrics  # paperboy.metrics.Metrics when the service passes one

    @property
    def db(self) -> Store:
        if self.store is None:
            raise RuntimeError("this bot was built without a store (only to list its commands)")
        return self.store

    async def setup_hook(self) -> None:
        from bot.cogs import add_cogs

        await add_cogs(self)
        if self.sync_commands:
            await self.sync_application_commands()

    async def sync_application_commands(self) -> None:
        """Guilds in [discord] guild_ids get the commands at once; otherwise a global sync."""
        try:
            if self.settings.guild_ids:
                for guild_id in self.settings.guild_ids:
                    guild = discord.Object(id=guild_id)
                    self.tree.copy_global_to(guild=guild)
                    await self.tree.sync(guild=guild)
                    self.synced.append(f"guild {guild_id}")
            else:
                await self.tree.sync()
                self.synced.append("global")
        except discord.HTTPException as exc:
            log.warning("command sync failed (%s); the previously synced commands stay", exc)

    # -- answering interactions ---------------------------------------------------

    async def reply(self, interaction: discord.Interaction, compute: Callable[[], Awaitable[Answer]]) -> None:
        """Compute an answer and send it; defer first if it is not ready before the window closes."""
        if self.metrics is None:
            await self._reply(interaction, compute)
            return
        name = interaction.command.qualified_name if interaction.command else "unknown"
        async with self.metrics.time_command(name):
            await self._reply(interaction, compute)

    async def _reply(self, interaction: discord.Interaction, compute: Callable[[], Awaitable[Answer]]) -> None:
        task = asyncio.ensure_future(compute())
        waited = (discord.utils.utcnow() - interaction.created_at).total_seconds()
        budget = max(0.0, self.defer_after - max(0.0, waited))
        done, _ = await asyncio.wait({task}, timeout=budget)
        if not done:
            await interaction.response.defer(thinking=True)
        try:
            answer = await task
        except BaseException:
            if not task.done():
                task.cancel()
            raise
        await self.send_answer(interaction, answer)

    async def send_answer(self, interaction: discord.Interaction, answer: Answer) -> None:
        payload = render(answer)
        kwargs: dict[str, Any] = message_kwargs(payload)
        view = None
        if len(answer.pages) > 1:
            view = Pager(answer, owner_id=interaction.user.id, owner_name=interaction.user.display_name,
                         timeout=self.view_timeout)
            view.origin = interaction
            kwargs["view"] = view
        if interaction.response.is_done():
            await interaction.followup.send(**kwargs, ephemeral=is_ephemeral(payload), wait=True)
        else:
            await interaction.response.send_message(**kwargs, ephemeral=is_ephemeral(payload))

    async def autocomplete(
        self, compute: Callable[[], Awaitable[list[tuple[str, Any]]]]
    ) -> list[discord.app_commands.Choice]:
        """Choices for an autocomplete, cut to Discord's limits; never raises (Discord shows none)."""
        from bot.limits import fit_choices

        try:
            raw = await asyncio.wait_for(compute(), timeout=2.0)
        except Exception:
            log.exception("autocomplete failed")
            return []
        return [discord.app_commands.Choice(name=c["name"], value=c["value"]) for c in fit_choices(raw)]
