"""The helper process that matches new topics' older candidates beside the ingest, and when its answers hold."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from storage import topic_linker, topic_mentions
from storage.ingest_topics import find_mentions, link_mentions, pending_topics
from storage.ingest_worker import WorkerIngest
from storage.store import Store
from storage.topic_linker import read_ahead
from storage.topic_mentions import Helper, text_digest
from tests.helpers import record, rows
from tests.test_ingest_worker import _NoProcesses
from tests.test_topic_linking import OLDER, TEACHING, _no_interpreter, _titles_of

EXPECTED = {"vit": 0, "gnn": 1, "mae": 2, "nerf": 3, "llm": 4}  # topic -> the older paper naming it


def _links(path: Path) -> list[tuple]:
    return rows(path, "SELECT t.slug, p.title FROM paper_topics pt JOIN topics t ON t.id = pt.topic_id"
                      " JOIN papers p ON p.id = pt.paper_id ORDER BY 1, 2")


async def _taught(path: Path) -> list[tuple]:
    async with await Store.open(path) as store:
        await store.ingest(OLDER, source="s")
        await store.ingest([TEACHING], source="s")
        assert await store.link_pending_topics() == 5
        started = store._linker.helper.started
    return [*_links(path), ("helper processes started", started)]


async def test_the_helper_links_exactly_what_the_linking_alone_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    alone = await _taught(tmp_path / "alone.db")
    assert alone[-1] == ("helper processes started", 0)  # five candidates: too few to hand over
    monkeypatch.setattr(topic_mentions, "AT_LEAST", 1)
    with caplog.at_level("DEBUG", logger="storage.ingest_topics"):
        helped = await _taught(tmp_path / "helped.db")
    assert helped[:-1] == alone[:-1] and helped[-1] == ("helper processes started", 1)
    # Every older paper's answer came from the helper; none was matched in the transaction.
    assert "5 answers from the helper process, 0 texts matched here" in caplog.text
    for slug, older in EXPECTED.items():
        assert _titles_of(tmp_path / "helped.db", slug) == {"Five Definitions", f"Older Work {older}"}, slug


async def _searched(store: Store, path: Path) -> tuple:
    """Pending topics found and matched by a helper, as an ingest's early search leaves them."""
    await store.ingest(OLDER, source="s")
    await store.ingest([TEACHING], source="s")
    found = find_mentions(store.search_index, await store.db.run_sync(pending_topics))
    helper = Helper(at_least=1)
    try:
        found.confirmed = helper.confirm(found.spellings, read_ahead(str(path), found.paper_ids, keep=True))
    finally:
        helper.close()
    assert found.confirmed is not None and len(found.confirmed) == 6  # the older papers and the teaching one
    return found, {slug: int(i) for i, slug in rows(path, "SELECT id, slug FROM topics")}


async def test_a_paper_changed_or_deleted_after_the_helper_read_it_is_matched_from_the_store(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with await Store.open(path) as store:
        found, _ = await _searched(store, path)
        # Another writer, after the helper read them: one older paper now names another topic, one is gone.
        await store.ingest([record("Older Work 0", "Ada Lovelace", abstract="We use large language models now.")],
                           source="s")
        await store.db.run_write(lambda conn: conn.execute("DELETE FROM papers WHERE title = 'Older Work 2'"))
        assert await store.db.run_write(lambda conn: link_mentions(conn, found)) == 5
    assert _titles_of(path, "vit") == {"Five Definitions"}
    assert _titles_of(path, "llm") == {"Five Definitions", "Older Work 0", "Older Work 4"}
    assert _titles_of(path, "mae") == {"Five Definitions"}
    assert _titles_of(path, "gnn") == {"Five Definitions", "Older Work 1"}


async def test_an_answer_for_an_unchanged_text_is_taken_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with await Store.open(path) as store:
        found, topic = await _searched(store, path)
        # An answer the text does not bear out, but for the very text the linking reads: it is used,
        # so the linking did not match that paper again.
        (paper, title, abstract), = rows(path, "SELECT id, title, abstract FROM papers WHERE title = 'Older Work 1'")
        found.confirmed[paper] = (text_digest(title, abstract), (topic["llm"],))
        await store.db.run_write(lambda conn: link_mentions(conn, found))
    assert _titles_of(path, "llm") == {"Five Definitions", "Older Work 1", "Older Work 4"}
    assert _titles_of(path, "gnn") == {"Five Definitions"}


async def test_answers_are_not_used_once_another_writer_finished_some_of_their_topics(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with await Store.open(path) as store:
        found, _ = await _searched(store, path)
        await store.db.run_write(lambda conn: conn.execute("UPDATE topics SET link_pending = 0 WHERE slug = 'llm'"))
        assert await store.db.run_write(lambda conn: link_mentions(conn, found)) == 4
    assert _titles_of(path, "llm") == {"Five Definitions"}  # left to the writer that took it
    assert _titles_of(path, "nerf") == {"Five Definitions", "Older Work 3"}


async def test_when_the_helper_cannot_start_the_linking_matches_everything_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    alone = await _taught(tmp_path / "alone.db")
    monkeypatch.setattr(topic_mentions, "AT_LEAST", 1)
    _no_interpreter(monkeypatch, tmp_path)
    assert (await _taught(tmp_path / "fallback.db"))[:-1] == alone[:-1]
    assert "confirming topic mentions in a helper process failed" in caplog.text
    # Nor is another started for every later search.
    helper = Helper(at_least=1)
    try:
        assert helper.wanted(1)
        assert helper.confirm({"graph kernel": [7]}, [(1, "Graph Kernels", "A graph kernel.")]) is None
        assert helper.failed and not helper.wanted(1_000) and helper.started == 1
    finally:
        helper.close()


def test_an_idle_helper_stops_and_the_next_batch_starts_another() -> None:
    helper = Helper(at_least=2, idle_seconds=0.2)
    texts = [(1, "Graph Kernels", "A graph kernel (GK) at scale."), (2, "Other", "Nothing to see.")]
    try:
        assert not helper.wanted(1) and helper.wanted(2)
        assert helper.confirm({"graph kernel": [7], "GK": [8]}, texts) == {
            1: (text_digest(*texts[0][1:]), (7, 8)), 2: (text_digest(*texts[1][1:]), ())}
        assert helper.running and helper.peak_rss > 0
        assert _stopped(helper)
        assert helper.confirm({"graph kernel": [7]}, texts[:1]) == {1: (text_digest(*texts[0][1:]), (7,))}
        assert helper.started == 2
    finally:
        helper.close()
    assert not helper.running


def _stopped(helper: Helper) -> bool:
    deadline = time.monotonic() + 10
    while helper.running and time.monotonic() < deadline:
        time.sleep(0.05)
    return not helper.running


def test_a_helper_started_early_is_the_one_confirm_uses_and_stops_when_left_idle() -> None:
    helper = Helper(at_least=1, idle_seconds=0.3)
    texts = [(1, "Graph Kernels", "A graph kernel (GK) at scale.")]
    try:
        helper.start_soon()
        assert helper.running and helper.started == 1
        helper.start_soon()  # one runs already
        assert helper.confirm({"graph kernel": [7], "GK": [8]}, texts) == {1: (text_digest(*texts[0][1:]), (7, 8))}
        assert helper.started == 1
        assert _stopped(helper)
        helper.start_soon()  # and nothing asks it for anything: it stops by itself all the same
        assert helper.running and helper.started == 2
        assert _stopped(helper)
    finally:
        helper.close()


@pytest.mark.parametrize(("early_at", "started"), [(len(OLDER), 1), (len(OLDER) + 1, 0)])
async def test_an_ingest_into_a_big_enough_store_starts_the_helper_as_it_begins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, early_at: int, started: int
) -> None:
    # Five candidates are too few for a search to ask for the helper (AT_LEAST): a helper that
    # runs was started by the ingest, for the searches a store of EARLY_AT papers makes.
    monkeypatch.setattr(topic_linker, "EARLY_AT", early_at)
    async with await Store.open(tmp_path / "store.db") as store:
        await store.ingest(OLDER, source="s")
        assert store._linker.helper.started == 0  # the index was empty when this began
        await store.ingest([TEACHING], source="s")
        assert store._linker.helper.started == started
        assert await store.link_pending_topics() == 5
    for slug, older in EXPECTED.items():
        assert _titles_of(tmp_path / "store.db", slug) == {"Five Definitions", f"Older Work {older}"}, slug


async def test_closing_the_store_stops_its_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topic_mentions, "AT_LEAST", 1)
    store = await Store.open(tmp_path / "store.db")
    await store.ingest(OLDER, source="s")
    await store.ingest([TEACHING], source="s")
    await store.link_pending_topics()
    helper = store._linker.helper
    assert helper.running
    assert 5 * 2**20 < store.topic_helper_peak_rss < 1_000 * 2**20  # the helper's own VmHWM, reported back
    await store.close()
    assert not helper.running


async def test_a_poll_stored_here_reports_its_helpers_peak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topic_mentions, "AT_LEAST", 1)
    async with await Store.open(tmp_path / "store.db") as store:
        await store.ingest(OLDER, source="s")
        run = await WorkerIngest(store, context=_NoProcesses()).ingest([TEACHING], source="s")  # type: ignore[arg-type]
        assert not run.in_worker and run.topics_linked == 5
        assert run.helper_peak_rss == store.topic_helper_peak_rss > 5 * 2**20
