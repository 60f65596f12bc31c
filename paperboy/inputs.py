"""Reading files given on the command line into records, whatever kind they are."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from storage.errors import NotAListingError, SourceFormatError
from storage.models import Link, Paper, PaperRecord, ParseProblem, ParseResult
from storage.records import RecordProblem, check_result, describe


def paper_json(paper: Paper) -> dict[str, Any]:
    """The export shape of one paper (the CLI's stable JSON contract)."""
    return {
        "key": paper.key,
        "title": paper.title,
        "authors": list(paper.authors),
        "authors_truncated": paper.authors_truncated,
        "category": paper.category,
        "published": paper.published.isoformat() if paper.published else None,
        "has_code": paper.has_code,
        "code_url": paper.code_url,
        "abstract": paper.abstract,
        "first_seen_at": paper.first_seen_at.isoformat(),
        "updated_at": paper.updated_at.isoformat(),
        "url": paper.url,
        "pdf_url": paper.pdf_url,
        "arxiv_id": paper.arxiv_id,
        "doi": paper.doi,
        "categories": list(paper.categories),
        "links": [{"href": lk.href, "rel": lk.rel, "type": lk.type, "title": lk.title} for lk in paper.links],
        "inferred_authors": list(paper.inferred_authors),
        "sources": list(paper.sources),
    }


def detect_kind(path: Path, head: bytes) -> str:
    suffix = path.suffix.lower()
    if suffix == ".bib":
        return "bibtex"
    if suffix == ".json":
        return "export"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<") or suffix in (".xml", ".atom", ".rss"):
        return "arxiv" if b"arxiv.org/api" in head or b"opensearch" in head else "feed"
    if stripped.startswith(b"@"):
        return "bibtex"
    return "listing"


def is_long_listing(path: Path) -> bool:
    """A listing file longer than one parse block: worth storing as it is parsed (listing.ListingStream)."""
    from feeds.sources.listing import ListingStream

    try:
        with open(path, "rb") as file:
            head = file.read(4096)
        return detect_kind(path, head) == "listing" and ListingStream(path).in_blocks
    except OSError:
        return False  # read_records says what is wrong with it


def read_records(path: Path, *, as_of: date | None = None, owner: str | None = None) -> tuple[str, ParseResult]:
    """Parse one file; returns the source kind it was read as and what it held.

    Raises NotAListingError / SourceFormatError when the file is not of any
    kind paperboy reads, so nothing is stored from it.
    """
    try:
        head = path.read_bytes()[:4096]
    except FileNotFoundError as exc:
        raise NotAListingError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise NotAListingError(f"{path}: is a directory; name the listing files inside it") from exc
    kind = detect_kind(path, head)
    if kind == "listing":
        from feeds.sources.listing import parse_listing_file

        if as_of is None:
            as_of = datetime.fromtimestamp(path.stat().st_mtime, UTC).date()
        return "listing", parse_listing_file(path, as_of=as_of, known_authors=(owner,) if owner else ())
    data = path.read_bytes()
    if kind == "bibtex":
        from feeds.sources.bibtex import parse_bibtex

        return "bibtex", parse_bibtex(_decode(path, data))
    if kind == "arxiv":
        from feeds.sources.arxiv import parse_arxiv

        return "arxiv", parse_arxiv(data).result
    if kind == "feed":
        from feeds.sources.rss import parse_feed

        return "feed", parse_feed(data)
    return "listing", parse_export(path, data)


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"{path}: not UTF-8 text (byte {exc.start}); is it the right file?") from exc


def parse_export(path: Path, data: bytes) -> ParseResult:
    """Records from ``paperboy export --json`` output, keeping keys and first sightings.

    Each entry is checked on its own: a wrong type or an impossible value skips that
    entry with a sentence naming the field, and the others are kept.
    """
    try:
        items = json.loads(_decode(path, data))
    except json.JSONDecodeError as exc:
        raise SourceFormatError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise SourceFormatError(f"{path}: the JSON is nested too deeply to be a paper export") from exc
    if not isinstance(items, list):
        raise SourceFormatError(f"{path}: expected a JSON array of papers as `paperboy export --json` writes")
    result = ParseResult()
    for i, item in enumerate(items, 1):
        try:
            result.records.append(_record_from_export(item, i))
        except RecordProblem as exc:
            result.problems.append(ParseProblem(i, exc.field, f"entry {i} skipped: {exc.message}", str(path)))
    return check_result(result, source=str(path), label="entry")


def _get(item: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = False) -> Any:
    value = item.get(name)
    if value is None:
        if required:
            raise RecordProblem(name, f"{name} is missing")
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        wanted = {str: "text", bool: "true or false", list: "a list"}.get(kind, "a value")  # type: ignore[call-overload]
        raise RecordProblem(name, f"{name} must be {wanted}, not {describe(value)}")
    return value


def _strings(item: dict[str, Any], name: str) -> tuple[str, ...]:
    values = _get(item, name, list) or []
    for value in values:
        if not isinstance(value, str):
            raise RecordProblem(name, f"every item of {name} must be text, not {describe(value)}")
    return tuple(values)


def _when(item: dict[str, Any], name: str, parse: Any) -> Any:
    raw = _get(item, name, str)
    if not raw:
        return None
    try:
        return parse(raw)
    except ValueError as exc:
        raise RecordProblem(name, f"{name} {raw[:40]!r} is not an ISO date: {exc}") from exc


def _record_from_export(item: Any, index: int) -> PaperRecord:
    if not isinstance(item, dict):
        raise RecordProblem("record", f"entry {index} is {describe(item)}, not an object")
    categories = item.get("categories")
    if isinstance(categories, str):
        raise RecordProblem(
            "categories", f"categories must be a list such as [\"CV\", \"LG\"], not the string {categories[:40]!r}"
        )
    links = []
    for link in _get(item, "links", list) or []:
        if not isinstance(link, dict) or not isinstance(link.get("href"), str):
            raise RecordProblem("links", f"each link must be an object with an href, not {describe(link)}")
        links.append(Link(link["href"], _get(link, "rel", str) or "alternate", _get(link, "type", str),
                          _get(link, "title", str)))
    return PaperRecord(
        title=_get(item, "title", str, required=True),
        authors=_strings(item, "authors"),
        authors_truncated=bool(_get(item, "authors_truncated", bool)),
        abstract=_get(item, "abstract", str) or "",
        category=_get(item, "category", str),
        categories=_strings(item, "categories"),
        published=_when(item, "published", date.fromisoformat),
        has_code=bool(_get(item, "has_code", bool)),
        code_url=_get(item, "code_url", str),
        arxiv_id=_get(item, "arxiv_id", str),
        doi=_get(item, "doi", str),
        links=tuple(links),
        line=index,
        key=_get(item, "key", str),
        first_seen_at=_when(item, "first_seen_at", datetime.fromisoformat),
        inferred_authors=_strings(item, "inferred_authors"),
        restore_sources=_strings(item, "sources"),
    )
