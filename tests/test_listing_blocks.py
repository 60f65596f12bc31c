"""A listing longer than one block is read block by block, numbered and reported as one file.

``parse_listing`` reads text over ``BLOCK_CHARS`` in blocks that open at an entry
header, so the memory a parse holds does not grow with the file. Here the block is
made small so a few thousand generated papers span many blocks, with CRLF line ends,
a line over the length limit and broken entries placed in later blocks.
"""

from __future__ import annotations

import gc
import pickle
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path
from typing import BinaryIO

import pytest

from bench.corpus import CorpusGenerator
from feeds.sources import _listing_blocks as blocks
from feeds.sources import listing
from feeds.sources.listing import (
    MAX_LINE_CHARS,
    decode_listing_bytes,
    parse_listing,
    parse_listing_file,
    render_listing,
)
from storage.errors import NotAListingError
from storage.models import Link, PaperRecord, ParseResult

AS_OF = date(2020, 3, 1)


def _text() -> str:
    lines = render_listing(CorpusGenerator(1_500, seed=5)).split("\n")
    # Breakage in later blocks: a date that does not exist, and an abstract line too long to read.
    lines[3 * 700] = "CVFeb 30, 2019"
    lines[3 * 1100 + 2] = "x" * (MAX_LINE_CHARS + 1)
    return "\r\n".join(lines)


def _parse(text: str, block: int, monkeypatch: pytest.MonkeyPatch) -> ParseResult:
    monkeypatch.setattr(blocks, "BLOCK_CHARS", block)
    return parse_listing(text, as_of=AS_OF, source="big.txt", known_authors=("Hwang, Sangheum",))


def _file(tmp_path: Path, text: str, *, bom: bool = True) -> Path:
    path = tmp_path / "big.txt"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def _parse_file(path: Path, block: int, monkeypatch: pytest.MonkeyPatch) -> ParseResult:
    monkeypatch.setattr(blocks, "BLOCK_CHARS", block)
    return parse_listing_file(path, as_of=AS_OF, known_authors=("Hwang, Sangheum",))


def test_blocks_read_as_one_file(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _text()
    whole = _parse(text, len(text) + 1, monkeypatch)
    monkeypatch.setattr(blocks, "BLOCK_CHARS", 50_000)
    spans = list(blocks.text_blocks(text, listing._opens_entry))
    assert len(spans) > 20
    # Blocks tile the text, and each after the first opens at an entry header.
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in pairwise(spans))
    assert all(listing._header(text[s : text.index("\n", s)].strip()) for s, _ in spans[1:])
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
    assert list(blocks.text_blocks(text, listing._opens_entry)) == [(0, len(text))]


@pytest.mark.parametrize("read", ["text", "file"])
def test_blocks_read_in_worker_processes_read_as_in_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, read: str
) -> None:
    text = _text()
    path = _file(tmp_path, text)

    def parse() -> ParseResult:
        return _parse(text, 200_000, monkeypatch) if read == "text" else _parse_file(path, 200_000, monkeypatch)

    monkeypatch.setattr(listing, "MAX_LINE_CHARS", 4_000)  # the workers must read with the parent's limit
    monkeypatch.setattr(blocks, "parse_workers", lambda **_: 0)
    here = parse()
    monkeypatch.setattr(blocks, "parse_workers", lambda **_: 2)
    with caplog.at_level("INFO", logger="feeds.sources._listing_blocks"):
        there = parse()
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

    monkeypatch.setattr(blocks, "parse_workers", lambda **_: 2)
    monkeypatch.setattr(blocks, "ProcessPoolExecutor", NoProcesses)
    with caplog.at_level("WARNING", logger="feeds.sources.listing"):
        again = _parse(text, 200_000, monkeypatch)
    assert any("parsing it in this process" in r.getMessage() for r in caplog.records)
    assert again.records == here.records


def test_a_long_file_is_cut_into_blocks_of_bytes_that_read_as_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ASCII, so a block of 50,000 bytes is one of 50,000 characters: the two ways cut alike.
    text = _text().encode("ascii", "replace").decode()
    path = _file(tmp_path, text)
    monkeypatch.setattr(blocks, "BLOCK_CHARS", 50_000)
    ranges = list(blocks.file_blocks(path, 3, listing._opens_entry))
    spans = list(blocks.text_blocks(text, listing._opens_entry))
    assert [(r.start - 3, r.end - 3) for r in ranges] == spans
    in_text = _parse(text, 50_000, monkeypatch)
    in_file = _parse_file(path, 50_000, monkeypatch)
    assert in_file.records == in_text.records
    assert [(p.line, p.field, p.message) for p in in_file.problems] == [
        (p.line, p.field, p.message) for p in in_text.problems
    ]


def test_a_file_of_wide_characters_is_cut_between_characters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _text()
    assert not text.isascii()  # names with accents: blocks of bytes are no longer blocks of characters
    path = _file(tmp_path, text, bom=False)
    whole = _parse(text, len(text) + 1, monkeypatch)
    monkeypatch.setattr(blocks, "BLOCK_CHARS", 50_000)
    ranges = list(blocks.file_blocks(path, 0, listing._opens_entry))
    assert len(ranges) <= blocks.file_block_count(path.stat().st_size)
    assert len(ranges) > 20 and ranges[-1].end == path.stat().st_size
    assert all(a.end == b.start for a, b in pairwise(ranges))
    parts = _parse_file(path, 50_000, monkeypatch)
    assert [r.line for r in parts.records] == [r.line for r in whole.records]
    assert [(p.line, p.field) for p in parts.problems] == [(p.line, p.field) for p in whole.problems]
    same = sum(a == b for a, b in zip(parts.records, whole.records, strict=True))
    assert same >= 0.99 * len(whole.records)


@pytest.mark.parametrize(("bad", "expected"), [(b"\x00", "NUL byte at offset"), (b"\xe9", "byte 0xe9 at offset")])
def test_bad_bytes_deep_in_a_long_file_are_named_as_in_a_short_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: bytes, expected: str
) -> None:
    data = bytearray(_text().encode())
    at = data.index(b"\n", len(data) * 3 // 4) + 3  # inside a line of a late block
    data[at : at + 1] = bad
    path = tmp_path / "big.txt"
    path.write_bytes(bytes(data))
    with pytest.raises(NotAListingError) as whole:
        decode_listing_bytes(bytes(data), path.name)
    assert f"{expected} {at}" in str(whole.value)
    monkeypatch.setattr(blocks, "parse_workers", lambda **_: 2)
    with pytest.raises(NotAListingError) as cut:
        _parse_file(path, 50_000, monkeypatch)
    assert str(cut.value) == str(whole.value)


def test_cutting_a_file_reads_only_around_its_cuts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The workers read and count their own blocks: the parent reading them all took it
    # 2 us of CPU a record. Binary data is still refused, by the block's worker.
    data = _text().encode()
    path = tmp_path / "big.txt"
    path.write_bytes(data[:-10] + b"\x00" + data[-9:])  # binary data in the last block only
    monkeypatch.setattr(blocks, "BLOCK_CHARS", 300_000)
    read = [0]

    class Counted:
        def __init__(self, file: BinaryIO) -> None:
            self._file = file

        def __enter__(self) -> Counted:
            return self

        def __exit__(self, *exc: object) -> None:
            self._file.close()

        def seek(self, at: int) -> int:
            return self._file.seek(at)

        def read(self, n: int) -> bytes:
            chunk = self._file.read(n)
            read[0] += len(chunk)
            return chunk

    monkeypatch.setattr(blocks, "open", lambda *a, **k: Counted(open(*a, **k)), raising=False)
    ranges = list(blocks.file_blocks(path, 0, listing._opens_entry))
    assert len(ranges) >= 6 and ranges[0].start == 0 and ranges[-1].end == len(data)
    assert read[0] < len(data) // 4, f"{read[0]:,} of {len(data):,} bytes read to cut the file"
    monkeypatch.undo()
    monkeypatch.setattr(blocks, "parse_workers", lambda **_: 2)
    with pytest.raises(NotAListingError, match=f"NUL byte at offset {len(data) - 10}"):
        _parse_file(path, 50_000, monkeypatch)


def test_the_collector_is_back_on_after_a_parse_in_workers_and_after_one_that_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path, _text())
    monkeypatch.setattr(blocks, "parse_workers", lambda **_: 2)
    seen: list[bool] = []
    real = listing.parse_block

    def watched(*args: object) -> ParseResult:
        seen.append(gc.isenabled())
        return real(*args)  # type: ignore[arg-type]

    assert gc.isenabled()
    assert _parse_file(path, 200_000, monkeypatch).records
    assert gc.isenabled()
    monkeypatch.setattr(blocks, "parse_workers", lambda **_: 0)
    monkeypatch.setattr(listing, "parse_block", watched)
    _parse_file(path, 200_000, monkeypatch)
    assert seen and not any(seen)  # paused while the blocks were parsed here
    assert gc.isenabled()
    path.write_bytes(path.read_bytes().replace(b"\n", b"\n\xe9", 1))  # fails inside a block
    with pytest.raises(NotAListingError):
        _parse_file(path, 200_000, monkeypatch)
    assert gc.isenabled()



def test_a_record_crosses_from_a_worker_whole_and_through_its_constructor() -> None:
    every = PaperRecord(
        title="T", authors=("A B",), authors_truncated=True, abstract="x", category="CV", categories=("CV", "LG"),
        published=date(2020, 1, 2), has_code=True, code_url="https://e.org", arxiv_id="2001.00001",
        arxiv_version=3, doi="10.1/x", links=(Link("https://e.org/p", "pdf"),), comment="c", journal_ref="j",
        line=7, key="k", first_seen_at=datetime(2020, 1, 2, tzinfo=UTC), inferred_authors=("A B",),
        restore_sources=("s",),
    )
    assert set(PaperRecord.__dataclass_fields__) == {name for name in dir(every) if not name.startswith("_")}
    assert pickle.loads(pickle.dumps(every, protocol=pickle.HIGHEST_PROTOCOL)) == every
    # The frozen dataclass's own state methods cost three times as much a record.
    assert every.__reduce_ex__(pickle.HIGHEST_PROTOCOL)[0] is PaperRecord


def test_a_blocks_records_cross_in_columns_and_come_back_equal() -> None:
    parsed = parse_listing(_text().replace("\r\n", "\n"), as_of=AS_OF, source="big.txt")
    assert len(parsed.records) > 1_000 and parsed.problems
    packed = pickle.loads(pickle.dumps(blocks.pack(parsed), protocol=pickle.HIGHEST_PROTOCOL))
    assert packed.records is None and packed.columns is not None
    back = blocks.unpack(packed)
    assert back.records == parsed.records and back.problems == parsed.problems
    assert [type(r.published) for r in back.records[:3]] == [date] * 3
    empty = blocks.unpack(pickle.loads(pickle.dumps(blocks.pack(ParseResult(problems=parsed.problems[:1])))))
    assert empty == ParseResult(records=[], problems=parsed.problems[:1])


@pytest.mark.parametrize("change", [{"categories": ("CV", "LG")}, {"doi": "10.1/x"}, {"published": None},
                                    {"links": (Link("https://e.org/p", "pdf"),)}])
def test_a_record_a_listing_could_not_hold_crosses_whole(change: dict[str, object]) -> None:
    plain = PaperRecord(title="T", authors=("A B",), abstract="x", category="CV", categories=("CV",),
                        published=date(2020, 1, 2), line=4)
    odd = PaperRecord(**{**{name: getattr(plain, name) for name in PaperRecord.__dataclass_fields__}, **change})
    packed = blocks.pack(ParseResult(records=[plain, odd]))
    assert (packed.columns is None) == ("published" not in change)
    assert blocks.unpack(pickle.loads(pickle.dumps(packed))).records == [plain, odd]


@pytest.mark.parametrize("block", [40_000, 50_000, 64_000, 90_000])
def test_a_long_text_is_cut_into_an_even_number_of_blocks_of_one_size(
    monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    # On two cores an odd last block was parsed alone while the other core waited. (A line
    # longer than a block, as _text() holds, runs past a cut and may leave one block fewer.)
    text = render_listing(CorpusGenerator(1_500, seed=5)).encode("ascii", "replace").decode()
    monkeypatch.setattr(blocks, "BLOCK_CHARS", block)
    spans = list(blocks.text_blocks(text, listing._opens_entry))
    step = blocks.block_size(len(text))
    assert step <= block and len(spans) % 2 == 0
    assert len(spans) == blocks.file_block_count(len(text)) == -(-len(text) // step)
    # Cut at multiples of one size, each block runs on to the next header: within a line or two of it.
    assert all(abs(start - k * step) < 2_000 for k, (start, _) in enumerate(spans))
    assert 0 < spans[-1][1] - spans[-1][0] <= step
