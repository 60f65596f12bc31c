"""Reading a long listing in blocks: where each block opens, and parsing blocks in worker processes.

A block opens at an entry header and gathers its own title/author evidence, so blocks
are independent: one read in another process reads exactly as it would here. A long
*file* is cut into blocks of its bytes, and each worker reads and decodes its own
range: the parent never holds the whole text (a listing of all of arXiv is gigabytes,
and decoding it alone took the parent 4 to 15 seconds before any worker could start).
"""

from __future__ import annotations

import gc
import itertools
import logging
import multiprocessing
import operator
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from feeds.sources._listing_detect import decode_listing_bytes
from storage import heap
from storage.models import PaperRecord, ParseProblem, ParseResult, only_listing_fields

log = logging.getLogger(__name__)

# Text read as one block: about 45,000 entries of a typical listing. A file's blocks
# are this many bytes, a text's this many characters.
BLOCK_CHARS = 64 << 20
_PEEK = 16 << 10  # bytes read at a time around a cut: a line or a few, not megabytes


@dataclass(frozen=True, slots=True)
class FileRange:
    """Bytes ``start`` to ``end`` of a listing file, read and decoded by whoever parses them."""

    path: str
    start: int
    end: int

    def text(self, source: str | None) -> str:
        with open(self.path, "rb") as file:
            file.seek(self.start)
            data = file.read(self.end - self.start)
        return decode_listing_bytes(data, source, offset=self.start)


Piece = str | FileRange  # a block's text, or where in its file to read it
IsHeader = Callable[[str], bool]  # does this raw line (no line end) open an entry?


def parse_workers(*, beside: int = 0) -> int:
    """Processes that parse the blocks of a long listing: one per core, less ``beside`` kept for other work.

    0 means parsing in this process.
    """
    left = min(os.cpu_count() or 1, 8) - beside
    if beside:
        return max(left, 0)  # even one process lets the parse go on beside the other work
    return left if left >= 2 else 0  # one process alone would only add the pickling


def text_blocks(text: str, is_header: IsHeader) -> Iterator[tuple[int, int]]:
    """(start, end) of blocks of about BLOCK_CHARS, each opening at a header."""
    start, size = 0, len(text)
    step = block_size(size)
    while start < size:
        end = _cut_after(start, 0, step)
        while end < size:
            newline = text.find("\n", end)
            if newline < 0:
                end = size
                break
            end = newline + 1
            line_end = text.find("\n", end)
            if is_header(text[end : size if line_end < 0 else line_end]):
                break
        end = min(end, size)
        yield start, end
        start = end


def file_blocks(path: Path, begin: int, is_header: IsHeader) -> Iterator[FileRange]:
    """A long file's blocks of about BLOCK_CHARS bytes from ``begin``, each opening at a header.

    Only a line or two around each cut is read here: whoever parses a block reads and
    decodes its bytes, refusing binary data as decoding the whole file would have, and
    counts its lines (see parse_blocks). A block is cut only after a newline byte, which
    never falls inside a UTF-8 character.
    """
    size = path.stat().st_size
    start = begin
    step = block_size(size - begin)
    with open(path, "rb") as file:
        while start < size:
            end = _next_opening(file, _cut_after(start, begin, step), size, is_header)
            yield FileRange(str(path), start, end)
            start = end


def file_block_count(size: int) -> int:
    """How many blocks file_blocks yields at most for ``size`` bytes (each but the last holds block_size or more)."""
    count = max(1, -(-size // BLOCK_CHARS))
    return count + 1 if count > 1 and count % 2 else count


def block_size(total: int) -> int:
    """Where, ``total`` characters or bytes long, each block of a text or file is cut (then on to a header).

    An even number of blocks of one size, none over BLOCK_CHARS: cut at BLOCK_CHARS, a
    million papers made 20 full blocks and a shorter one, and on two cores that last block
    was parsed alone while the other core waited (3 to 4 s of 52). The cuts are at
    multiples of this from the start, so the lines each block runs on past its cut do not
    add up into one block fewer. The size alone decides them: a file reads the same on any
    machine.
    """
    return max(1, -(-total // file_block_count(total)))


def _cut_after(start: int, origin: int, step: int) -> int:
    """The first cut past ``start``: cuts fall at multiples of ``step`` from ``origin`` (see block_size)."""
    return origin + ((start - origin) // step + 1) * step


def _next_opening(file: BinaryIO, at: int, size: int, is_header: IsHeader) -> int:
    """The start of the first header line after the first newline at or past byte ``at``, or ``size``."""
    limit = _longest_line_bytes()
    at = _past_newline(file, at, size)
    while at < size:
        file.seek(at)
        window = file.read(min(_PEEK, limit + 1))
        pos = 0
        while (line_end := window.find(b"\n", pos)) >= 0:
            if is_header(window[pos:line_end].decode("utf-8", "replace")):
                return at + pos
            pos = line_end + 1
        if pos:
            at += pos  # the window's unfinished last line is read again from its start
            continue
        if at + len(window) >= size:  # the file's last line, with no newline after it
            return at if is_header(window.decode("utf-8", "replace")) else size
        if len(window) <= limit:  # a long line: read it up to the limit
            file.seek(at)
            window = file.read(limit + 1)
            line_end = window.find(b"\n")
            if line_end >= 0:
                if is_header(window[:line_end].decode("utf-8", "replace")):
                    return at
                at += line_end + 1
                continue
        at = _past_newline(file, at + len(window), size)  # a line over the limit is no header
    return size


def _past_newline(file: BinaryIO, at: int, size: int) -> int:
    """Just past the first newline byte at or after ``at``, or ``size``."""
    file.seek(at)
    while at < size:
        data = file.read(_PEEK)
        if not data:
            break
        newline = data.find(b"\n")
        if newline >= 0:
            return at + newline + 1
        at += len(data)
    return size


def _longest_line_bytes() -> int:
    from feeds.sources import listing

    return 4 * listing.MAX_LINE_CHARS  # a UTF-8 character is at most four bytes


def parse_blocks(
    pieces: Iterable[Piece], count: int, as_of: date, source: str | None, known: tuple[str, ...], workers: int,
    first_line: int = 1,
) -> Iterator[tuple[ParseResult, int]]:
    """Each block's result in order, and its count of lines, parsed in ``workers`` processes (0: in this one).

    The first block's first line is ``first_line``. A worker numbers its block's lines
    from 1 and counts them, and its result is moved on here by the lines of the blocks
    before: so this process reads no block's bytes, which took it 2 us of CPU a record
    beside the workers (at a million papers, 1.4 GB read and counted on a busy core).
    At most two blocks per worker are in flight, so the memory held stays a few blocks
    however long the listing.
    """
    from feeds.sources import listing

    workers = min(workers, count)
    with heap.collector_paused():  # the results unpickled here are millions of objects
        if workers < 1:
            for piece in pieces:
                result, lines = _parse_piece(piece, as_of, source, known, first_line)
                yield result, lines
                first_line += lines
            return
        log.info("parsing %d blocks of %s in %s", count, source or "a listing",
                 f"{workers} processes" if workers > 1 else "1 process")
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=gc.disable) as pool:
            pending: deque[Future[PackedResult]] = deque()

            def in_order() -> Iterator[PackedResult]:
                for piece in pieces:
                    pending.append(pool.submit(_parse_piece_in_worker, piece, as_of, source, known,
                                               listing.MAX_LINE_CHARS))
                    if len(pending) >= 2 * workers:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()

            try:
                for packed in in_order():
                    yield unpack(packed, first_line - 1), packed.lines
                    first_line += packed.lines
            except BaseException:
                # A bad block (binary data, a worker's error) or a caller that stopped
                # reading: the blocks still queued are not worth waiting for.
                pool.shutdown(wait=True, cancel_futures=True)
                raise


def _parse_piece_in_worker(
    piece: Piece, as_of: date, source: str | None, known: tuple[str, ...], max_line_chars: int
) -> PackedResult:
    """One block's result in a worker process, its lines numbered from 1; it reads with the parent's line limit."""
    from feeds.sources import listing

    listing.MAX_LINE_CHARS = max_line_chars  # a test may have set it in the parent
    # The worker runs with the automatic collector off (see heap.collector_paused); what
    # the block before left behind is collected once here instead.
    gc.collect()
    return pack(*_parse_piece(piece, as_of, source, known, 1))


# The fields a listing record can hold, in PaperRecord's order up to ``line``; every other
# field keeps its default, which ``unpack`` gives back.
_COLUMNS = ("title", "authors", "authors_truncated", "abstract", "category", "published", "has_code", "code_url",
            "line")
_column_values = operator.attrgetter(*_COLUMNS)


@dataclass(frozen=True, slots=True)
class PackedResult:
    """A block's result as it crosses from a worker: its records as one column a field.

    Half a block's pickling and unpickling went into records one object at a time (their
    field tuples, 45,000 dates): columns of plain values cost 3.4 us a record across
    against 10.9, and ``unpack`` builds the records in one C loop. ``records`` holds the
    records themselves when one has a field a listing never fills.
    """

    columns: tuple[list[Any], ...] | None
    records: list[PaperRecord] | None
    problems: list[ParseProblem]
    lines: int  # the block's newlines, for numbering the lines of the blocks after it


def _listing_shaped(record: PaperRecord) -> bool:
    return record.categories == (record.category,) and only_listing_fields(record)


def pack(result: ParseResult, lines: int = 0) -> PackedResult:
    """``result`` (of a block of ``lines`` newlines) in columns when every record is shaped as a listing's."""
    records = result.records
    if not all(map(_listing_shaped, records)):
        return PackedResult(None, records, result.problems, lines)
    columns = tuple(list(column) for column in zip(*map(_column_values, records), strict=True))
    if columns:
        # Dates go as day numbers: a date object pickles as a call with its bytes.
        columns[5][:] = [None if day is None else day.toordinal() for day in columns[5]]
    return PackedResult(columns, None, result.problems, lines)


def unpack(packed: PackedResult, shift: int = 0) -> ParseResult:
    """The ParseResult ``pack`` was given, equal field for field, its line numbers moved on by ``shift``."""
    problems = [replace(p, line=p.line + shift) for p in packed.problems] if shift else packed.problems
    if packed.columns is None:
        records = packed.records or []
        if shift:
            records = [replace(r, line=r.line + shift) if r.line is not None else r for r in records]
        return ParseResult(records=records, problems=problems)
    if not packed.columns:
        return ParseResult(records=[], problems=problems)
    title, authors, truncated, abstract, category, days, has_code, code_url, line = packed.columns
    if shift:
        line = [None if n is None else n + shift for n in line]
    dates: dict[int | None, date | None] = {day: date.fromordinal(day) for day in set(days) if day is not None}
    dates[None] = None
    singles = {name: (name,) for name in set(category)}
    none, empty = itertools.repeat(None), itertools.repeat(())
    # PaperRecord's fields in order: categories after category, and arxiv_id to journal_ref before line.
    records = list(map(PaperRecord, title, authors, truncated, abstract, category, map(singles.__getitem__, category),
                       map(dates.__getitem__, days), has_code, code_url, none, none, none, empty, none, none, line))
    return ParseResult(records=records, problems=problems)


def _parse_piece(
    piece: Piece, as_of: date, source: str | None, known: tuple[str, ...], first_line: int
) -> tuple[ParseResult, int]:
    """A block's result, its lines numbered from ``first_line``, and how many newlines it holds."""
    from feeds.sources import listing

    text = piece if isinstance(piece, str) else piece.text(source)
    return listing.parse_block(text, as_of, source, known, first_line), text.count("\n")


def gather_parts(pieces: Callable[[], Iterator[Piece]], count: int, as_of: date, source: str | None,
                 known: tuple[str, ...]) -> ParseResult:
    """Every block's records and problems as one result (see ``parts``)."""
    records: list[PaperRecord] = []
    problems: list[ParseProblem] = []
    for part in parts(pieces, count, as_of, source, known):
        records += part.records
        problems += part.problems
    return ParseResult(records=records, problems=sorted(problems, key=lambda p: p.line))


def parts(
    pieces: Callable[[], Iterator[Piece]], count: int, as_of: date, source: str | None, known: tuple[str, ...], *,
    beside: int = 0,
) -> Iterator[ParseResult]:
    """Each block's result in order, from worker processes, or from this one when there are none to be had.

    ``beside``: cores left to the caller's own work (see parse_workers).
    """
    done, first_line = 0, 1
    try:
        for part, lines in parse_blocks(pieces(), count, as_of, source, known, parse_workers(beside=beside)):
            yield part
            done += 1
            first_line += lines
    except (OSError, BrokenProcessPool) as exc:  # no processes to be had here: read the rest in this one
        log.warning("parsing %s in worker processes failed (%s); parsing it in this process", source, exc)
        rest = itertools.islice(pieces(), done, None)
        yield from (part for part, _ in parse_blocks(rest, count - done, as_of, source, known, 0, first_line))
