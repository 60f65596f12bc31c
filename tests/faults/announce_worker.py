"""A forking announcer for the kill sweep: each child logs in, drains the outbox, and may be SIGKILLed.

Run as ``python -m tests.faults.announce_worker DB API_BASE TOKEN``. Every line ``go`` on
stdin forks a child that opens the store, logs the bot in over REST, and drains the outbox
(channel and webhook deliveries) until it is empty; the parent prints ``pid N`` at once
and ``exit N CODE`` when the child ends, however it ends. Forking from a process that
has already imported everything makes each announcer life start in milliseconds, so a
sweep of hundreds of kill points takes seconds. ``quit`` ends the parent.
"""

from __future__ import annotations

import asyncio
import os
import sys

import aiohttp
import discord

from bot.announcer import Announcer
from bot.endpoints import point_discord
from bot.senders import ChannelSender, WebhookSender
from storage.store import Store


async def _life(db: str, api_base: str, token: str) -> int:
    restore = point_discord(api_base, "ws://127.0.0.1:9/")
    store = await Store.open(db, search_index=False)
    client = discord.Client(intents=discord.Intents.none())
    try:
        await client.login(token)
        async with aiohttp.ClientSession() as session:
            senders = [ChannelSender(client, session), WebhookSender(session, api_base=api_base, reader=lambda: client)]
            announcer = Announcer(store, senders, retry_base=0.0)  # type: ignore[list-item]
            for _ in range(500):
                await announcer.drain()
                if (await store.outbox.depth())[0] == 0:
                    break
                await asyncio.sleep(0.01)
    finally:
        await client.close()
        await store.close()
        restore()
    return 0


def main() -> None:
    db, api_base, token = sys.argv[1:4]
    for line in sys.stdin:
        if line.strip() != "go":
            break
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = asyncio.run(_life(db, api_base, token))
            finally:
                os._exit(code)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {pid} {status}", flush=True)


if __name__ == "__main__":
    main()
