"""Kill sweep: SIGKILL the announcer at random points while it posts; restart; nothing lost, nothing doubled.

Each kill point forks a real announcer process (tests/faults/announce_worker.py) that
logs in to the emulator and drains the outbox to two bot channels (two subscriptions
share one, so the marker must tell them apart) and a webhook, and SIGKILLs it after a
random delay. The emulator answers each post 15 ms after storing it, so many kills land
after Discord accepted a message and before the outbox recorded it. Kill points alternate
between Discord honouring the nonce and ignoring it (a restart after the nonce window),
and the final clean run ignores it too: only the footer marker can prevent a double post.

CI runs 24 kill points. ``PAPERBOY_SWEEP=200 ./dev test tests/test_fault_announce_kills.py -q -s``
(or ``PAPERBOY_SWEEP=long``: 200) runs the long sweep, which also SIGKILLs the whole ``paperboy run``
service 20 times (N/10) while it announces to a channel and an [[announce]] webhook; each prints its
figures. tests/fault_figures.py reads the setting (the older PAPERBOY_KILL_SWEEP=N still works).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from bot.announce_format import footer_matches, paper_lead
from bot.announcer import IN_FLIGHT
from storage.store import Store
from tests.discord_emulator import DiscordEmulator
from tests.fault_figures import LONG, kill_points, sweep_seed
from tests.helpers import REPO, record

TOKEN = "kill-sweep-token"
KILLS = kill_points(24, 200)
FAST = (100_000, 1.0)


def papers(start: int, n: int) -> list:
    return [
        record(f"Kill sweep paper {i} on robust diffusion", "Ada Lovelace", f"Coauthor {i}",
               published=date.today(), abstract=f"Paper {i} of the sweep.")
        for i in range(start, start + n)
    ]


async def read_line(stream: asyncio.StreamReader) -> str:
    raw = await asyncio.wait_for(stream.readline(), 30)
    if not raw:
        raise AssertionError("the announce worker exited")
    return raw.decode().strip()


async def tally(store: Store, emu: DiscordEmulator, subs: dict) -> tuple[list, Counter, list, int, int]:
    """Every delivery against the posts its marker finds: (owed, posted, lost, doubled, unverified)."""
    owed = await store.db.fetchall(
        "SELECT d.subscription_id, p.key, d.status, d.last_error FROM deliveries d"
        " JOIN papers p ON p.id = d.paper_id"
    )
    posted: Counter[tuple[int, str]] = Counter()
    for channel in {c.id: c for c in subs.values()}.values():
        for message in emu.messages(channel.id):
            footer = message["embeds"][0]["footer"]["text"]
            sub_id = int(footer.rsplit("#", 1)[1])
            key = footer.split(" · ")[0].removeprefix("key ")
            assert footer_matches(footer, paper_lead(key), sub_id) and subs[sub_id] is channel
            posted[(sub_id, key)] += 1
    lost = [(s, k) for s, k, _, _ in owed if posted[(s, k)] == 0]
    doubled = sum(n - 1 for n in posted.values() if n > 1)
    unverified = sum(1 for *_, status, err in owed if status == "sent" and (err or "").startswith("outcome"))
    return list(owed), posted, lost, doubled, unverified


async def test_kill_sweep_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    seed = sweep_seed(20261201)
    rng = random.Random(seed)
    db = tmp_path / "kills.db"
    async with DiscordEmulator(token=TOKEN, message_rate=FAST, webhook_rate=FAST, default_rate=FAST) as emu, \
            await Store.open(db, search_index=False) as store:
        guild = emu.add_guild("Lab")
        news, other, hooked = (emu.add_channel(guild.id, n) for n in ("news", "other", "hooked"))
        hook = emu.add_webhook(hooked.id)
        subs = {
            (await store.outbox.subscribe(target="all", value=None, guild_id=guild.id, channel_id=news.id))[0].id: news,
            (await store.outbox.subscribe(target="author", value="ada-lovelace", guild_id=guild.id,
                                          channel_id=news.id))[0].id: news,
            (await store.outbox.subscribe(target="all", value=None, guild_id=guild.id,
                                          channel_id=other.id))[0].id: other,
            (await store.outbox.subscribe(target="all", value=None, webhook_url=hook.url))[0].id: hooked,
        }
        emu.post_delay = 0.015
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.faults.announce_worker", str(db), emu.api_base, TOKEN,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=REPO,
        )
        assert worker.stdin is not None and worker.stdout is not None
        started = time.monotonic()
        next_paper, in_flight_at_kill, ended_by_itself = 0, 0, 0
        try:
            for point in range(KILLS):
                if (await store.outbox.depth())[0] < 12:
                    await store.ingest(papers(next_paper, 6), source="sweep")
                    next_paper += 6
                emu.honour_nonce = point % 2 == 0
                worker.stdin.write(b"go\n")
                await worker.stdin.drain()
                pid = int((await read_line(worker.stdout)).split()[1])
                await asyncio.sleep(rng.uniform(0.01, 0.2))
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                status = int((await read_line(worker.stdout)).split()[2])
                if status == 0:
                    ended_by_itself += 1
                row = await store.db.fetchone(
                    "SELECT count(*) FROM deliveries WHERE status = 'pending' AND last_error LIKE ?",
                    (IN_FLIGHT + "%",),
                )
                in_flight_at_kill += int(row[0])
            # The restart after the last kill: long after any nonce window.
            emu.honour_nonce = False
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
            await read_line(worker.stdout)
            assert (await read_line(worker.stdout)).endswith(" 0"), "the final announcer run failed"
        finally:
            if worker.returncode is None:
                worker.stdin.write(b"quit\n")
                worker.stdin.close()
                await asyncio.wait_for(worker.wait(), 10)
        elapsed = time.monotonic() - started

        owed, posted, lost, doubled, unverified = await tally(store, emu, subs)
        print(
            f"\nkill sweep (seed {seed}): {KILLS} kill points ({ended_by_itself} runs ended before the kill), "
            f"{in_flight_at_kill} kills left a send of unknown outcome, {len(owed)} deliveries to "
            f"{len(subs)} subscriptions (2 channels, 1 webhook), posts lost {len(lost)}, posts doubled {doubled}, "
            f"recorded unverified {unverified}, {elapsed:.1f} s"
        )
        assert {status for _, _, status, _ in owed} == {"sent"}
        assert lost == [] and doubled == 0 and unverified == 0
        assert sum(posted.values()) == len(owed)
        assert in_flight_at_kill > 0, "no kill landed inside a send: the sweep tested nothing"


RUN_KILLS = max(2, KILLS // 10)
PAPERBOY = Path(sys.executable).with_name("paperboy")


@pytest.mark.skipif(not LONG, reason="the long sweep: each `paperboy run` life takes seconds; set PAPERBOY_SWEEP=long")
async def test_sigkill_of_paperboy_run_while_announcing_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    """The whole service, killed mid-announcement and restarted after the nonce window (N/10 kills)."""
    rng = random.Random(7)
    db = tmp_path / "run.db"
    async with DiscordEmulator(token=TOKEN, message_rate=FAST, webhook_rate=FAST, default_rate=FAST) as emu, \
            await Store.open(db, search_index=False) as store:
        guild = emu.add_guild("Lab")
        news, hooked = emu.add_channel(guild.id, "news"), emu.add_channel(guild.id, "hooked")
        hook = emu.add_webhook(hooked.id)
        subs = {(await store.outbox.subscribe(target="all", value=None, guild_id=guild.id,
                                              channel_id=news.id))[0].id: news}
        config = tmp_path / "config.toml"
        config.write_text(
            f'[discord]\napi_base = "{emu.api_base}"\ngateway_url = "{emu.gateway_url}"\nguild_ids = [{guild.id}]\n'
            '[http]\nport = 0\n[schedule]\noutbox_interval = "0.1s"\njitter = 0\n'
            f'[[announce]]\nname = "hook"\nwebhook_url = "{hook.url}"\n',
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOY_", "DISCORD_"))}
        env["DISCORD_TOKEN"] = TOKEN
        emu.post_delay = 0.02
        next_paper, kills = 0, 0

        async def start() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                str(PAPERBOY), "--db", str(db), "run", "--config", str(config),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=env, cwd=REPO,
            )

        for point in range(RUN_KILLS + 1):
            last = point == RUN_KILLS
            if not last:
                await store.ingest(papers(1000 + next_paper, 8), source="sweep")
                next_paper += 8
            emu.honour_nonce = not last and point % 2 == 0
            before = sum(emu.message_count(c.id) for c in (news, hooked))
            proc = await start()
            try:
                for _ in range(600):
                    if last and (await store.outbox.depth())[0] == 0:
                        break
                    if not last and sum(emu.message_count(c.id) for c in (news, hooked)) > before:
                        await asyncio.sleep(rng.uniform(0.0, 0.15))
                        proc.kill()
                        kills += 1
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("paperboy run posted nothing in 30 s")
            finally:
                if proc.returncode is None:
                    if last:
                        proc.terminate()
                    else:
                        proc.kill()
                await asyncio.wait_for(proc.wait(), 20)
        [webhook_sub] = [s for s in await store.outbox.subscriptions(webhooks=True)]
        subs[webhook_sub.id] = hooked
        owed, _, lost, doubled, unverified = await tally(store, emu, subs)
        print(f"\npaperboy run kills: {kills} SIGKILLs, {len(owed)} deliveries (1 channel, 1 webhook), "
              f"posts lost {len(lost)}, posts doubled {doubled}, recorded unverified {unverified}")
        assert kills == RUN_KILLS
        assert {status for _, _, status, _ in owed} == {"sent"}
        assert lost == [] and doubled == 0 and unverified == 0
