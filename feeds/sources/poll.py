"""Poll one configured source: fetch its document(s) and parse them as the source's kind."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date
from email.utils import parsedate_to_datetime

from feeds.sources.arxiv import DEFAULT_ENDPOINT, ArxivPage, build_arxiv_url, parse_arxiv
from feeds.sources.bibtex import parse_bibtex
from feeds.sources.fetch import Fetcher, FetchResult, HTTPStatusError, is_local, local_path
from feeds.sources.listing import decode_listing_bytes, parse_listing
from feeds.sources.rss import parse_feed
from storage.errors import ConfigError, NotAListingError, SourceFormatError
from storage.models import PaperRecord, ParseProblem, ParseResult
from storage.redact import mask_url

log = logging.getLogger(__name__)

KINDS = ("listing", "arxiv", "feed", "bibtex")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A source as configured: what to fetch, how to read it, how often."""

    name: str
    kind: str  # listing | arxiv | feed | bibtex
    url: str | None = None
    search_query: str | None = None
    interval: float = 3600
    owner: str | None = None
    max_results: int = 100  # arXiv page size
    max_pages: int = 5


@dataclass(frozen=True, slots=True)
class Document:
    """A source's fetched document, read as the source's kind when called.

    Plain data, so it can be handed to a worker process that parses and stores it
    (storage/ingest_worker.py): the service then holds none of the parse's memory.
    """

    spec: SourceSpec
    body: bytes
    last_modified: str | None
    as_of: date | None
    where: str

    def __call__(self) -> ParseResult:
        result = _parse_body(self)
        log.info("source %s: %d records, %d problems", self.spec.name, len(result.records), len(result.problems))
        return result


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll found: ``result`` (parsed), or with ``parse=False`` the ``document`` to parse.

    Both are None when the source had not changed (``not_modified``).
    """

    result: ParseResult | None
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    not_modified: bool
    pages: int
    document: Document | None = None


def validate_spec(spec: SourceSpec) -> None:
    """Raise ConfigError naming the source and the key when a spec cannot be polled."""
    if spec.kind not in KINDS:
        raise ConfigError(
            f"source {spec.name!r}: unknown kind {spec.kind!r}; expected one of {', '.join(KINDS)}"
        )
    if spec.kind == "arxiv":
        if not (spec.search_query or "").strip():
            raise ConfigError(f"source {spec.name!r}: kind 'arxiv' needs a search_query")
        if spec.max_results < 1 or spec.max_pages < 1:
            raise ConfigError(f"source {spec.name!r}: max_results and max_pages must be at least 1")
    elif not (spec.url or "").strip():
        raise ConfigError(f"source {spec.name!r}: kind {spec.kind!r} needs a url (a path or URL)")


async def poll(
    spec: SourceSpec,
    fetcher: Fetcher,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    previous_hash: str | None = None,
    as_of: date | None = None,
    parse: bool = True,
) -> PollOutcome:
    """Fetch and parse ``spec``'s source, skipping the parse when it has not changed.

    With ``parse=False`` a changed document comes back unparsed (``outcome.document``),
    for a caller that parses it elsewhere; arXiv's pages are always parsed here, as
    each page decides whether the next is fetched.
    Raises ConfigError for an unusable spec, FetchError when the source
    cannot be fetched and SourceFormatError when it is not of its kind.
    """
    validate_spec(spec)
    if spec.kind == "arxiv":
        return await _poll_arxiv(spec, fetcher, etag, last_modified, previous_hash)
    assert spec.url is not None  # validate_spec checked it
    fetched = await fetcher.get(
        spec.url, etag=etag, last_modified=last_modified, previous_hash=previous_hash
    )
    if fetched.not_modified or fetched.body is None:
        log.info("source %s: unchanged", spec.name)
        return _unchanged(fetched, pages=1)
    where = str(local_path(spec.url)) if is_local(spec.url) else mask_url(spec.url)
    document = Document(spec, fetched.body, fetched.last_modified, as_of, where)
    # Parsing a large document takes CPU time: a worker thread keeps the event loop
    # (health checks, feeds, Discord) answering while it runs.
    result = await asyncio.to_thread(document) if parse else None
    return PollOutcome(
        result=result,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        content_hash=fetched.content_hash,
        not_modified=False,
        pages=1,
        document=None if parse else document,
    )


def _parse_body(document: Document) -> ParseResult:
    spec, body, where = document.spec, document.body, document.where
    assert spec.url is not None
    if spec.kind == "feed":
        result = parse_feed(body, base_url=None if is_local(spec.url) else spec.url)
    elif spec.kind == "bibtex":
        result = parse_bibtex(_decode(body, where))
    else:
        result = _parse_listing(document)
    return _tag_problems(result, where)


def _parse_listing(document: Document) -> ParseResult:
    spec, as_of, where = document.spec, document.as_of, document.where
    if as_of is None and document.last_modified:
        # The design says a year-less date is read against the file's modification time.
        try:
            as_of = parsedate_to_datetime(document.last_modified).date()
        except (TypeError, ValueError):
            as_of = None
    known = (spec.owner,) if spec.owner else ()
    try:
        text = decode_listing_bytes(document.body, where)
        return parse_listing(text, as_of=as_of, source=where, known_authors=known)
    except NotAListingError as exc:
        # Callers of poll() handle one family of format errors for every kind. The sentence
        # names the document already (parse_listing was given ``where``).
        raise SourceFormatError(str(exc)) from exc


async def _poll_arxiv(
    spec: SourceSpec,
    fetcher: Fetcher,
    etag: str | None,
    last_modified: str | None,
    previous_hash: str | None,
) -> PollOutcome:
    endpoint = spec.url or DEFAULT_ENDPOINT
    query = (spec.search_query or "").strip()
    records: dict[str, PaperRecord] = {}
    problems: list[ParseProblem] = []
    first: FetchResult | None = None
    pages = 0
    start = 0
    total: int | None = None
    while pages < spec.max_pages and (total is None or start < total):
        url = build_arxiv_url(endpoint, query, start, spec.max_results)
        # Only the first page is conditional: new submissions sort first, so an unchanged
        # first page means nothing new, and the later pages are not worth arXiv's time.
        fetched = await _get_arxiv(
            fetcher,
            url,
            etag=etag if pages == 0 else None,
            last_modified=last_modified if pages == 0 else None,
            previous_hash=previous_hash if pages == 0 else None,
        )
        pages += 1
        if first is None:
            first = fetched
            if fetched.not_modified or fetched.body is None:
                log.info("source %s: first arXiv page unchanged", spec.name)
                return _unchanged(fetched, pages=1)
        assert fetched.body is not None
        page = await asyncio.to_thread(_parse_arxiv_page, fetched.body, url)
        total = page.total_results
        for problem in page.result.problems:
            problems.append(
                ParseProblem(problem.line, problem.field, problem.message, source=f"{url}")
            )
        for record in page.result.records:
            # Pages can overlap when a paper is submitted mid-walk; the first copy wins.
            records.setdefault(record.arxiv_id or record.title, record)
        got = len(page.result.records) + len(page.result.problems)
        if got == 0:
            if start < total:
                log.warning(
                    "source %s: arXiv returned an empty page at start=%d of %d; stopping",
                    spec.name, start, total,
                )
            break
        start += got
    assert first is not None
    log.info("source %s: %d arXiv records from %d page(s)", spec.name, len(records), pages)
    return PollOutcome(
        result=ParseResult(records=list(records.values()), problems=problems),
        etag=first.etag,
        last_modified=first.last_modified,
        content_hash=first.content_hash,
        not_modified=False,
        pages=pages,
    )


async def _get_arxiv(fetcher: Fetcher, url: str, **kwargs: str | None) -> FetchResult:
    try:
        return await fetcher.get(url, **kwargs)
    except HTTPStatusError as exc:
        # arXiv answers a bad query with HTTP 400 and an Atom error feed that says why.
        if exc.body:
            try:
                parse_arxiv(exc.body)
            except SourceFormatError as detail:
                raise SourceFormatError(f"{detail} (HTTP {exc.status} from {url})") from exc
        raise


def _parse_arxiv_page(body: bytes, url: str) -> ArxivPage:
    try:
        return parse_arxiv(body)
    except SourceFormatError as exc:
        raise SourceFormatError(f"{exc} (from {url})") from exc


def _unchanged(fetched: FetchResult, *, pages: int) -> PollOutcome:
    return PollOutcome(
        result=None,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        content_hash=fetched.content_hash,
        not_modified=True,
        pages=pages,
    )


def _decode(body: bytes, where: str) -> str:
    """Text of a BibTeX file: UTF-8 (BOM or not), else Windows-1252 as the likeliest."""
    if b"\x00" in body[:4096]:
        raise SourceFormatError(f"{where}: binary data, not a text file")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        log.info("%s is not UTF-8; reading it as Windows-1252", where)
        return body.decode("cp1252", errors="replace")


def _tag_problems(result: ParseResult, where: str) -> ParseResult:
    if not result.problems or all(p.source for p in result.problems):
        return result
    problems = [
        p if p.source else ParseProblem(p.line, p.field, p.message, source=where)
        for p in result.problems
    ]
    return ParseResult(records=result.records, problems=problems)

