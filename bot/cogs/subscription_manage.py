"""/subscription pause|resume|test|edit: manage one announcement subscription by its number (Manage Server)."""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import admin, subscription_admin
from bot.announce_format import announcement
from bot.checks import can_ping, may_manage, require_manage_guild
from bot.cogs.subscriptions import Digest
from bot.send import message_kwargs
from storage.errors import PermissionDeniedError
from storage.subscriptions import FILTER_MAX_CHARS

if TYPE_CHECKING:
    from bot.client import PaperboyBot

log = logging.getLogger(__name__)

NUMBER = "The subscription's number (see /subscriptions; pick one as you type)"


class SubscriptionManageCog(commands.Cog):
    group = app_commands.Group(
        name="subscription", description="Pause, resume, test or change one announcement subscription",
        guild_only=True, default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: PaperboyBot) -> None:
        self.bot = bot

    async def _numbers(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        if interaction.guild_id is None or not may_manage(interaction):
            return []  # members who may not run it see no subscriptions
        guild_id = interaction.guild_id
        return await self.bot.autocomplete(lambda: admin.subscription_choices(self.bot.db, guild_id, str(current)))

    @group.command(name="pause", description="Hold a subscription's announcements until you resume it")
    @app_commands.describe(subscription=NUMBER)
    async def pause(self, interaction: discord.Interaction, subscription: int) -> None:
        guild_id = require_manage_guild(interaction, "/subscription pause")
        await self.bot.reply(interaction, lambda: subscription_admin.pause(
            self.bot.db, guild_id=guild_id, subscription_id=subscription, user_id=interaction.user.id))

    @group.command(name="resume", description="Start a paused subscription and post what it held")
    @app_commands.describe(subscription=NUMBER)
    async def resume(self, interaction: discord.Interaction, subscription: int) -> None:
        guild_id = require_manage_guild(interaction, "/subscription resume")
        await self.bot.reply(interaction, lambda: subscription_admin.resume(
            self.bot.db, guild_id=guild_id, subscription_id=subscription, base_url=self.bot.base_url))

    @group.command(name="test", description="Post the newest matching paper as a test (nothing is recorded)")
    @app_commands.describe(subscription=NUMBER)
    async def test(self, interaction: discord.Interaction, subscription: int) -> None:
        guild_id = require_manage_guild(interaction, "/subscription test")

        async def post() -> subscription_admin.Answer:
            made = await subscription_admin.test_post(
                self.bot.db, guild_id=guild_id, subscription_id=subscription,
                announcement=partial(announcement, base_url=self.bot.base_url))
            try:
                await self.bot.get_partial_messageable(made.channel_id).send(**message_kwargs(made.payload))
            except discord.HTTPException as exc:
                raise PermissionDeniedError(
                    f"Could not post the test in <#{made.channel_id}> ({exc.status} {exc.text or ''}); give the "
                    "bot View Channel, Send Messages and Embed Links there."
                ) from exc
            return made.reply

        await self.bot.reply(interaction, post)

    @group.command(name="edit", description="Change a subscription's filters, role ping or digest")
    @app_commands.describe(
        subscription=NUMBER,
        include='Only papers matching any of these (words, "phrases", /regex/); - removes the filter',
        exclude='Never papers matching any of these (words, "phrases", /regex/); - removes the filter',
        mention="The role to ping in each announcement",
        clear_mention="Stop pinging a role",
        digest="off: a message per paper; daily or weekly: one digest",
    )
    async def edit(
        self,
        interaction: discord.Interaction,
        subscription: int,
        include: app_commands.Range[str, 1, FILTER_MAX_CHARS] | None = None,
        exclude: app_commands.Range[str, 1, FILTER_MAX_CHARS] | None = None,
        mention: discord.Role | None = None,
        clear_mention: bool = False,
        digest: Digest | None = None,
    ) -> None:
        guild_id = require_manage_guild(interaction, "/subscription edit")
        await self.bot.reply(interaction, lambda: subscription_admin.edit(
            self.bot.db, guild_id=guild_id, subscription_id=subscription, include=include, exclude=exclude,
            mention_role_id=mention.id if mention else None, clear_mention=clear_mention, digest=digest,
            mention_pingable=can_ping(interaction, mention),
        ))

    pause.autocomplete("subscription")(_numbers)
    resume.autocomplete("subscription")(_numbers)
    test.autocomplete("subscription")(_numbers)
    edit.autocomplete("subscription")(_numbers)
