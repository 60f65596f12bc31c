"""/subscribe, /unsubscribe, /subscriptions: announcements in a server's channels (Manage Server only)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot import admin, answers
from bot.checks import can_ping, channel_id_of, may_manage, require_manage_guild
from storage.outbox import MAX_BACKFILL
from storage.subscriptions import FILTER_MAX_CHARS

if TYPE_CHECKING:
    from bot.client import PaperboyBot

log = logging.getLogger(__name__)

Target = Literal["all", "author", "topic", "category"]
Digest = Literal["off", "daily", "weekly"]  # storage.subscriptions.DIGESTS


class SubscriptionCog(commands.Cog):
    def __init__(self, bot: PaperboyBot) -> None:
        self.bot = bot

    @app_commands.command(name="subscribe", description="Announce new papers in a channel")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(
        target="Follow everything, one author, one topic or one category",
        value="The author, topic or category (pick one as you type); leave empty for all",
        channel="Where to post (default: this channel)",
        backfill="Also post this many recent matching papers now (0-10)",
        digest="off: a message per paper (default); daily or weekly: one digest",
        include='Only papers matching any of these: words, "quoted phrases" or /regex/',
        exclude='Never papers matching any of these: words, "quoted phrases" or /regex/',
        mention="A role to ping in each announcement (nobody is pinged without it)",
    )
    async def subscribe(
        self,
        interaction: discord.Interaction,
        target: Target,
        value: str | None = None,
        channel: discord.TextChannel | None = None,
        backfill: app_commands.Range[int, 0, MAX_BACKFILL] = 0,
        digest: Digest = "off",
        include: app_commands.Range[str, 1, FILTER_MAX_CHARS] | None = None,
        exclude: app_commands.Range[str, 1, FILTER_MAX_CHARS] | None = None,
        mention: discord.Role | None = None,
    ) -> None:
        guild_id = require_manage_guild(interaction, "/subscribe")
        channel_id = channel_id_of(interaction, channel)
        await self.bot.reply(interaction, lambda: admin.subscribe(
            self.bot.db, guild_id=guild_id, channel_id=channel_id, target=target, value=value,
            backfill=backfill, digest=digest, include=include, exclude=exclude,
            mention_role_id=mention.id if mention else None, mention_pingable=can_ping(interaction, mention),
            max_age=self.bot.settings.max_age,
        ))

    @subscribe.autocomplete("value")
    async def subscribe_value(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        target = getattr(interaction.namespace, "target", None)
        if target == "author":
            return await self.bot.autocomplete(lambda: answers.author_choices(self.bot.db, current))
        if target == "topic":
            async def learnt() -> list[tuple[str, str]]:
                # Only learnt topics: a subscription cannot follow free words.
                return [c for c in await answers.topic_choices(self.bot.db, current) if not c[0].startswith("Search")]
            return await self.bot.autocomplete(learnt)
        if target == "category":
            return await self.bot.autocomplete(lambda: admin.category_choices(self.bot.db, current))
        return []

    @app_commands.command(name="unsubscribe", description="Stop one of this server's announcement subscriptions")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(subscription="The subscription's number (see /subscriptions; pick one as you type)")
    async def unsubscribe(self, interaction: discord.Interaction, subscription: int) -> None:
        guild_id = require_manage_guild(interaction, "/unsubscribe")
        await self.bot.reply(interaction, lambda: admin.unsubscribe(
            self.bot.db, guild_id=guild_id, subscription_id=subscription))

    @unsubscribe.autocomplete("subscription")
    async def unsubscribe_id(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        if interaction.guild_id is None or not may_manage(interaction):
            return []  # members who may not run it see no subscriptions
        guild_id = interaction.guild_id
        return await self.bot.autocomplete(lambda: admin.subscription_choices(self.bot.db, guild_id, str(current)))

    @app_commands.command(name="subscriptions", description="This server's announcement subscriptions and their state")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(channel="Only this channel's subscriptions (default: the whole server)")
    async def subscriptions(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
        guild_id = require_manage_guild(interaction, "/subscriptions")
        channel_id = channel.id if channel is not None else None
        await self.bot.reply(interaction, lambda: admin.subscriptions(self.bot.db, guild_id=guild_id,
                                                                      channel_id=channel_id))
