"""A long listing stored as it is parsed: the store ends as if it had parsed first, and a bad block keeps nothing.

``ListingStream`` yields a file's records block by block while worker processes parse
the next blocks; ``Store.ingest`` given a ``size_hint`` reads it as it comes, inside its
one transaction. The block is made small here so a few thousand generated papers span
many blocks.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from bench.corpus import CorpusGenerator
from feeds.sources import _listing_blocks as blocks
from feeds.sources.listing import ListingStream, parse_listing_file, render_listing
from paperboy.cli import main
from storage import ingest_batch
from storage.errors import NotAListingError
from storage.models import PaperRecord
from storage.store import Store
from tests.helpers import REPO

AS_OF = date(2020, 3, 1)
DEMO = REPO / "examples" / "lab.txt"


def _big(tmp_path: Path, *, nul_late: bool = False) -> Path:
    lines = render_listing(CorpusGenerator(1_500, seed=11)).split("\n")
    lines[3 * 1_000] = "CVFeb 30, 2019"  # a header that names no day, in a late block
    data = "\n".join(lines).encode()
    if nul_late:
        at = data.index(b"\n", len(data) * 9 // 10) + 3
        data = data[:at] + b"\x00" + data[at + 1 :]
    path = tmp_path / "big.txt"
    path.write_bytes(data)
    return path


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocks, "BLOCK_CHARS", 50_000)
    monkeypatch.setattr(blocks, "parse_workers", lambda beside=0: 2 - beside)


def _rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_a_store_fed_as_the_parse_goes_ends_as_one_fed_the_parsed_list(
    tmp_path: Path, small_blocks: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = _big(tmp_path)
    parsed = parse_listing_file(path, as_of=AS_OF)
    stream = ListingStream(path, as_of=AS_OF, for_store=True)
    assert stream.in_blocks and abs(stream.size_hint - len(parsed.records)) < len(parsed.records) / 2
    pulled = 0

    def counted() -> Iterator[PaperRecord]:
        nonlocal pulled
        for record in stream:
            pulled += 1
            yield record

    pulled_at_progress: list[int] = []
    monkeypatch.setattr(ingest_batch, "BULK_RECORDS", 100)  # the hint decides the bulk path
    whole, fed = await Store.open(tmp_path / "whole.db"), await Store.open(tmp_path / "fed.db")
    try:
        first = await whole.ingest(parsed.records, source="big", kind="listing")
        with caplog.at_level(logging.INFO):
            second = await fed.ingest(counted(), source="big", kind="listing", size_hint=stream.size_hint,
                                      progress=lambda done: pulled_at_progress.append(pulled))
        assert (first.new, second.new) == (len(parsed.records), len(parsed.records))
        assert [(p.key, p.title, p.authors) for p in await whole.all_papers()] == [
            (p.key, p.title, p.authors) for p in await fed.all_papers()
        ]
    finally:
        await whole.close()
        await fed.close()
    # Records were stored while the rest were still to be read, not gathered first.
    assert pulled_at_progress[0] < len(parsed.records) == pulled
    assert f"batch of about {stream.size_hint} records" in caplog.text
    # One core is the store's: the parse keeps ahead of it on the other.
    assert "blocks of big.txt in 1 process" in caplog.text
    assert stream.problems == parsed.problems and [p.field for p in parsed.problems] == ["date"]
    topics = "SELECT t.slug, count(*) FROM topics t JOIN paper_topics pt ON pt.topic_id = t.id GROUP BY t.slug"
    assert sorted(_rows(tmp_path / "whole.db", topics)) == sorted(_rows(tmp_path / "fed.db", topics))
    assert len(_rows(tmp_path / "fed.db", topics)) > 10


async def test_a_bad_block_found_while_storing_leaves_the_store_as_it_was(tmp_path: Path, small_blocks: None) -> None:
    path = _big(tmp_path, nul_late=True)
    store = await Store.open(tmp_path / "s.db")
    try:
        await store.ingest(parse_listing_file(DEMO).records, source="lab", kind="listing")
        before = len(await store.all_papers())
        stream = ListingStream(path, as_of=AS_OF, for_store=True)
        with pytest.raises(NotAListingError, match="NUL byte at offset"):
            await store.ingest(stream, source="big", kind="listing", size_hint=stream.size_hint)
        assert len(await store.all_papers()) == before
        assert await store.source("big") is None
        # The store still takes a batch after the one it refused.
        (tmp_path / "ok").mkdir()
        good = ListingStream(_big(tmp_path / "ok"), as_of=AS_OF, for_store=True)
        assert (await store.ingest(good, source="big", kind="listing", size_hint=good.size_hint)).new > 1_000
    finally:
        await store.close()


def test_paperboy_ingest_stores_one_long_listing_as_it_parses(
    tmp_path: Path, small_blocks: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _big(tmp_path)
    given: list[tuple[str, object, object]] = []  # what Store.ingest was handed: type, stream.beside, size_hint
    real_ingest = Store.ingest

    async def watched(self: Store, records: object, **kwargs: object) -> object:
        given.append((type(records).__name__, getattr(records, "beside", None), kwargs.get("size_hint")))
        return await real_ingest(self, records, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "ingest", watched)
    assert main(["--db", str(tmp_path / "d.db"), "ingest", str(path), "--as-of", "2020-03-01", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["files"][0]
    expected = parse_listing_file(path, as_of=AS_OF)
    # Read as it parses (with a size), one core left to the store.
    assert given == [("ListingStream", 1, ListingStream(path).size_hint)]
    assert (report["new"], [s["line"] for s in report["skipped"]]) == (
        len(expected.records), [p.line for p in expected.problems]
    )
    # Two files are each parsed whole before either is stored, as before.
    given.clear()
    assert main(["--db", str(tmp_path / "e.db"), "ingest", str(path), str(DEMO), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["new"] == len(expected.records) + 22
    assert given == [("list", None, None), ("list", None, None)]


def test_paperboy_ingest_of_a_long_listing_with_a_bad_block_changes_nothing(
    tmp_path: Path, small_blocks: None, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "d.db")
    assert main(["--db", db, "ingest", str(DEMO)]) == 0
    capsys.readouterr()
    code = main(["--db", db, "ingest", str(_big(tmp_path, nul_late=True))])
    err = capsys.readouterr().err
    assert code != 0 and "NUL byte at offset" in err
    assert _rows(Path(db), "SELECT count(*) FROM papers") == [(22,)]
    assert _rows(Path(db), "SELECT name FROM sources") == [("lab.txt",)]
