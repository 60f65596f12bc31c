"""Read any RSS 2.0 / Atom / RDF feed (lab sites, journals, preprint servers) into PaperRecords."""

from __future__ import annotations

import logging
import re
import time
from datetime import date
from html.parser import HTMLParser
from typing import Any

import feedparser

from feeds.sources._xml_hygiene import scrub_xml
from feeds.sources.arxiv import collapse_ws, find_code_url, find_doi, split_arxiv_id
from storage.errors import SourceFormatError
from storage.models import Link, PaperRecord, ParseProblem, ParseResult
from storage.records import check_result

log = logging.getLogger(__name__)

_AUTHOR_SPLIT_RE = re.compile(r"\s*(?:,\s*and\s+|,|;|\s+and\s+|\s*&\s*)\s*")
_BLOCK_TAGS = frozenset(
    {"p", "br", "div", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
     "blockquote", "pre", "section", "article", "header", "footer", "table", "hr", "dd", "dt"}
)
# An RSS <author> is often "email (Name)"; feedparser keeps the whole string.
_ET_AL_RE = re.compile(r"^(?P<name>.+?)[\s,]+et\.?\s*al\.?$", re.IGNORECASE)
_EMAIL_NAME_RE = re.compile(r"^\S+@\S+\s*\((?P<name>[^)]+)\)$")


class _TextExtractor(HTMLParser):
    """Keeps the text of an HTML fragment, with a space where a block or line break was."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hrefs: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(fragment: str | None) -> str:
    """Plain text of an HTML fragment, whitespace collapsed."""
    return _extract(fragment)[0]


def _extract(fragment: str | None) -> tuple[str, list[str]]:
    """The text of an HTML fragment and the targets of its links."""
    if not fragment:
        return "", []
    extractor = _TextExtractor()
    extractor.feed(fragment)
    extractor.close()
    return collapse_ws("".join(extractor.parts)), extractor.hrefs


def split_author_string(raw: str) -> tuple[str, ...]:
    """Split "A, B and C" (or "A; B & C") into names; drops empty pieces."""
    raw = collapse_ws(raw)
    match = _EMAIL_NAME_RE.match(raw)
    if match:
        raw = match.group("name")
    if ";" in raw:
        # Semicolons separate people, so commas inside a piece mean "Last, First".
        names = []
        for piece in (collapse_ws(x) for x in raw.split(";")):
            last, comma, first = piece.partition(",")
            names.append(f"{first.strip()} {last.strip()}" if comma and first.strip() else piece)
        return tuple(name for name in names if name)
    return tuple(p for p in (collapse_ws(x) for x in _AUTHOR_SPLIT_RE.split(raw)) if p)


def _authors(entry: Any) -> tuple[tuple[str, ...], bool]:
    names: list[str] = []
    for author in entry.get("authors") or []:
        name = collapse_ws(author.get("name")) if isinstance(author, dict) else ""
        if name:
            names.extend(split_author_string(name))
    if not names and entry.get("author"):
        names.extend(split_author_string(entry["author"]))
    truncated = False
    cleaned: list[str] = []
    for name in names:
        if name.lower().rstrip(".") in ("et al", "others"):
            truncated = True
            continue
        match = _ET_AL_RE.match(name)
        if match:
            truncated = True
            name = match.group("name")
        cleaned.append(name)
    seen: set[str] = set()
    ordered = []
    for name in cleaned:
        if name and name not in seen:
            seen.add(name)
            ordered.append(name)
    return tuple(ordered), truncated


def _date(entry: Any) -> date | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed: time.struct_time | None = entry.get(key)
        if parsed:
            return date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday)
    return None


def _abstract(entry: Any) -> tuple[str, list[str]]:
    # Atom <content> is usually the fuller text; RSS <description> lands in summary.
    for content in entry.get("content") or []:
        text, hrefs = _extract(content.get("value"))
        if text:
            return text, hrefs
    return _extract(entry.get("summary"))


def _entry(entry: Any) -> PaperRecord:
    title = html_to_text(entry.get("title"))
    if not title:
        raise _EntryProblem("title", "entry has no title")
    authors, truncated = _authors(entry)
    abstract, body_hrefs = _abstract(entry)
    links: list[Link] = []
    arxiv_id: str | None = None
    version: int | None = None
    doi: str | None = None
    seen_hrefs: set[str] = set()
    candidates: list[str] = []
    for link in entry.get("links") or []:
        href = link.get("href")
        if not href or href in seen_hrefs:
            continue
        seen_hrefs.add(href)
        candidates.append(href)
        rel = link.get("rel", "alternate")
        mime = link.get("type") or None
        if rel == "enclosure":
            is_pdf = (mime or "").lower() == "application/pdf" or href.lower().endswith(".pdf")
            links.append(Link(href=href, rel="pdf" if is_pdf else "related", type=mime))
        elif link.get("title") == "pdf" or (mime or "").lower() == "application/pdf":
            links.append(Link(href=href, rel="pdf", type=mime or "application/pdf"))
        elif "doi.org/" in href:
            links.append(Link(href=href, rel="doi"))
        elif rel == "alternate":
            links.append(Link(href=href, rel="alternate", type=mime))
        else:
            links.append(Link(href=href, rel="related", type=mime, title=link.get("title")))
    if entry.get("link") and entry["link"] not in seen_hrefs:
        candidates.append(entry["link"])
        links.insert(0, Link(href=entry["link"], rel="alternate"))
    # Links the entry itself declares outrank links written inside its summary.
    for text in (entry.get("id"), *candidates, *body_hrefs):
        if arxiv_id is None and text and "arxiv" in text.lower():
            arxiv_id, version = split_arxiv_id(text)
    for key in ("prism_doi", "dc_identifier", "id"):
        value = entry.get(key)
        if doi is None and value and ("doi" in value.lower() or value.startswith("10.")):
            doi = find_doi(value)
    for href in (*candidates, *body_hrefs):
        if doi is None and "doi.org/" in href:
            doi = find_doi(href)
    if arxiv_id is None and doi and doi.lower().startswith("10.48550/arxiv."):
        arxiv_id, version = split_arxiv_id(doi)
    terms = (collapse_ws(tag.get("term")) for tag in entry.get("tags") or [])
    categories = tuple(dict.fromkeys(term for term in terms if term))
    code_url = next((link.href for link in links if _is_code_host(link.href)), None)
    code_url = code_url or find_code_url(*body_hrefs, abstract)
    if code_url and not any(link.href == code_url for link in links):
        links.append(Link(href=code_url, rel="code"))
    elif code_url:
        links = [Link(href=lk.href, rel="code") if lk.href == code_url else lk for lk in links]
    return PaperRecord(
        title=title,
        authors=authors,
        authors_truncated=truncated,
        abstract=abstract,
        category=categories[0] if categories else None,
        categories=categories,
        published=_date(entry),
        has_code=code_url is not None,
        code_url=code_url,
        arxiv_id=arxiv_id,
        arxiv_version=version,
        doi=doi,
        links=tuple(links),
    )


def _is_code_host(href: str) -> bool:
    return find_code_url(href) == href.rstrip(".,;:")


class _EntryProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_feed(body: bytes, *, base_url: str | None = None) -> ParseResult:
    """Parse an RSS 2.0 / Atom / RDF document; entries without a title are reported and skipped.

    Raises SourceFormatError when the document yields no feed at all (HTML
    page, binary, broken XML with no entries).
    """
    if not body or not body.strip():
        raise SourceFormatError(f"feed {base_url or '(no URL)'} is empty: expected RSS or Atom")
    headers = {"content-location": base_url} if base_url else None
    parsed = feedparser.parse(scrub_xml(body), response_headers=headers)
    entries = parsed.get("entries") or []
    where = f"feed {base_url}" if base_url else "feed"
    if not entries:
        if parsed.get("bozo"):
            reason = parsed.get("bozo_exception")
            raise SourceFormatError(f"{where} is not a readable RSS/Atom document: {reason}")
        if not parsed.get("version"):
            raise SourceFormatError(f"{where} is not an RSS/Atom document (no feed element found)")
    elif parsed.get("bozo"):
        log.info(
            "%s is not well-formed (%s); using what could be read",
            where, parsed.get("bozo_exception"),
        )
    records: list[PaperRecord] = []
    problems: list[ParseProblem] = []
    for index, entry in enumerate(entries, start=1):
        try:
            records.append(_entry(entry))
        except _EntryProblem as exc:
            label = entry.get("id") or entry.get("link") or ""
            message = f"entry {index}{f' ({label})' if label else ''}: {exc.message}"
            log.warning("%s: %s", where, message)
            problems.append(ParseProblem(line=index, field=exc.field, message=message))
    return check_result(ParseResult(records=records, problems=problems), label="entry")
