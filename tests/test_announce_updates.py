"""Updates, not reposts: a posted paper that is published, revised or renamed has its message edited."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import aiohttp
import pytest

from bot.announce_format import footer_matches, paper_lead
from bot.announcer import IN_FLIGHT, Announcer
from bot.senders import ChannelSender, WebhookSender
from storage.merge import TITLE_CLOSENESS, title_closeness
from storage.store import Store
from tests.bot_fixtures import TOKEN, running_bot
from tests.discord_emulator import DiscordEmulator
from tests.helpers import record

AUTHORS = ("Mina Park", "Jae-Hun Lee", "Sangheum Hwang")
PREPRINT = "Learning Robust Diffusion Priors for Medical Image Segmentation"
CLOSE = "Towards " + PREPRINT + ": A Study"


def preprint(title: str = PREPRINT, arxiv: str = "2611.01234", **fields: object):
    fields.setdefault("published", date(2026, 11, 2))
    fields.setdefault("arxiv_version", 1)
    return record(title, *fields.pop("authors", AUTHORS), arxiv_id=arxiv, **fields)  # type: ignore[arg-type]


def journal(title: str, doi: str = "10.1000/jmi.2026.77", **fields: object):
    fields.setdefault("published", date(2026, 12, 20))
    return record(title, *fields.pop("authors", AUTHORS), doi=doi, **fields)  # type: ignore[arg-type]


async def test_a_published_version_edits_the_post_instead_of_reposting(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "u.db", announce_max_age=None) as store, running_bot(store) as h:
        await store.outbox.subscribe(target="all", value=None, guild_id=h.guild.id, channel_id=h.channel.id)
        announcer = Announcer(store, [ChannelSender(h.bot)])
        await store.ingest([preprint()], source="arxiv", kind="arxiv")
        assert await announcer.drain() == 1
        [posted] = h.emu.messages(h.channel.id)
        # The journal reports only a DOI, under its final, slightly longer title.
        report = await store.ingest(
            [journal(PREPRINT.replace("Segmentation", "Segmentation and Registration"),
                     journal_ref="Journal of Medical Imaging 12(4), 2026")],
            source="journal", kind="feed",
        )
        assert report.new == 0 and report.updated == 1 and await store.count_papers() == 1
        assert await announcer.drain() == 0  # nothing new is posted ...
        [edited] = h.emu.messages(h.channel.id)  # ... and no second message exists
        assert edited["id"] == posted["id"] and edited["edited_timestamp"] is not None
        assert "📰 Published in Journal of Medical Imaging 12(4), 2026" in edited["content"]
        assert edited["embeds"][0]["title"].endswith("Segmentation and Registration")
        assert footer_matches(edited["embeds"][0]["footer"]["text"], paper_lead("2611.01234"), 1)  # still findable
        # A new arXiv version edits again; an unchanged re-poll does nothing.
        await store.ingest([preprint(arxiv_version=2)], source="arxiv", kind="arxiv")
        await store.ingest([preprint(arxiv_version=2)], source="arxiv", kind="arxiv")
        await announcer.drain()
        [again] = h.emu.messages(h.channel.id)
        edits = h.emu.requests_to("PATCH", "/channels/{channel_id}/messages/{message_id}")
        assert "🆕 arXiv v2" in again["content"] and len(edits) == 2


async def test_a_deleted_post_gets_a_reply_under_it_not_a_new_announcement(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "u.db", announce_max_age=None) as store, running_bot(store) as h:
        await store.outbox.subscribe(target="all", value=None, guild_id=h.guild.id, channel_id=h.channel.id)
        announcer = Announcer(store, [ChannelSender(h.bot)])
        await store.ingest([preprint()], source="arxiv", kind="arxiv")
        await announcer.drain()
        [posted] = h.emu.messages(h.channel.id)
        await h.bot.http.delete_message(h.channel.id, int(posted["id"]))
        await store.ingest([preprint(doi="10.1000/x.1")], source="arxiv", kind="arxiv")
        await announcer.drain()
        [reply] = h.emu.messages(h.channel.id)
        # Sent as a reply; Discord drops the reference to a deleted message (fail_if_not_exists false).
        [sent] = [r for r in h.emu.requests_to("POST", "/channels/{channel_id}/messages") if r.status == 200][-1:]
        assert sent.json["message_reference"]["message_id"] == int(posted["id"])
        assert sent.json["message_reference"]["fail_if_not_exists"] is False
        assert "message_reference" not in reply
        assert reply["content"].startswith("🔔 Update: ") and "https://doi.org/10.1000/x.1" in reply["content"]
        assert not reply["embeds"]  # a short note, not the announcement again
        assert reply["content"].endswith(" · sub #1") and "\n-# update 2611.01234 " in reply["content"]
        await announcer.drain()
        assert len(h.emu.messages(h.channel.id)) == 1
        # Killed after the reply was posted and before it was recorded, restarted after the nonce
        # window: the reply is found by its marker line, not posted twice.
        async with store.db.transaction() as conn:
            await conn.execute("UPDATE deliveries SET update_pending = 1, updated_note = ?",
                               (IN_FLIGHT + datetime.now(UTC).isoformat(),))
        h.emu.honour_nonce = False
        await announcer.drain()
        assert len(h.emu.messages(h.channel.id)) == 1
        [note] = await store.db.fetchone("SELECT updated_note FROM deliveries")
        assert note.startswith("replied (found after an interrupted send)")


async def test_webhook_posts_are_edited_and_without_an_id_get_an_update_note(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "u.db", announce_max_age=None) as store, \
            DiscordEmulator(token=TOKEN) as emu, \
            aiohttp.ClientSession() as session:
        channel = emu.add_channel(emu.add_guild("Lab").id, "hooked")
        hook = emu.add_webhook(channel.id)
        await store.outbox.subscribe(target="all", value=None, webhook_url=hook.url)
        announcer = Announcer(store, [WebhookSender(session, api_base=emu.api_base)])
        await store.ingest([preprint(), preprint("A second preprint on sparse attention", arxiv="2611.09999")],
                           source="arxiv", kind="arxiv")
        assert await announcer.drain() == 2
        second = emu.messages(channel.id)[1]
        # The second was recorded without its id (as an old at-most-once send would have been).
        async with store.db.transaction() as conn:
            await conn.execute("UPDATE deliveries SET message_id = NULL WHERE message_id = ?", (int(second["id"]),))
        await store.ingest([preprint(journal_ref="Proc. MICCAI 2026"),
                            preprint("A second preprint on sparse attention", arxiv="2611.09999",
                                     journal_ref="Proc. ICLR 2027")], source="arxiv", kind="arxiv")
        await announcer.drain()
        messages = emu.messages(channel.id)
        assert len(messages) == 3
        assert "Published in Proc. MICCAI 2026" in messages[0]["content"] and messages[0]["edited_timestamp"]
        assert messages[2]["content"].startswith("🔔 Update: ") and "Proc. ICLR 2027" in messages[2]["content"]
        assert messages[2]["webhook_id"] == str(hook.id)
        notes = [r[0] for r in await store.db.fetchall("SELECT updated_note FROM deliveries ORDER BY id")]
        assert notes[0].startswith("edited") and notes[1].startswith("replied")


@pytest.mark.parametrize(
    ("published_title", "change"),
    [
        (PREPRINT.upper(), {}),
        (CLOSE, {}),
        (PREPRINT.replace("Priors", "Prior"), {"published": date(2027, 1, 5)}),  # the next year
        (PREPRINT, {"authors": (*AUTHORS[:1], "Jae Hun Lee", "Hwang, Sangheum")}),  # names written otherwise
    ],
)
async def test_a_doi_only_published_version_joins_its_preprint(tmp_path: Path, published_title: str,
                                                               change: dict) -> None:
    async with await Store.open(tmp_path / "j.db", search_index=False) as store:
        await store.ingest([preprint()], source="arxiv", kind="arxiv")
        report = await store.ingest([journal(published_title, **change)], source="journal", kind="bibtex")
        assert (report.new, await store.count_papers()) == (0, 1)
        paper = await store.get_paper("2611.01234")
        assert paper is not None and paper.doi == "10.1000/jmi.2026.77"
        assert await store.get_paper("10.1000/jmi.2026.77") is not None  # the DOI finds it too


@pytest.mark.parametrize(
    ("published_title", "change", "why"),
    [
        ("Learning Robust Diffusion Priors for Medical Image Segmentation: Part II", {}, "a second part"),
        ("Efficient Diffusion Priors for Medical Image Registration", {}, "two words differ (Dice 0.67)"),
        ("Robust Diffusion for Medical Images", {"preprint": "Efficient Diffusion for Medical Images"},
         "one word of four differs (Dice 0.75)"),
        ("Learning Robust 3D Diffusion Priors for Medical Image Segmentation", {}, "a number appears"),
        # A title close enough to join (see the test above), with one other thing wrong:
        (CLOSE, {"authors": ("Mina Park", "Jae-Hun Lee", "Someone Else")}, "other authors"),
        (CLOSE, {"published": date(2028, 3, 1)}, "two years later"),
        (CLOSE, {"published": date(2025, 3, 1)}, "published before the preprint"),
        (CLOSE, {"preprint_doi": "10.1000/other"}, "the preprint is already published elsewhere"),
    ],
)
async def test_near_misses_stay_apart(tmp_path: Path, published_title: str, change: dict, why: str) -> None:
    change = dict(change)
    base = change.pop("preprint", PREPRINT)
    pre_doi = change.pop("preprint_doi", None)
    async with await Store.open(tmp_path / "n.db", search_index=False) as store:
        await store.ingest([preprint(base, doi=pre_doi)], source="arxiv", kind="arxiv")
        report = await store.ingest([journal(published_title, **change)], source="journal", kind="bibtex")
        assert report.new == 1 and await store.count_papers() == 2, why


def test_title_closeness_threshold_is_where_the_docs_say() -> None:
    assert title_closeness(PREPRINT, PREPRINT.lower()) == 1.0
    assert title_closeness("Robust Diffusion for Medical Images", "Efficient Diffusion for Medical Images") == 0.75
    assert title_closeness(PREPRINT, PREPRINT + " and Registration") >= TITLE_CLOSENESS
