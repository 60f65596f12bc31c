"""The paper-listing text format: parse it into PaperRecords and render records back into it.

A listing has three lines per paper and no separators::

    CVApr 3, 2023Code
    <Title><Author 1>, <Author 2>, <Author 3> et al.
    <abstract on one line>

See feeds/sources/_listing_names.py for how the title/author boundary is found.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from feeds.sources import _listing_blocks as blocks
from feeds.sources._listing_detect import decode_listing_bytes, describe_non_listing
from feeds.sources._listing_names import (
    Candidates,
    Evidence,
    candidates,
    learn_from_line,
    normalise_name,
    split_title_authors,
)
from storage.errors import InvalidInputError, NotAListingError
from storage.models import PaperRecord, ParseProblem, ParseResult
from storage.records import check_result
from storage.text import CONTROL_CLASS, INVISIBLE_CLASS, printable_ascii

log = logging.getLogger(__name__)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {
    **{m.lower(): i for i, m in enumerate(MONTHS, 1)},
    **{
        name: i
        for i, name in enumerate(
            (
                "january", "february", "march", "april", "may", "june", "july",
                "august", "september", "october", "november", "december",
            ),
            1,
        )
    },
    "sept": 9,
}  # fmt: skip

# Loose on purpose: a line of this shape is an entry header, and what is wrong with
# it (unknown month, impossible day, missing category) is reported, not skipped silently.
_HEADER_RE = re.compile(
    r"(?P<cat>[A-Za-z][A-Za-z\-]*\.[A-Za-z][A-Za-z\-]*|[A-Z]{2,6})?"
    r"(?P<mon>[A-Z][a-z]{2,8})\.?[ ]?(?P<day>\d{1,2})"
    r"(?:[ ]?,?[ ]?(?P<year>\d{1,4}))?"
    r"[ ]?(?P<flag>[A-Za-z]+)?"
)
# Shapes of header lines too broken to read, so they are reported rather than
# taken for a wrapped abstract.
_BROKEN_HEADER_RE = re.compile(
    r"(?:[A-Z]{2,6}|[a-z][a-z\-]*\.[A-Za-z][A-Za-z\-]*)(?:[A-Z][A-Za-z]*)?[.,]?[ ]?\d"
)
_DATE_ONLY_RE = re.compile(r"[A-Za-z.]*\s*\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}\s*(?:Code)?|\d{4}-\d{2}-\d{2}.*")
_SPACES_RE = re.compile(r"[ \t\u00a0\u2007\u202f\u2009\u200a\u3000\f\v]+")
# Bidi controls and zero-width characters go before the title/author boundary is sought.
_INVISIBLE_RE = re.compile(f"[{INVISIBLE_CLASS}]")
_CONTROL_RE = re.compile(f"[{CONTROL_CLASS}]")
_URL_RE = re.compile(r"https?://[^\s<>\"'`]+")
_URL_TRAILING = ".,;:!?\"'"
# The longest line a listing may hold, in characters. Real title/author lines are
# under 2,000 and abstracts under 10,000; a longer line is reported and its entry
# skipped, so one runaway line cannot stall a parse.
MAX_LINE_CHARS = 65_536


@dataclass(slots=True)
class _Entry:
    header_line: int
    header: re.Match[str] | None
    raw_header: str
    title_line: int | None = None
    title_text: str = ""
    abstract_parts: list[str] | None = None
    too_long: int | None = None  # the first over-long line of the entry
    cands: Candidates | None = None
    plain: bool = True  # every line of the entry was printable ASCII as read

    @property
    def abstract(self) -> str:
        # A wrapped abstract is kept whole rather than losing its tail.
        return " ".join(self.abstract_parts) if self.abstract_parts else ""


def _header(line: str) -> re.Match[str] | None:
    m = _HEADER_RE.fullmatch(line)
    if m is None:
        return None
    # Without a category the shape is weak evidence: "May 3 Update" is prose.
    flag = m.group("flag")
    if m.group("cat") is None and flag is not None and flag.lower() != "code":
        return None
    return m


def _clean(line: str) -> str:
    return _clean_printable(line) if printable_ascii(line) else _clean_other(line)


def _clean_other(line: str) -> str:
    line = _CONTROL_RE.sub(" ", _INVISIBLE_RE.sub("", line))
    return _SPACES_RE.sub(" ", line).strip()


def _clean_printable(line: str) -> str:
    # The only space printable ASCII has is " ": without two in a row there is
    # nothing to collapse, and the regex pass (most of the cost) is skipped.
    return _SPACES_RE.sub(" ", line).strip() if "  " in line else line.strip()


def _split_lines(text: str) -> list[str]:
    # Not str.splitlines(): it also breaks on form feeds and U+2028, which would
    # make our line numbers disagree with every editor's.
    if "\r" not in text:
        return text.split("\n")
    return re.split(r"\r\n|\r|\n", text)


def _resolve_year(month: int, day: int, as_of: date) -> date | None:
    """The latest date with this month and day that is not after ``as_of``."""
    for year in range(as_of.year, as_of.year - 9, -1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue  # Feb 29 outside a leap year
        if candidate <= as_of:
            return candidate
    return None


def code_url_in(abstract: str) -> str | None:
    """The first http(s) URL in a text, without the punctuation that ends its sentence."""
    m = _URL_RE.search(abstract)
    if not m:
        return None
    url = m.group(0)
    while url:
        last = url[-1]
        if last in _URL_TRAILING:
            url = url[:-1]
        elif last == ")" and url.count("(") < url.count(")"):
            url = url[:-1]
        elif last == "]" and url.count("[") < url.count("]"):
            url = url[:-1]
        else:
            break
    return url if re.match(r"https?://.", url) else None


class _Problems:
    def __init__(self, source: str | None) -> None:
        self.source = source
        self.items: list[ParseProblem] = []

    def add(self, line: int, field: str, message: str) -> None:
        problem = ParseProblem(line=line, field=field, message=message, source=self.source)
        log.info("skipped listing entry: %s", problem)
        self.items.append(problem)


def _header_date(
    m: re.Match[str], as_of: date, line: int, problems: _Problems
) -> tuple[date, bool] | None:
    """The header's date and Code flag, or None after reporting what is wrong."""
    mon = m.group("mon")
    month = _MONTH_NUMBERS.get(mon.lower())
    if month is None:
        problems.add(line, "date", f"unknown month {mon!r} in header {m.group(0)!r}")
        return None
    day = int(m.group("day"))
    flag = m.group("flag")
    if flag is not None and flag.lower() != "code":
        problems.add(line, "flag", f"unknown flag {flag!r} after the date (expected 'Code')")
        return None
    year = m.group("year")
    if year is None:
        published = _resolve_year(month, day, as_of)
        if published is None:
            problems.add(line, "date", f"{mon} {day} is not a day of any recent year")
            return None
    else:
        if len(year) != 4:
            problems.add(line, "date", f"year {year!r} must have four digits")
            return None
        try:
            published = date(int(year), month, day)
        except ValueError:
            problems.add(line, "date", f"{mon} {day}, {year} is not a day of the calendar")
            return None
    return published, flag is not None


def _looks_like_broken_header(line: str) -> bool:
    """A short line with digits that opens like a header ("CVNotADate, 2023")."""
    if len(line) > 40 or not any(c.isdigit() for c in line):
        return False
    return _BROKEN_HEADER_RE.match(line) is not None or _DATE_ONLY_RE.fullmatch(line) is not None


def _collect_entries(
    lines: list[str], plain: list[bool], problems: _Problems, long_lines: dict[int, int], first_line: int
) -> list[_Entry]:
    """The entries of a block's cleaned lines; ``plain`` says which lines were printable ASCII as read."""
    entries: list[_Entry] = []
    current: _Entry | None = None
    stray: int | None = None
    for number, line in enumerate(lines, first_line):
        if number in long_lines:
            # The line stays in place (an empty stand-in) so the entry keeps its shape;
            # the entry it belongs to is reported and skipped in _record.
            if current is None:
                stray = stray or number
            else:
                current.too_long = current.too_long or number
                if current.title_line is None:
                    current.title_line, current.title_text = number, ""
                else:
                    current.abstract_parts = [*(current.abstract_parts or []), ""]
            continue
        if not line:
            continue
        header = _header(line)
        if header or _looks_like_broken_header(line):
            # A broken header still opens an entry, so its title and abstract are
            # skipped with it instead of running into the previous entry.
            current = _Entry(number, header, raw_header=line, plain=plain[number - first_line])
            entries.append(current)
        elif current is None:
            stray = stray or number
        else:
            if not plain[number - first_line]:
                current.plain = False
            if current.title_line is None:
                current.title_line, current.title_text = number, line
            elif current.abstract_parts is None:
                current.abstract_parts = [line]
            else:
                current.abstract_parts.append(line)
    if stray is not None:
        problems.add(stray, "entry", "text before the first entry header was ignored")
    return entries


def parse_listing(
    text: str,
    *,
    as_of: date | None = None,
    source: str | None = None,
    known_authors: Iterable[str] = (),
) -> ParseResult:
    """Parse listing text; malformed entries become ParseProblems, the rest PaperRecords.

    ``as_of`` (default: today, UTC) decides the year of year-less dates;
    ``known_authors`` (e.g. the source's owner) help find where titles end.
    Raises NotAListingError when the text is not a listing at all.

    A text longer than ``_listing_blocks.BLOCK_CHARS`` is read in blocks that each start at an
    entry header, each gathering its own title/author evidence: the work and the
    memory per block stay the same however long the file (a listing of all of
    arXiv is millions of entries), and any text up to a block reads exactly as a whole.
    """
    if as_of is None:
        as_of = datetime.now(UTC).date()
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        raise NotAListingError(describe_non_listing(text, source))
    known = tuple(known_authors)
    if len(text) <= blocks.BLOCK_CHARS:
        return parse_block(text, as_of, source, known, 1)
    spans = list(blocks.text_blocks(text, _opens_entry))
    # Each block's text is cut only when it is handed on, so the text is not held twice.
    return blocks.gather_parts(lambda: (text[start:end] for start, end in spans), len(spans),
                               as_of, source, known)


def _opens_entry(line: str) -> bool:
    """Does this raw line open an entry, so a block may start at it?"""
    return len(line) <= MAX_LINE_CHARS and _header(_clean(line)) is not None


def parse_block(
    text: str, as_of: date, source: str | None, known_authors: tuple[str, ...], first_line: int
) -> ParseResult:
    """One block of a listing, its lines numbered from ``first_line`` (see _listing_blocks.py)."""
    lines = _split_lines(text)
    long_lines = {i: len(line) for i, line in enumerate(lines, first_line) if len(line) > MAX_LINE_CHARS}
    for i in long_lines:
        lines[i - first_line] = ""
    plain = list(map(printable_ascii, lines))
    lines = [_clean_printable(line) if ok else _clean_other(line) for line, ok in zip(lines, plain, strict=True)]
    if not any(_header(line) for line in lines):
        raise NotAListingError(describe_non_listing(text, source))

    problems = _Problems(source)
    for number in sorted(long_lines):
        problems.add(
            number,
            "line",
            f"line is {long_lines[number]:,} characters long, over the "
            f"{MAX_LINE_CHARS:,}-character limit of a listing line; the entry holding it was skipped",
        )
    entries = _collect_entries(lines, plain, problems, long_lines, first_line)

    evidence = Evidence()
    for name in known_authors:
        if "," in name:  # "Hwang, Sangheum" as an owner is often written
            last, _, first = name.partition(",")
            name = f"{first} {last}"
        evidence.add_name(normalise_name(name))
    # Every abstract and every title prefix all readings agree on go into one pass
    # over the document's words, instead of one pass per line.
    texts: list[str] = []
    for entry in entries:
        texts.append(entry.abstract)
        entry.cands = candidates(entry.title_text)
        texts.append(learn_from_line(evidence, entry.cands))
    evidence.add_texts(texts)

    records: list[PaperRecord] = []
    printable: list[bool] = []
    for entry in entries:
        record = _record(entry, as_of, evidence, problems)
        if record is not None:
            records.append(record)
            printable.append(entry.plain)
    # A record's text comes from its entry's lines: when they were all printable ASCII as
    # read, check_result need not scan the text again (3 of its 6 us a record).
    checked = check_result(ParseResult(records=records, problems=problems.items), source=source, label="entry",
                           printable=printable)
    return ParseResult(records=checked.records, problems=sorted(checked.problems, key=lambda p: p.line))


def _record(
    entry: _Entry, as_of: date, evidence: Evidence, problems: _Problems
) -> PaperRecord | None:
    m = entry.header
    if m is None:
        problems.add(
            entry.header_line,
            "date",
            f"entry header {entry.raw_header!r} is not '<CATEGORY><Mon> <D>[, <YYYY>][Code]' "
            "(e.g. 'CVApr 3, 2023Code')",
        )
        return None
    if m.group("cat") is None:
        problems.add(
            entry.header_line, "category", f"header {m.group(0)!r} has no category before the date"
        )
        return None
    dated = _header_date(m, as_of, entry.header_line, problems)
    if dated is None:
        return None
    published, has_code = dated
    if entry.title_line is None:
        problems.add(entry.header_line, "title", "entry has no title/author line after its header")
        return None
    if entry.too_long is not None:
        return None  # already reported, with the line that is too long
    split = split_title_authors(entry.cands or entry.title_text, evidence)
    if split is None:
        problems.add(
            entry.title_line,
            "authors",
            f"no author list found after the title in {entry.title_text[:80]!r}",
        )
        return None
    return PaperRecord(
        title=split.title,
        authors=split.authors,
        authors_truncated=split.truncated,
        abstract=entry.abstract,
        category=m.group("cat"),
        categories=(m.group("cat"),),
        published=published,
        has_code=has_code,
        code_url=code_url_in(entry.abstract) if has_code else None,
        line=entry.header_line,
    )


def parse_listing_file(path: Path, *, as_of: date | None = None, known_authors: Iterable[str] = ()) -> ParseResult:
    """Parse a listing file; ``as_of`` defaults to the file's modification date (UTC).

    A file longer than one block is cut into blocks of its bytes that worker processes
    read and decode themselves, so this process never holds the whole text.
    """
    stream = ListingStream(path, as_of=as_of, known_authors=known_authors)
    return ParseResult(records=list(stream), problems=stream.problems)


class ListingStream:
    """A listing file's records, read block by block as they are asked for: for a store to take as they come.

    Storing a million papers takes several times as long as parsing them, so a store fed
    from this starts on the first block's records while later blocks are still being
    parsed, instead of waiting for the whole file (parse_listing_file is this, gathered).
    ``problems`` is complete, in line order, once the records have all been read. A file
    that cannot be read raises at the block that shows it, so a store taking the records
    in one transaction keeps none of them.
    """

    # What a record of the seed and of arXiv-sized listings takes in a file, about: for
    # ``size_hint``, which only decides whether a store's bulk path is worth taking.
    BYTES_PER_RECORD = 1_400

    def __init__(
        self, path: Path, *, as_of: date | None = None, known_authors: Iterable[str] = (), for_store: bool = False
    ) -> None:
        self.path = Path(path)
        # A store reading the records as they come keeps one core busy throughout, and the
        # parse on one core less still keeps ahead of it. Workers on every core only took
        # turns with the store's thread: at 200,000 papers, storing as it parsed was no
        # quicker than parsing first.
        self.beside = 1 if for_store else 0
        stat = self.path.stat()
        self.size = stat.st_size
        self.as_of = as_of or datetime.fromtimestamp(stat.st_mtime, UTC).date()
        self.known = tuple(known_authors)
        self.problems: list[ParseProblem] = []

    @property
    def in_blocks(self) -> bool:
        """Whether the file is read in more than one block (a shorter one is parsed whole at the first record)."""
        return self.size > blocks.BLOCK_CHARS

    @property
    def size_hint(self) -> int:
        """About how many records the file holds (its bytes over BYTES_PER_RECORD), before any is read."""
        return max(1, self.size // self.BYTES_PER_RECORD)

    def __iter__(self) -> Iterator[PaperRecord]:
        self.problems = []
        for part in self._parts():
            self.problems += part.problems
            yield from part.records
        self.problems.sort(key=lambda p: p.line)

    def _parts(self) -> Iterator[ParseResult]:
        path = self.path
        with open(path, "rb") as file:
            head = file.read(3)
        if not self.in_blocks or head.startswith((b"\xff\xfe", b"\xfe\xff")):
            yield parse_listing(decode_listing_bytes(path.read_bytes(), path.name), as_of=self.as_of,
                                source=path.name, known_authors=self.known)
            return
        begin = 3 if head == b"\xef\xbb\xbf" else 0
        yield from blocks.parts(lambda: blocks.file_blocks(path, begin, _opens_entry),
                                blocks.file_block_count(self.size - begin), self.as_of, path.name, self.known,
                                beside=self.beside)


def render_listing(records: Iterable[PaperRecord]) -> str:
    """Write records in the listing format (the inverse of parse_listing)."""
    out: list[str] = []
    for record in records:
        where = f"record {record.title[:60]!r}"
        if not record.category:
            raise InvalidInputError(f"{where} has no category; a listing header needs one")
        if record.published is None:
            raise InvalidInputError(f"{where} has no date; a listing header needs one")
        if not record.authors:
            raise InvalidInputError(f"{where} has no authors; a listing line needs at least one")
        d = record.published
        flag = "Code" if record.has_code else ""
        out.append(f"{record.category}{MONTHS[d.month - 1]} {d.day}, {d.year}{flag}")
        authors = ", ".join(normalise_name(a) for a in record.authors)
        tail = " et al." if record.authors_truncated else ""
        out.append(f"{normalise_name(record.title)}{authors}{tail}")
        abstract = normalise_name(record.abstract)
        if abstract:
            out.append(abstract)
    return "\n".join(out) + "\n" if out else ""


__all__ = [
    "ListingStream",
    "code_url_in",
    "decode_listing_bytes",
    "parse_listing",
    "parse_listing_file",
    "render_listing",
]
