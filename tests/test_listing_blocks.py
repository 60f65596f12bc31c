"""A listing longer than one block is read block by block, numbered and reported as one file.

``parse_listing`` reads text over ``BLOCK_CHARS`` in blocks that open at an entry
header, so the memory a parse holds does not grow with the file. Here the block is
made small so a few thousand generated papers span many blocks, with CRLF line ends,
a line over the length limit and broken entries placed in later blocks.
"""

from __future__ import annotations

from datetime import date
from itertools import pairwise

import pytest

from bench.corpus import CorpusGenerator
from feeds.sources import listing
from feeds.sources.listing import MAX_LINE_CHARS, parse_listing, render_listing
from storage.models import ParseResult

AS_OF = date(2020, 3, 1)


def _text() -> str:
    lines = render_listing(CorpusGenerator(1_500, seed=5)).split("\n")
    # Breakage in later blocks: a date that does not exist, and an abstract line too long to read.
    lines[3 * 700] = "CVFeb 30, 2019"
    lines[3 * 1100 + 2] = "x" * (MAX_LINE_CHARS + 1)
    return "\r\n".join(lines)


def _parse(text: str, block: int, monkeypatch: pytest.MonkeyPatch) -> ParseResult:
    monkeypatch.setattr(listing, "BLOCK_CHARS", block)
    return parse_listing(text, as_of=AS_OF, source="big.txt", known_authors=("Hwang, Sangheum",))


def test_blocks_read_as_one_file(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _text()
    whole = _parse(text, len(text) + 1, monkeypatch)
    monkeypatch.setattr(listing, "BLOCK_CHARS", 50_000)
    blocks = list(listing._blocks(text))
    assert len(blocks) > 20
    # Blocks tile the text, and each after the first opens at an entry header.
    assert blocks[0][0] == 0 and blocks[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in pairwise(blocks))
    assert all(listing._header(text[s : text.index("\n", s)].strip()) for s, _, _ in blocks[1:])
    parts = _parse(text, 50_000, monkeypatch)

    assert [r.line for r in parts.records] == [r.line for r in whole.records]
    assert [(p.line, p.field, p.message) for p in parts.problems] == [
        (p.line, p.field, p.message) for p in whole.problems
    ]
    assert {p.field for p in parts.problems} >= {"line", "date"}
    long_line = next(p for p in parts.problems if p.field == "line")
    assert long_line.line == 3 * 1100 + 3  # numbered in the whole file, not in its block
    # The title/author evidence is gathered per block, so a run-together boundary a block
    # has too little evidence for may read differently: blocks of ~35 papers here, so a few.
    # (At the real block size, ~45,000 papers, 74 of 100,000 generated papers read differently.)
    same = sum(a == b for a, b in zip(parts.records, whole.records, strict=True))
    assert same >= 0.99 * len(whole.records)


def test_a_text_within_one_block_is_one_block() -> None:
    text = render_listing(CorpusGenerator(50, seed=5))
    assert list(listing._blocks(text)) == [(0, len(text), 1)]


def test_blocks_read_in_worker_processes_read_as_in_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    text = _text()
    monkeypatch.setattr(listing, "MAX_LINE_CHARS", 4_000)  # the workers must read with the parent's limit
    monkeypatch.setattr(listing, "parse_workers", lambda: 1)
    here = _parse(text, 200_000, monkeypatch)
    monkeypatch.setattr(listing, "parse_workers", lambda: 2)
    with caplog.at_level("INFO", logger="feeds.sources.listing"):
        there = _parse(text, 200_000, monkeypatch)
    assert any("in 2 processes" in r.getMessage() for r in caplog.records)
    assert there.records == here.records
    assert [(p.line, p.field, p.message) for p in there.problems] == [
        (p.line, p.field, p.message) for p in here.problems
    ]
    assert any(p.field == "line" and "4,000-character limit" in p.message for p in there.problems)


def test_a_listing_parses_here_when_no_process_can_be_started(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    text = _text()
    here = _parse(text, 200_000, monkeypatch)

    class NoProcesses:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise OSError("processes are not allowed here")

    monkeypatch.setattr(listing, "parse_workers", lambda: 2)
    monkeypatch.setattr(listing, "ProcessPoolExecutor", NoProcesses)
    with caplog.at_level("WARNING", logger="feeds.sources.listing"):
        again = _parse(text, 200_000, monkeypatch)
    assert any("parsing it in this process" in r.getMessage() for r in caplog.records)
    assert again.records == here.records
