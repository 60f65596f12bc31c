"""A resume's summary line is nobody's announcement: a later change to a held paper never edits it or replies to it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bot.announcer import Announcer
from bot.senders import ChannelSender
from storage.store import Store
from tests.bot_fixtures import running_bot
from tests.helpers import record


def held(i: int, **fields: object):
    return record(f"Held Preprint {i:02d}", "Ada Lovelace", arxiv_id=f"2612.{i:05d}",
                  published=date.today(), **fields)  # type: ignore[arg-type]


async def test_a_doi_for_the_summary_rows_paper_leaves_the_summary_line_alone(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "s.db", announce_max_age=None) as store, running_bot(store) as h:
        h.emu.message_rate = (100, 1.0)
        await h.slash("subscribe", options={"target": "all"}, user=h.admin)
        [sub] = await store.outbox.subscriptions(channel_id=h.channel.id)
        await h.slash("subscription", "pause", options={"subscription": sub.id}, user=h.admin)
        await store.ingest([held(i) for i in range(13)], source="arxiv", kind="arxiv")
        await h.slash("subscription", "resume", options={"subscription": sub.id}, user=h.admin)
        announcer = Announcer(store, [ChannelSender(h.bot)], retry_base=0.0)
        assert await announcer.drain() == 11
        before = h.emu.messages(h.channel.id)
        summary = before[10]
        assert summary["content"].startswith("…and 3 more papers") and summary["embeds"] == []
        # Paper 10 holds the summary row, paper 11 is folded into it, paper 0 was announced itself.
        await store.ingest([held(i, doi=f"10.1000/held.{i}") for i in (0, 10, 11)], source="arxiv", kind="arxiv")
        await announcer.drain()
        await announcer.drain()
        after = h.emu.messages(h.channel.id)
        assert len(after) == 11  # no update posted for the summary's paper or a folded one
        assert after[10]["content"] == summary["content"] and after[10]["embeds"] == []
        assert not after[10].get("edited_timestamp")
        # The paper announced on its own is edited, as any update is.
        assert "https://doi.org/10.1000/held.0" in after[0]["content"] and after[0].get("edited_timestamp")
        assert len(h.emu.requests_to("PATCH", "/channels/{channel_id}/messages/{message_id}")) == 1
        owed = await store.db.fetchall("SELECT count(*) FROM deliveries WHERE update_pending = 1")
        assert owed[0][0] == 0
