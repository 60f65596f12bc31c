"""The store on real SQLite files: ingest idempotence, merge, owner inference, search, authors, topics."""

from __future__ import annotations

import sqlite3
import time
from datetime import date
from pathlib import Path

import pytest

from feeds.sources.listing import ListingStream
from storage.db import migrations
from storage.errors import StoreError
from storage.models import INGEST_STEPS, IngestReport, PaperRecord, PollValidators
from storage.store import Store
from storage.text import author_key
from tests.helpers import REPO, record

DEMO = REPO / "examples" / "lab.txt"


@pytest.fixture
async def store(tmp_path: Path):
    s = await Store.open(tmp_path / "p.db")
    yield s
    await s.close()


def test_author_key_folds_spellings() -> None:
    assert author_key("Jae-Hun Lee") == author_key("jae hun lee") == author_key("Lee, Jae-Hun")
    assert author_key("JaeHun Lee") == "jae-hun-lee"
    assert author_key("Frédéric  Sala") == author_key("Frederic Sala")
    assert author_key("Łukasz Kaiser") == "lukasz-kaiser"
    assert author_key("Jae-Hun Lee") != author_key("Jae-Hun Kim")


async def test_migrations_recorded_and_reopen_is_noop(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    s = await Store.open(path)
    await s.close()
    s = await Store.open(path)
    await s.close()
    con = sqlite3.connect(path)
    rows = con.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [m.version for m in migrations()]
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    s = await Store.open(path)
    await s.close()
    con = sqlite3.connect(path)
    con.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer than this paperboy"):
        await Store.open(path)


async def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"not a paperboy database|cannot be read"):
        await Store.open(path)


async def test_ingest_twice_changes_nothing(store: Store) -> None:
    recs = [record("A Study of Things", "Ada Lovelace"), record("Another Study", "Alan Turing")]
    first = await store.ingest(recs, source="s")
    assert (first.new, first.updated, first.unchanged) == (2, 0, 0)
    before = {p.key: p.first_seen_at for p in await store.all_papers()}
    version = await store.data_version()
    second = await store.ingest(recs, source="s")
    assert (second.new, second.updated, second.unchanged) == (0, 0, 2)
    assert {p.key: p.first_seen_at for p in await store.all_papers()} == before
    assert await store.data_version() == version


async def test_changed_entry_updates_in_place(store: Store) -> None:
    await store.ingest([record("A Study of Things", "Ada Lovelace", abstract="old")], source="s")
    (paper,) = await store.all_papers()
    report = await store.ingest([record("A Study of Things", "Ada Lovelace", abstract="new words")], source="s")
    assert (report.new, report.updated) == (0, 1)
    (after,) = await store.all_papers()
    assert after.key == paper.key and after.first_seen_at == paper.first_seen_at
    assert after.abstract == "new words" and after.updated_at > paper.updated_at
    assert [p.key for p in await store.search("words")] == [paper.key]
    assert await store.search("old") == []


async def test_bad_record_skipped_good_kept(store: Store) -> None:
    recs = [record("Good One", "Ada Lovelace", line=1), PaperRecord(title="  ", authors=("X Y",), line=4),
            record("Good Two", "Alan Turing", line=7)]
    report = await store.ingest(recs, source="s")
    assert report.new == 2
    assert [(p.line, p.field) for p in report.skipped] == [(4, "title")]


async def test_owner_is_inferred_on_truncated_lists_only(store: Store) -> None:
    recs = [
        record("Hidden Owner Paper", "Suho Lee", "Seungwon Seo", authors_truncated=True),
        record("Visible Owner Paper", "Jihyo Kim", "Sangheum Hwang"),
        record("Complete Without Owner", "Mitko Veta", "Sunggyun Park"),
    ]
    await store.ingest(recs, source="profile", owner="Sangheum Hwang")
    papers = {p.title: p for p in await store.all_papers()}
    assert papers["Hidden Owner Paper"].inferred_authors == ("Sangheum Hwang",)
    assert papers["Hidden Owner Paper"].authors == ("Suho Lee", "Seungwon Seo")
    assert papers["Visible Owner Paper"].inferred_authors == ()
    assert papers["Complete Without Owner"].inferred_authors == ()
    profile = await store.author_profile("sangheum-hwang")
    assert profile is not None
    assert {p.title for p in profile.papers} == {"Hidden Owner Paper", "Visible Owner Paper"}


async def test_merge_by_precedence_keeps_key_and_first_seen(store: Store) -> None:
    listing = record("Few-shot Fine-tuning is All You Need", "Suho Lee", "Seungwon Seo",
                     authors_truncated=True, published=date(2023, 4, 3), category="CV",
                     has_code=True, code_url="https://github.com/daintlab/fewshot-SFDA", abstract="ours")
    await store.ingest([listing], source="listing", owner="Sangheum Hwang")
    (before,) = await store.all_papers()
    arxiv = PaperRecord(title="Few-shot Fine-tuning is All You Need",
                        authors=("Suho Lee", "Seungwon Seo", "Jihyo Kim", "Yejin Lee", "Sangheum Hwang"),
                        abstract="arXiv abstract v2", category="cs.CV", categories=("cs.CV", "cs.LG"),
                        published=date(2023, 4, 3), arxiv_id="2304.00792", arxiv_version=2)
    report = await store.ingest([arxiv], source="arxiv", kind="arxiv")
    assert (report.new, report.updated) == (0, 1)
    (after,) = await store.all_papers()
    assert after.key == before.key and after.first_seen_at == before.first_seen_at
    assert after.authors == arxiv.authors and not after.authors_truncated
    assert after.inferred_authors == ()  # the owner is now listed
    assert after.abstract == "arXiv abstract v2"
    assert after.category == "CV" and after.code_url == listing.code_url
    assert after.arxiv_id == "2304.00792"
    assert (await store.get_paper("2304.00792v2")).key == before.key  # type: ignore[union-attr]
    assert sorted(after.sources) == ["arxiv", "listing"]


async def test_same_title_different_first_author_is_another_paper(store: Store) -> None:
    await store.ingest([record("Introduction", "Ada Lovelace", published=date(2020, 1, 1))], source="a")
    report = await store.ingest([record("Introduction", "Alan Turing", published=date(2020, 1, 1))], source="b")
    assert report.new == 1
    keys = sorted(p.key for p in await store.all_papers())
    assert keys == ["introduction", "introduction-2"]


HOSTILE = ['"unclosed', "NEAR(a b", "AND", "OR OR", "*", "title:foo", "c++ -bar", "(((", ")", "-", ":",
           "x" * 5000, "", "   ", "\x00\x01", "😀 émoji", "a:b c:d", "NOT", "^start", "'; DROP TABLE papers; --"]


@pytest.mark.parametrize("query", HOSTILE)
async def test_search_never_raises(store: Store, query: str) -> None:
    await store.ingest([record("Title About Things", "Ada Lovelace", abstract="not and or near")], source="s")
    result = await store.search(query)
    assert isinstance(result, list)
    assert await store.count_papers() == 1


async def test_title_weighted_above_abstract(store: Store) -> None:
    await store.ingest([
        record("Unrelated Heading", "Ada Lovelace", abstract="we mention diffusion once here among many other words"),
        record("Diffusion Models Explained", "Alan Turing", abstract="a text that says nothing else at all"),
    ], source="s")
    assert next(p.title for p in await store.search("diffusion")) == "Diffusion Models Explained"


async def test_acronym_expansion_both_ways(store: Store) -> None:
    await store.ingest([
        record("Learning Without Labels", "Ada Lovelace",
               abstract="We study self-supervised learning (SSL) for images."),
        record("Probing Representations", "Alan Turing",
               abstract="Methods of Self-Supervised Learning are compared."),
        record("Pretext Tasks", "Grace Hopper", abstract="Recent SSL methods and their pretext tasks."),
    ], source="s")
    by_acronym = {p.title for p in await store.search("SSL")}
    by_phrase = {p.title for p in await store.search("self-supervised learning")}
    assert by_acronym == by_phrase == {"Learning Without Labels", "Probing Representations", "Pretext Tasks"}
    topic = await store.topic("ssl")
    assert topic is not None and topic.expansion == "self supervised learning" and topic.papers == 3


async def test_plural_acronym_teaches_singular(store: Store) -> None:
    await store.ingest([record("Nets", "Ada Lovelace",
                               abstract="Convolutional neural networks (CNNs) are used.")], source="s")
    topic = await store.topic("cnn")
    assert topic is not None and topic.expansion == "convolutional neural network"


async def test_recurring_title_phrase_becomes_topic(store: Store) -> None:
    titles = ["Diffusion Models for Art", "Fast Diffusion Models", "Diffusion Model Distillation"]
    await store.ingest([record(t, "Ada Lovelace") for t in titles], source="s")
    topic = await store.topic("diffusion-model")
    assert topic is not None and topic.kind == "phrase" and topic.papers == 3
    assert await store.topic("fast-diffusion") is None


async def test_author_lookup_forgives(store: Store) -> None:
    await store.ingest([
        record("P1", "Jae-Hun Lee", "Sangheum Hwang"),
        record("P2", "Sangheum Hwang", "Jihyo Kim"),
        record("P3", "Jae-Hoon Lim"),
    ], source="s")
    for query in ["jae hun lee", "Lee, Jae-Hun", "JaeHun Lee", "jae-hun lee", "J. Lee", "Jae-Hun Lea", "lee jae hun"]:
        matches = await store.match_authors(query)
        assert matches and matches[0].key == "jae-hun-lee", (query, matches[:3])
    matches = await store.match_authors("hwang")
    assert matches[0].key == "sangheum-hwang" and matches[0].papers == 2
    assert await store.match_authors("") == []
    assert await store.match_authors("zzzzqqqq") == []


async def test_profile_has_coauthors_years_topics(store: Store) -> None:
    await store.ingest([
        record("P1", "Ada Lovelace", "Alan Turing", published=date(2019, 5, 1),
               abstract="graph neural networks (GNNs) rock"),
        record("P2", "Ada Lovelace", "Alan Turing", published=date(2022, 5, 1), abstract="more GNNs"),
        record("P3", "Ada Lovelace", "Grace Hopper", published=date(2021, 5, 1)),
    ], source="s")
    profile = await store.author_profile("ada-lovelace")
    assert profile is not None
    assert [p.title for p in profile.papers] == ["P2", "P3", "P1"]
    assert profile.coauthors[0] == ("Alan Turing", 2)
    assert profile.years == (2019, 2022)
    assert ("GNN", 2) in profile.topics


async def test_subscription_queues_only_later_papers_unless_backfill(store: Store) -> None:
    await store.ingest([record("Old Paper", "Ada Lovelace")], source="s")
    _, queued = await store.outbox.subscribe(target="all", value=None, guild_id=1, channel_id=10)
    assert queued == 0 and await store.outbox.pending() == []
    report = await store.ingest([record("New Paper", "Alan Turing", published=date.today())], source="s")
    assert report.queued_deliveries == 1
    (pending,) = await store.outbox.pending()
    assert pending.paper_key == "new-paper" and len(pending.delivery.nonce) <= 25
    await store.ingest([record("New Paper", "Alan Turing", abstract="changed")], source="s")
    assert len(await store.outbox.pending()) == 1  # an update is not news
    _, backfilled = await store.outbox.subscribe(target="author", value="ada-lovelace", guild_id=1,
                                                 channel_id=11, backfill=5)
    assert backfilled == 1


async def test_backup_is_a_working_copy(store: Store, tmp_path: Path) -> None:
    await store.ingest([record("Kept Safe", "Ada Lovelace")], source="s")
    target = tmp_path / "copy.db"
    await store.backup(target)
    copy = await Store.open(target)
    try:
        assert [p.title for p in await copy.all_papers()] == ["Kept Safe"]
        assert await copy.check() == []
    finally:
        await copy.close()


async def test_cancelled_ingest_finishes_its_transaction_before_close(tmp_path: Path) -> None:
    import asyncio

    s = await Store.open(tmp_path / "c.db")
    recs = [record(f"Paper number {i}", "Ada Lovelace", abstract="words " * 200) for i in range(3000)]
    task = asyncio.create_task(s.ingest(recs, source="s"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await s.close()  # must not break the worker thread's transaction
    s = await Store.open(tmp_path / "c.db")
    try:
        assert await s.count_papers() in (0, 3000)  # all or nothing
        assert await s.check() == []
    finally:
        await s.close()


async def test_paused_subscription_keeps_its_deliveries_until_resumed(store: Store) -> None:
    sub, _ = await store.outbox.subscribe(target="all", value=None, guild_id=1, channel_id=10)
    await store.outbox.pause(sub.id, "channel not found (404)")
    report = await store.ingest([record("Arrived While Paused", "Ada Lovelace", published=None)], source="s")
    assert report.queued_deliveries == 1
    assert await store.outbox.pending() == []
    await store.outbox.resume(sub.id)
    assert [p.paper_key for p in await store.outbox.pending()] == ["arrived-while-paused"]


async def test_topic_learnt_later_is_linked_to_older_papers(store: Store) -> None:
    await store.ingest([record("Old Work", "Ada Lovelace", abstract="Our vision transformer does well.")], source="s")
    await store.ingest([record("New Work", "Alan Turing", abstract="A vision transformer (ViT) for maps.")], source="s")
    topic = await store.topic("vit")
    assert topic is not None and topic.papers == 1  # only the paper that taught it, so far
    assert await store.link_pending_topics() == 1
    assert (await store.topic("vit")).papers == 2  # type: ignore[union-attr]
    assert await store.link_pending_topics() == 0
    assert {p.title for p in await store.latest(topic_slug="vit")} == {"Old Work", "New Work"}


async def test_one_source_by_name_and_its_poll_validators(store: Store) -> None:
    await store.ingest([record(f"Paper {n}", "Ada Lovelace", line=n) for n in range(1, 4)], source="a")
    await store.ingest([record("Other Paper", "Alan Turing", line=1)], source="b")
    await store.record_poll("a", etag="size-and-time", content_hash="blake")

    a, b = await store.source("a"), await store.source("b")
    assert (a.name, a.papers, a.etag, a.content_hash) == ("a", 3, "size-and-time", "blake")
    assert (b.name, b.papers, b.etag) == ("b", 1, None)
    assert await store.source("missing") is None
    assert await store.poll_validators("a") == PollValidators("size-and-time", None, "blake")
    assert await store.poll_validators("b") == PollValidators(None, None, None)
    assert await store.poll_validators("missing") is None


async def test_an_ingest_reports_where_its_time_went(store: Store) -> None:
    stream = ListingStream(DEMO)
    start = time.perf_counter()
    report = await store.ingest(stream, source="lab", size_hint=stream.size_hint)
    wall = time.perf_counter() - start
    assert report.new == 22
    assert list(report.seconds) == list(INGEST_STEPS)  # every step, in the order a batch takes them
    assert all(seconds >= 0 for seconds in report.seconds.values())
    # The steps cover the call between them: none is dropped, none counted twice.
    assert 0.9 * wall - 0.005 <= sum(report.seconds.values()) <= wall
    # A file streamed into the store is parsed while the records are read.
    assert report.seconds["records"] > 0 and report.seconds["papers"] > 0 and report.seconds["index"] > 0
    described = IngestReport(seconds={"links": 0.3141, "papers": 0.25, "rest": 0.001}).describe_steps()
    assert described == "storing papers 0.25 s, linking topics 0.31 s"  # in step order, the instant ones left out
