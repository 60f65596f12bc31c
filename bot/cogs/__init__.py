"""Slash-command cogs, one per command group, and the function that installs them all."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.client import PaperboyBot


async def add_cogs(bot: PaperboyBot) -> None:
    from bot.cogs._errors import on_app_command_error
    from bot.cogs.authors import AuthorCog
    from bot.cogs.papers import PaperCog
    from bot.cogs.stats import StatsCog
    from bot.cogs.subscription_manage import SubscriptionManageCog
    from bot.cogs.subscriptions import SubscriptionCog
    from bot.cogs.topics import TopicCog
    from bot.cogs.why import WhyCog

    cogs = (PaperCog(bot), AuthorCog(bot), TopicCog(bot), StatsCog(bot), SubscriptionCog(bot),
            SubscriptionManageCog(bot), WhyCog(bot))
    for cog in cogs:
        await bot.add_cog(cog)
    bot.tree.on_error = on_app_command_error  # type: ignore[method-assign]
