"""Announcer figures: deliveries/s against the Discord emulator's rate limits, and the 429s it drew.

The unmodified discord.py client logs into the loopback emulator, which
enforces Discord's fixed-window per-channel send limit. The real Announcer
drains a real outbox (papers ingested into a fresh store, one 'all'
subscription per channel) through the real ChannelSender. The figure is the
steady rate after the first window's free burst, as a share of the limit, for
the sender paced by bot.pacer beside the same drain through discord.py's own
pacing (which sleeps out an emptied window before returning the message).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import math
import time
from dataclasses import dataclass

from bench.common import Figure, remove_db
from bench.corpus import CorpusGenerator
from storage.store import Store

log = logging.getLogger(__name__)

CHANNELS = 2
RATE = (5, 1.0)  # messages per window per channel; Discord's is 5 per 5 s, shortened to keep the run short


def _not_measured(why: str) -> list[Figure]:
    return [
        Figure("announcer deliveries / rate limit", math.nan, "fraction", target=0.95,
               higher_is_better=True, target_text=">= 0.95", note=f"not measured: {why}"),
        Figure("announcer 429s", math.nan, "count", target=0.0, target_text="0", note=f"not measured: {why}"),
    ]


@dataclass
class _Run:
    sent: int
    owed: int
    posted: int
    limited: int
    elapsed: float

    def rate(self) -> float:
        # The first window's burst costs no time; what follows is paced by the limit.
        burst = CHANNELS * RATE[0]
        return (self.sent - burst) / self.elapsed if self.elapsed and self.sent > burst else math.nan


async def _drain_run(args: argparse.Namespace, *, paced: bool) -> _Run:
    """Ingest, subscribe and drain everything to a fresh emulator; ``paced``: bot.pacer, else discord.py's."""
    import aiohttp
    import discord

    from bot.announcer import Announcer
    from bot.senders import ChannelSender
    from tests.discord_emulator import DiscordEmulator

    per_channel = max(6, int(args.announce_messages))
    folder = args.data / f"announce-{args.papers}"  # two sizes may run side by side
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "announce.db"
    remove_db(db)
    store = await Store.open(db, announce_max_age=None)  # the corpus is old; every paper is owed
    client: discord.Client | None = None
    task: asyncio.Task[None] | None = None
    try:
        async with DiscordEmulator(token="bench-token", message_rate=RATE) as emu, aiohttp.ClientSession() as session:
            guild = emu.add_guild("Bench")
            channels = [emu.add_channel(guild.id, f"papers-{i}") for i in range(CHANNELS)]
            for channel in channels:
                await store.outbox.subscribe(target="all", value=None, guild_id=guild.id, channel_id=channel.id)
            records = list(itertools.islice(CorpusGenerator(per_channel, seed=args.seed), per_channel))
            report = await store.ingest(records, source="bench-announce")
            owed = report.queued_deliveries
            emu.point_discord_py()
            client = discord.Client(intents=discord.Intents.none(), guild_ready_timeout=0.05)
            task = asyncio.create_task(client.start("bench-token"))
            await emu.wait_ready()
            await client.wait_until_ready()
            sender = ChannelSender(client, session) if paced else ChannelSender(client)
            announcer = Announcer(store, [sender], max_per_drain=owed + 10)
            sent = 0
            start = time.perf_counter()
            deadline = start + 10 * per_channel * RATE[1] / RATE[0] + 30
            while sent < owed and time.perf_counter() < deadline:
                done = await announcer.drain()
                sent += done
                if not done:
                    await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - start
            limited = sum(1 for r in emu.requests if r.status == 429)
            posted = sum(emu.message_count(c.id) for c in channels)
            await client.close()
            await task
            task = None
    finally:
        if task is not None:
            task.cancel()
        await store.close()
    return _Run(sent, owed, posted, limited, elapsed)


async def announcer_figures(args: argparse.Namespace) -> list[Figure]:
    """The announcer paced by the rate-limit headers (bot.pacer) beside discord.py's own pacing, same run."""
    try:
        import discord  # noqa: F401

        import bot.senders  # noqa: F401
        import tests.discord_emulator  # noqa: F401
    except ImportError as exc:
        return _not_measured(f"cannot import the announcer or the emulator ({exc})")
    old = await _drain_run(args, paced=False)
    new = await _drain_run(args, paced=True)
    limit_rate = CHANNELS * RATE[0] / RATE[1]
    note = (f"{new.sent}/{new.owed} sent, {new.posted} posted, {CHANNELS} channels at {RATE[0]} per {RATE[1]:g}s,"
            f" {new.elapsed:.1f}s, {new.rate():.1f}/s of {limit_rate:g}/s; through discord.py's pacing"
            f" {old.sent}/{old.owed} in {old.elapsed:.1f}s, {old.limited} 429s")
    return [
        Figure("announcer deliveries / rate limit", new.rate() / limit_rate, "fraction",
               {"rate limit": 1.0, "discord.py pacing": old.rate() / limit_rate},
               target=0.95, higher_is_better=True, target_text=">= 0.95", note=note),
        Figure("announcer deliveries/s after the first burst", new.rate(), "msg/s",
               {"rate limit": limit_rate, "discord.py pacing": old.rate()}),
        Figure("announcer 429s", float(new.limited), "count", {"discord.py pacing": float(old.limited)},
               target=0.0, target_text="0"),
    ]


__all__ = ["announcer_figures"]
