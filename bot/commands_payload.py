"""The application-command JSON that command sync uploads, read from the real command tree."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import Any

log = logging.getLogger(__name__)


async def collect_commands() -> list[dict[str, Any]]:
    """Build the bot (no token, no network), install its cogs and serialise the tree as sync would."""
    from bot.client import PaperboyBot
    from bot.cogs import add_cogs

    bot = PaperboyBot(store=None, sync_commands=False)
    try:
        await add_cogs(bot)
        tree = bot.tree
        return [command.to_dict(tree) for command in tree._get_all_commands(guild=None)]
    finally:
        await bot.close()


def application_commands() -> list[dict[str, Any]]:
    """The bulk-overwrite body of ``PUT /applications/{id}/commands``; works inside or outside a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(collect_commands())
    # Called from a coroutine (the CLI): build in a private loop on a worker thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, collect_commands()).result()
