"""Read the arXiv API's Atom responses into PaperRecords, and build its query URLs.

Also holds the small text helpers the other source parsers share: whitespace
collapsing and spotting arXiv ids, DOIs and code-hosting URLs in free text.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from lxml import etree

from feeds.sources._xml_hygiene import scrub_xml
from storage.errors import SourceFormatError
from storage.models import Link, PaperRecord, ParseProblem, ParseResult
from storage.records import check_result

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "http://export.arxiv.org/api/query"

_ATOM = "http://www.w3.org/2005/Atom"
_NS = {
    "atom": _ATOM,
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
    "arxiv": "http://arxiv.org/schemas/atom",
}

# New-style ids (0704.0001 onwards: 4-digit yymm, 4 or 5-digit number) and
# old-style archive ids (hep-th/9901001, math.GT/0309136).
_ARXIV_ID = r"(?:\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})"
_ARXIV_URL_RE = re.compile(
    r"arxiv\.org/(?:abs|pdf|html)/(?P<id>" + _ARXIV_ID + r")(?:v(?P<v>\d+))?", re.IGNORECASE
)
_ARXIV_TEXT_RE = re.compile(
    r"(?:arxiv:\s*|arxiv\.org/(?:abs|pdf)/|10\.48550/arxiv\.)(?P<id>" + _ARXIV_ID + r")"
    r"(?:v(?P<v>\d+))?",
    re.IGNORECASE,
)
_BARE_ARXIV_RE = re.compile(r"^(?P<id>" + _ARXIV_ID + r")(?:v(?P<v>\d+))?$")
_DOI_RE = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>]+)", re.IGNORECASE)
_CODE_URL_RE = re.compile(
    r"https?://(?:www\.)?(?:github\.com|gitlab\.com)/[^\s\"'<>)\]}]+", re.IGNORECASE
)
_WS_RE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class ArxivPage:
    """One page of an arXiv API answer, with the paging numbers it reported."""

    result: ParseResult
    total_results: int
    start_index: int
    items_per_page: int


def collapse_ws(text: str | None) -> str:
    """Fold runs of whitespace (arXiv hard-wraps titles and abstracts) into single spaces."""
    return _WS_RE.sub(" ", text or "").strip()


def split_arxiv_id(text: str | None) -> tuple[str | None, int | None]:
    """Find an arXiv id (and version) in a URL, an ``arXiv:`` mention or a bare id."""
    if not text:
        return None, None
    text = text.strip()
    match = _ARXIV_URL_RE.search(text) or _ARXIV_TEXT_RE.search(text) or _BARE_ARXIV_RE.match(text)
    if not match:
        return None, None
    version = int(match.group("v")) if match.group("v") else None
    return match.group("id"), version


def find_doi(text: str | None) -> str | None:
    """The first DOI in a URL or text, without resolver prefix or trailing punctuation."""
    if not text:
        return None
    match = _DOI_RE.search(text)
    if not match:
        return None
    return match.group(1).rstrip(".,;)]}")


def find_code_url(*texts: str | None) -> str | None:
    """The first GitHub/GitLab URL in the given texts (a sentence's full stop is not part of it)."""
    for text in texts:
        if not text:
            continue
        match = _CODE_URL_RE.search(text)
        if match:
            return match.group(0).rstrip(".,;:")
    return None


def build_arxiv_url(endpoint: str, search_query: str, start: int, max_results: int) -> str:
    """The API URL for one page of ``search_query``, newest submissions first."""
    params = {
        "search_query": search_query,
        "start": str(start),
        "max_results": str(max_results),
        "sortBy": "submittedDate",
        "sortOrder": "descending",
    }
    sep = "&" if "?" in endpoint else "?"
    return f"{endpoint}{sep}{urlencode(params)}"


def _text(node: etree._Element, path: str) -> str | None:
    found = node.find(path, _NS)
    if found is None or found.text is None:
        return None
    return found.text


def _int(root: etree._Element, path: str, default: int) -> int:
    raw = _text(root, path)
    if raw is None:
        return default
    try:
        return int(raw.strip())
    except ValueError as exc:
        raise SourceFormatError(f"arXiv response: {path} is not a number: {raw!r}") from exc


def _load(body: bytes) -> etree._Element:
    if not body or not body.strip():
        raise SourceFormatError("arXiv response is empty: expected an Atom feed")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(scrub_xml(body), parser)
    except etree.XMLSyntaxError as exc:
        raise SourceFormatError(
            f"arXiv response is not XML (line {exc.lineno}): {exc.msg}; expected an Atom feed"
        ) from exc
    if root.tag != f"{{{_ATOM}}}feed":
        name = etree.QName(root).localname
        raise SourceFormatError(f"arXiv response is not an Atom feed: its root element is <{name}>")
    return root


def _entry(node: etree._Element) -> PaperRecord:
    line = node.sourceline
    raw_id = collapse_ws(_text(node, "atom:id"))
    if not raw_id:
        raise _EntryProblem("id", "entry has no <id>")
    arxiv_id, version = split_arxiv_id(raw_id)
    if arxiv_id is None:
        raise _EntryProblem("id", f"not an arXiv abstract URL: {raw_id!r}")
    title = collapse_ws(_text(node, "atom:title"))
    if not title:
        raise _EntryProblem("title", f"{arxiv_id} has no title")
    abstract = collapse_ws(_text(node, "atom:summary"))
    names = (collapse_ws(a.findtext("atom:name", None, _NS)) for a in node.findall("atom:author", _NS))
    authors = tuple(name for name in names if name)
    published: date | None = None
    raw_published = _text(node, "atom:published") or _text(node, "atom:updated")
    if raw_published:
        try:
            published = date.fromisoformat(raw_published.strip()[:10])
        except ValueError as exc:
            raise _EntryProblem("published", f"{arxiv_id}: not a date: {raw_published!r}") from exc
    primary = node.find("arxiv:primary_category", _NS)
    categories = tuple(
        term for term in (c.get("term") for c in node.findall("atom:category", _NS)) if term
    )
    category = primary.get("term") if primary is not None else None
    category = category or (categories[0] if categories else None)
    doi = collapse_ws(_text(node, "arxiv:doi")) or None
    comment = collapse_ws(_text(node, "arxiv:comment")) or None
    journal_ref = collapse_ws(_text(node, "arxiv:journal_ref")) or None

    links: list[Link] = []
    for link in node.findall("atom:link", _NS):
        href = link.get("href")
        if not href:
            continue
        title_attr = link.get("title")
        rel = link.get("rel", "alternate")
        if title_attr == "pdf":
            links.append(Link(href=href, rel="pdf", type=link.get("type") or "application/pdf"))
        elif title_attr == "doi":
            links.append(Link(href=href, rel="doi"))
            doi = doi or find_doi(href)
        elif rel == "alternate":
            links.append(Link(href=href, rel="alternate", type=link.get("type") or "text/html"))
        else:
            links.append(Link(href=href, rel="related", type=link.get("type"), title=title_attr))
    code_url = find_code_url(comment, abstract)
    if code_url:
        links.append(Link(href=code_url, rel="code"))
    return PaperRecord(
        title=title,
        authors=authors,
        abstract=abstract,
        category=category,
        categories=categories,
        published=published,
        has_code=code_url is not None,
        code_url=code_url,
        arxiv_id=arxiv_id,
        arxiv_version=version,
        doi=doi,
        links=tuple(links),
        comment=comment,
        journal_ref=journal_ref,
        line=line,
    )


class _EntryProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_arxiv(body: bytes) -> ArxivPage:
    """Parse one arXiv API response; a bad entry becomes a ParseProblem, the rest are kept.

    Raises SourceFormatError when the document is not an Atom feed, or is
    arXiv's error feed (then the message is arXiv's own).
    """
    root = _load(body)
    entries = root.findall("atom:entry", _NS)
    for node in entries:
        entry_id = collapse_ws(_text(node, "atom:id"))
        if "/api/errors" in entry_id:
            message = collapse_ws(_text(node, "atom:summary")) or collapse_ws(
                _text(node, "atom:title")
            )
            raise SourceFormatError(f"arXiv API error: {message or 'no message'} ({entry_id})")
    records: list[PaperRecord] = []
    problems: list[ParseProblem] = []
    for index, node in enumerate(entries, start=1):
        try:
            records.append(_entry(node))
        except _EntryProblem as exc:
            line = node.sourceline or index
            log.warning("arXiv entry %d (line %d) skipped: %s", index, line, exc.message)
            problems.append(
                ParseProblem(line=line, field=exc.field, message=f"entry {index}: {exc.message}")
            )
    result = check_result(ParseResult(records=records, problems=problems), label="entry")
    return ArxivPage(
        result=result,
        total_results=_int(root, "opensearch:totalResults", len(entries)),
        start_index=_int(root, "opensearch:startIndex", 0),
        items_per_page=_int(root, "opensearch:itemsPerPage", len(entries)),
    )
