"""The whole `paperboy run` process against the Discord emulator: log in, answer, announce, stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import date
from pathlib import Path

from storage.store import Store
from tests.bot_fixtures import TOKEN, seeded_store
from tests.discord_emulator import DiscordEmulator
from tests.helpers import REPO, needs_seed, record

PAPERBOY = Path(sys.executable).with_name("paperboy")


async def read_until(stream: asyncio.StreamReader, needle: str, lines: list[str]) -> str:
    """The first output line holding ``needle`` (60 s at most: a loaded machine starts slowly), lines kept."""

    async def scan() -> str:
        while True:
            raw = await stream.readline()
            if not raw:
                raise AssertionError(f"paperboy exited before printing {needle!r}:\n" + "".join(lines))
            line = raw.decode()
            lines.append(line)
            if needle in line:
                return line

    return await asyncio.wait_for(scan(), 60)


@needs_seed
async def test_paperboy_run_serves_slash_commands_and_announces(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    store = await seeded_store(db)
    await store.close()
    async with DiscordEmulator(token=TOKEN) as emu:
        guild = emu.add_guild("Lab")
        channel = emu.add_channel(guild.id, "papers")
        config = tmp_path / "config.toml"
        config.write_text(
            f'[discord]\napi_base = "{emu.api_base}"\ngateway_url = "{emu.gateway_url}"\n'
            f"guild_ids = [{guild.id}]\n\n[http]\nport = 0\n\n[schedule]\noutbox_interval = 1\njitter = 0\n",
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOY_", "DISCORD_"))}
        env["DISCORD_TOKEN"] = TOKEN
        proc = await asyncio.create_subprocess_exec(
            str(PAPERBOY), "--db", str(db), "run", "--config", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, cwd=REPO,
        )
        lines: list[str] = []
        try:
            assert proc.stdout is not None
            logged_in = await read_until(proc.stdout, "Discord: logged in", lines)
            assert f"commands synced (guild {guild.id})" in logged_in
            res = await emu.slash("stats", channel_id=channel.id)
            fields = {f["name"]: f["value"] for f in res.embeds[0]["fields"]}
            assert fields["Papers"] == "22"
            # The running service's outbox job announces a paper ingested by another process.
            async with await Store.open(db) as other:
                await other.outbox.subscribe(target="all", value=None, guild_id=guild.id, channel_id=channel.id)
                fresh = record("Announced from a second process", "Jae-Hun Lee", published=date.today())
                await other.ingest([fresh], source="cli")
            # The /stats answer is the channel's first message; the announcement comes second.
            messages = await emu.wait_messages(channel.id, 2, timeout=15)
            assert messages[1]["embeds"][0]["title"] == "Announced from a second process"
            assert messages[1]["nonce"]
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 15) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        rest = (await proc.stdout.read()).decode() if proc.stdout else ""
        output = "".join(lines) + rest
        assert "paperboy: stopping" in output and "Traceback" not in output
        assert emu.message_count(channel.id) == 2
