"""/paper search|show|latest|random: finding papers."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import answers, citing
from bot.render import render
from bot.send import message_kwargs

if TYPE_CHECKING:
    from bot.client import PaperboyBot

log = logging.getLogger(__name__)


class PaperCog(commands.GroupCog, group_name="paper", group_description="Find papers in the library"):
    def __init__(self, bot: PaperboyBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="search", description="Search titles and abstracts; acronyms such as SSL expand")
    @app_commands.describe(query="Words to look for, e.g. domain adaptation")
    async def search(self, interaction: discord.Interaction, query: str) -> None:
        await self.bot.reply(interaction, lambda: answers.paper_search(self.bot.db, query, base_url=self.bot.base_url))

    @app_commands.command(name="show", description="One paper in full: authors, date, abstract, links")
    @app_commands.describe(key="The paper's key or arXiv id; start typing a title to pick one")
    async def show(self, interaction: discord.Interaction, key: str) -> None:
        await self.bot.reply(interaction, lambda: answers.paper_show(self.bot.db, key, base_url=self.bot.base_url))

    @show.autocomplete("key")
    async def show_key(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self.bot.autocomplete(lambda: answers.paper_choices(self.bot.db, current))

    @app_commands.command(name="latest", description="The newest papers in the library")
    @app_commands.describe(count="How many (1-50, default 5)")
    async def latest(
        self, interaction: discord.Interaction, count: app_commands.Range[int, 1, answers.MAX_RESULTS] = 5
    ) -> None:
        await self.bot.reply(interaction, lambda: answers.paper_latest(self.bot.db, count, base_url=self.bot.base_url))

    @app_commands.command(name="random", description="A random paper from the library")
    async def random(self, interaction: discord.Interaction) -> None:
        await self.bot.reply(interaction, lambda: answers.paper_random(self.bot.db, base_url=self.bot.base_url))

    @app_commands.command(name="cite", description="BibTeX for papers; a .bib file when it is long")
    @app_commands.describe(key="The paper's key or arXiv id; several separated by spaces")
    async def cite(self, interaction: discord.Interaction, key: str) -> None:
        result = await citing.paper_cite(self.bot.db, key, base_url=self.bot.base_url)
        kwargs = message_kwargs(render(result.answer))
        if result.data is not None and result.filename:
            kwargs["file"] = discord.File(io.BytesIO(result.data), filename=result.filename)
        await interaction.response.send_message(**kwargs)

    @cite.autocomplete("key")
    async def cite_key(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self.bot.autocomplete(lambda: answers.paper_choices(self.bot.db, current))
