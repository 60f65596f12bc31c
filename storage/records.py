"""Checking parsed records before they are stored: types, ranges and invisible characters, per record.

Every parser passes its ParseResult through check_result, so a record that a
hostile or broken document produced (a dict where a DOI goes, a first sighting
in 2099, a title holding a right-to-left override) is cleaned or reported with
a sentence, and the good records beside it are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from storage.models import Link, PaperRecord, ParseProblem, ParseResult, only_listing_fields
from storage.text import clean_line, clean_spacing, is_clean_line, printable_ascii, strip_invisible

log = logging.getLogger(__name__)

# A first sighting may be this far ahead of this machine's clock (another
# machine's clock, a restore made a moment ago), no further.
FUTURE_SLACK = timedelta(minutes=10)
# Publication dates: proceedings and clock skew are fine; a date ten years ahead is a typo.
_EARLIEST = date(1000, 1, 1)
_AHEAD = timedelta(days=3653)
_MAX_TITLE = 2_000
_MAX_NAME = 300
_MAX_ABSTRACT = 100_000
_MAX_ID = 300
_MAX_CATEGORY = 200


class RecordProblem(ValueError):
    """One field of one record is unusable: the field and a sentence saying why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def describe(value: Any) -> str:
    """A value's JSON-ish type name, for messages: 'an object', 'a list', 'a number'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _text(value: Any, field: str, *, limit: int, required: bool = False) -> str:
    if not isinstance(value, str):
        raise RecordProblem(field, f"{field} must be text, not {describe(value)}")
    cleaned = clean_line(value)
    if required and not cleaned:
        raise RecordProblem(field, f"the {field} is empty")
    if len(cleaned) > limit:
        raise RecordProblem(field, f"the {field} is {len(cleaned):,} characters long (at most {limit:,})")
    return cleaned


def _optional_text(value: Any, field: str, *, limit: int = _MAX_ID) -> str | None:
    if value is None:
        return None
    cleaned = _text(value, field, limit=limit)
    return cleaned or None


def _names(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, (tuple, list)):
        raise RecordProblem(field, f"{field} must be a list of names, not {describe(value)}")
    names = tuple(_text(name, field, limit=_MAX_NAME) for name in value)
    if any(not name for name in names):
        raise RecordProblem(field, "an author name is empty (or only invisible characters)")
    return names


def _categories(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        raise RecordProblem(
            "categories",
            f"categories must be a list such as [\"CV\", \"LG\"], not the string {value[:40]!r}",
        )
    if not isinstance(value, (tuple, list)):
        raise RecordProblem("categories", f"categories must be a list, not {describe(value)}")
    out = []
    for item in value:
        if not isinstance(item, str):
            raise RecordProblem("categories", f"a category must be text, not {describe(item)}")
        code = clean_line(item)
        if code and len(code) <= _MAX_CATEGORY:  # a feed's free-form tag may be anything; keep sane ones
            out.append(code)
    return tuple(dict.fromkeys(out))


def _links(value: Any) -> tuple[Link, ...]:
    if not isinstance(value, (tuple, list)):
        raise RecordProblem("links", f"links must be a list, not {describe(value)}")
    out = []
    for link in value:
        if not isinstance(link, Link):
            raise RecordProblem("links", f"a link must be an object with an href, not {describe(link)}")
        href = _text(link.href, "links", limit=4_000)
        if not href:
            continue
        out.append(
            Link(
                href=href,
                rel=_text(link.rel, "links", limit=40) or "alternate",
                type=_optional_text(link.type, "links"),
                title=_optional_text(link.title, "links", limit=_MAX_TITLE),
            )
        )
    return tuple(out)


def _published(value: Any, today: date) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise RecordProblem("published", f"the publication date must be a date, not {describe(value)}")
    if value < _EARLIEST or value > today + _AHEAD:
        raise RecordProblem(
            "published", f"the publication date {value.isoformat()} is out of range (year 1000 to ten years from now)"
        )
    return value


def _first_seen(value: Any, now: datetime) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise RecordProblem("first_seen_at", f"first_seen_at must be a date and time, not {describe(value)}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value > now + FUTURE_SLACK:
        raise RecordProblem(
            "first_seen_at",
            f"first_seen_at {value.isoformat()} is in the future (now is {now.isoformat(timespec='seconds')}); "
            "it would pin the paper to the top of every feed: correct it or remove the field",
        )
    return value


def _clean(text: object, limit: int, printable: bool = False) -> bool:
    """Text that clean_line hands back as it is, not empty and within ``limit``: checked without a copy.

    ``printable``: the caller vouches that the text is printable ASCII (see _already_clean).
    """
    return type(text) is str and 0 < len(text) <= limit and (
        clean_spacing(text) if printable else is_clean_line(text))


def _already_clean(record: PaperRecord, today: date, printable: bool = False) -> bool:
    """Whether check_record would hand ``record`` back as it is, decided without rebuilding it.

    A parser's record nearly always is (ASCII text, no stray spaces, only the fields
    its format has): the full check took 14 us a listing record, this one 6. Anything
    this does not recognise goes the whole way; the two must agree, which
    tests/test_check_record.py checks on generated records.

    ``printable``: the caller vouches that every text of the record is printable ASCII, as
    the listing parser does for an entry whose lines all were as it read them: those
    scans, half the check's time, are skipped, and everything else is checked as before.
    """
    abstract, published, category = record.abstract, record.published, record.category
    return (
        type(record.has_code) is bool and type(record.authors_truncated) is bool
        and only_listing_fields(record)
        and type(abstract) is str and len(abstract) <= _MAX_ABSTRACT and (printable or printable_ascii(abstract))
        and abstract[:1] != " " and abstract[-1:] != " "
        and (published is None or (type(published) is date and _EARLIEST <= published <= today + _AHEAD))
        and _clean(record.title, _MAX_TITLE, printable)
        and type(record.authors) is tuple and all(_clean(name, _MAX_NAME, printable) for name in record.authors)
        and (category is None or _clean(category, _MAX_CATEGORY, printable))
        and type(record.categories) is tuple and all(_clean(c, _MAX_CATEGORY, printable) for c in record.categories)
        and len(set(record.categories)) == len(record.categories)
        and (record.code_url is None or _clean(record.code_url, 4_000, printable))
    )


def check_record(record: PaperRecord, *, now: datetime | None = None, printable: bool = False) -> PaperRecord:
    """The record with its text cleaned, or RecordProblem naming the first bad field.

    ``printable``: every text of the record is known to be printable ASCII (see _already_clean).
    """
    now = now or datetime.now(UTC)
    if _already_clean(record, now.date(), printable):
        return record
    return _check_fully(record, now)


def _check_fully(record: PaperRecord, now: datetime) -> PaperRecord:
    if not isinstance(record.has_code, bool) or not isinstance(record.authors_truncated, bool):
        raise RecordProblem("has_code", "has_code and authors_truncated must be true or false")
    abstract = record.abstract
    if not isinstance(abstract, str):
        raise RecordProblem("abstract", f"the abstract must be text, not {describe(abstract)}")
    abstract = strip_invisible(abstract).strip()
    if len(abstract) > _MAX_ABSTRACT:
        raise RecordProblem(
            "abstract", f"the abstract is {len(abstract):,} characters long (at most {_MAX_ABSTRACT:,})"
        )
    version = record.arxiv_version
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or not 0 < version < 1000):
        raise RecordProblem("arxiv_version", f"arXiv version {version!r} is not a small positive number")
    checked = {
        "title": _text(record.title, "title", limit=_MAX_TITLE, required=True),
        "authors": _names(record.authors, "authors"),
        "abstract": abstract,
        "category": _optional_text(record.category, "category", limit=_MAX_CATEGORY),
        "categories": _categories(record.categories),
        "published": _published(record.published, now.date()),
        "code_url": _optional_text(record.code_url, "code_url", limit=4_000),
        "arxiv_id": _optional_text(record.arxiv_id, "arxiv_id"),
        "doi": _optional_text(record.doi, "doi"),
        "links": _links(record.links),
        "comment": _optional_text(record.comment, "comment", limit=_MAX_ABSTRACT),
        "journal_ref": _optional_text(record.journal_ref, "journal_ref", limit=_MAX_TITLE),
        "key": _optional_text(record.key, "key"),
        "first_seen_at": _first_seen(record.first_seen_at, now),
        "inferred_authors": _names(record.inferred_authors, "inferred_authors"),
        "restore_sources": tuple(_text(s, "sources", limit=_MAX_ID) for s in record.restore_sources),
    }
    # A parser's record is nearly always clean already: handed back as it is, not rebuilt.
    changed = {name: value for name, value in checked.items() if value != getattr(record, name)}
    return replace(record, **changed) if changed else record


def check_result(
    result: ParseResult, *, source: str | None = None, label: str = "record", printable: Sequence[bool] = ()
) -> ParseResult:
    """A ParseResult whose records all passed check_record; the others become problems.

    ``printable``, when given, holds for each record whether its parser vouches that every
    text of it is printable ASCII (see _already_clean).
    """
    now = datetime.now(UTC)
    records: list[PaperRecord] = []
    problems = list(result.problems)
    if printable and len(printable) != len(result.records):
        raise ValueError(f"{len(printable)} printable flags for {len(result.records)} records")
    for index, record in enumerate(result.records, 1):
        try:
            records.append(check_record(record, now=now, printable=bool(printable) and printable[index - 1]))
        except RecordProblem as exc:
            line = record.line or index
            problem = ParseProblem(line, exc.field, f"{label} skipped: {exc.message}", source)
            log.warning("skipped %s", problem)
            problems.append(problem)
    if len(problems) == len(result.problems):
        return ParseResult(records=records, problems=problems)
    return ParseResult(records=records, problems=sorted(problems, key=lambda p: p.line))
