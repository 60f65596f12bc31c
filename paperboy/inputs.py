"""Reading files given on the command line into records, whatever kind they are."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from storage.errors import NotAListingError, SourceFormatError
from storage.models import Link, Paper, PaperRecord, ParseProblem, ParseResult


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
        from feeds.sources.listing import decode_listing_bytes, parse_listing

        if as_of is None:
            as_of = datetime.fromtimestamp(path.stat().st_mtime, UTC).date()
        text = decode_listing_bytes(path.read_bytes(), path.name)
        return "listing", parse_listing(text, as_of=as_of, source=path.name, known_authors=(owner,) if owner else ())
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
    """Records from ``paperboy export --json`` output, keeping keys and first sightings."""
    try:
        items = json.loads(_decode(path, data))
    except json.JSONDecodeError as exc:
        raise SourceFormatError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(items, list):
        raise SourceFormatError(f"{path}: expected a JSON array of papers as `paperboy export --json` writes")
    result = ParseResult()
    for i, item in enumerate(items, 1):
        try:
            result.records.append(_record_from_export(item, i))
        except (KeyError, TypeError, ValueError) as exc:
            field = exc.args[0] if isinstance(exc, KeyError) else "record"
            result.problems.append(ParseProblem(i, str(field), f"entry {i}: {exc}", str(path)))
    return result


def _record_from_export(item: dict[str, Any], index: int) -> PaperRecord:
    if not isinstance(item, dict):
        raise TypeError(f"entry {index} is not an object")
    published = date.fromisoformat(item["published"]) if item.get("published") else None
    first_seen = datetime.fromisoformat(item["first_seen_at"]) if item.get("first_seen_at") else None
    return PaperRecord(
        title=str(item["title"]),
        authors=tuple(str(a) for a in item["authors"]),
        authors_truncated=bool(item.get("authors_truncated", False)),
        abstract=str(item.get("abstract") or ""),
        category=item.get("category"),
        categories=tuple(item.get("categories") or ()),
        published=published,
        has_code=bool(item.get("has_code", False)),
        code_url=item.get("code_url"),
        arxiv_id=item.get("arxiv_id"),
        doi=item.get("doi"),
        links=tuple(Link(lk["href"], lk.get("rel", "alternate"), lk.get("type"), lk.get("title"))
                    for lk in item.get("links") or ()),
        line=index,
        key=item.get("key"),
        first_seen_at=first_seen,
        inferred_authors=tuple(str(a) for a in item.get("inferred_authors") or ()),
        restore_sources=tuple(str(s) for s in item.get("sources") or ()),
    )
