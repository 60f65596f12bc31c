"""Read BibTeX (a lab's publication list, a Zotero export) into PaperRecords with bibtexparser 2."""

from __future__ import annotations

import logging
import re
from datetime import date

import bibtexparser
from bibtexparser import middlewares
from bibtexparser.model import DuplicateBlockKeyBlock, Entry, ParsingFailedBlock
from pylatexenc.latex2text import LatexNodes2Text

from feeds.sources.arxiv import collapse_ws, find_code_url, find_doi, split_arxiv_id
from storage.errors import SourceFormatError
from storage.models import Link, PaperRecord, ParseProblem, ParseResult
from storage.records import check_result
from storage.text import strip_invisible

log = logging.getLogger(__name__)

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_YEAR_RE = re.compile(r"\b(1[89]\d\d|2\d\d\d)\b")
_ENTRY_START_RE = re.compile(r"@[A-Za-z]+\s*[{(]")
_ISO_DATE_RE = re.compile(r"^(?P<y>\d{4})(?:-(?P<m>\d{1,2})(?:-(?P<d>\d{1,2}))?)?")


def _decoder() -> LatexNodes2Text:
    # math_mode="verbatim" keeps "$k$-NN" readable instead of dropping the math.
    return LatexNodes2Text(math_mode="verbatim", strict_latex_spaces=False)


def _latex(decoder: LatexNodes2Text, value: str) -> str:
    try:
        return collapse_ws(decoder.latex_to_text(value))
    except Exception:  # pylatexenc may choke on unbalanced input; keep the raw text then
        log.debug("could not decode LaTeX in %r", value, exc_info=True)
        return collapse_ws(value.replace("{", "").replace("}", ""))


def _field(entry: Entry, *names: str) -> str | None:
    fields = {key.lower(): f for key, f in entry.fields_dict.items()}
    for name in names:
        found = fields.get(name)
        if found is not None and isinstance(found.value, str) and found.value.strip():
            return found.value.strip()
    return None


def _authors(decoder: LatexNodes2Text, raw: str) -> tuple[tuple[str, ...], bool]:
    """Ordered "First von Last Jr" display names; "and others" marks the list as cut short."""
    names: list[str] = []
    truncated = False
    for person in middlewares.names.split_multiple_persons_names(raw):
        person = person.strip()
        if not person:
            continue
        if person.lower() in ("others", "et al.", "et al"):
            truncated = True
            continue
        try:
            parts = middlewares.names.parse_single_name_into_parts(person, strict=False)
        except Exception:  # a malformed name should cost that name, not the paper
            log.debug("could not split BibTeX name %r", person, exc_info=True)
            names.append(_latex(decoder, person))
            continue
        pieces = [*parts.first, *parts.von, *parts.last]
        display = _latex(decoder, " ".join(pieces))
        if parts.jr:
            display = f"{display} {_latex(decoder, ' '.join(parts.jr))}"
        if display:
            names.append(display)
    return tuple(names), truncated


def _month(raw: str | None) -> int | None:
    if not raw:
        return None
    raw = raw.strip().strip("{}").strip().lower().rstrip(".")
    if raw.isdigit():
        number = int(raw)
        return number if 1 <= number <= 12 else None
    return _MONTHS.get(raw) or _MONTHS.get(raw[:3])


def _published(entry: Entry) -> date | None:
    iso = _field(entry, "date")
    if iso:
        match = _ISO_DATE_RE.match(iso)
        if match:
            year = int(match.group("y"))
            month = int(match.group("m") or 1)
            day = int(match.group("d") or 1)
            try:
                return date(year, month, day)
            except ValueError:
                pass
    raw_year = _field(entry, "year")
    if not raw_year:
        return None
    match = _YEAR_RE.search(raw_year)
    if not match:
        # "in press", "forthcoming": the paper is still worth keeping, undated.
        log.info("BibTeX @%s{%s}: year %r is not a year", entry.entry_type, entry.key, raw_year)
        return None
    return date(int(match.group(1)), _month(_field(entry, "month")) or 1, 1)


class _EntryProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _entry(decoder: LatexNodes2Text, entry: Entry) -> PaperRecord:
    raw_title = _field(entry, "title")
    if not raw_title:
        raise _EntryProblem("title", f"@{entry.entry_type}{{{entry.key}}} has no title")
    title = _latex(decoder, raw_title)
    authors, truncated = _authors(decoder, _field(entry, "author") or "")
    if not authors and _field(entry, "editor"):
        authors, truncated = _authors(decoder, _field(entry, "editor") or "")
    abstract = _latex(decoder, _field(entry, "abstract") or "")
    url = _field(entry, "url")
    doi_raw = _field(entry, "doi")
    doi = find_doi(doi_raw) if doi_raw else None
    journal_ref = _field(entry, "journal", "booktitle", "journaltitle")
    journal_ref = _latex(decoder, journal_ref) if journal_ref else None

    arxiv_id: str | None = None
    version: int | None = None
    eprint = _field(entry, "eprint")
    prefix = (_field(entry, "archiveprefix", "eprinttype") or "").lower()
    if eprint and (prefix == "arxiv" or not prefix):
        arxiv_id, version = split_arxiv_id(eprint)
    for text in (url, doi, journal_ref, _field(entry, "note", "howpublished")):
        if arxiv_id is None and text and "arxiv" in text.lower():
            arxiv_id, version = split_arxiv_id(text)

    links: list[Link] = []
    if url:
        is_pdf = url.lower().endswith(".pdf")
        links.append(Link(href=url, rel="pdf" if is_pdf else "alternate"))
    if doi:
        links.append(Link(href=f"https://doi.org/{doi}", rel="doi"))
    code_url = find_code_url(_field(entry, "code", "github"), url, _field(entry, "note"), abstract)
    if code_url and not any(link.href == code_url for link in links):
        links.append(Link(href=code_url, rel="code"))
    keywords = _field(entry, "keywords")
    categories = (
        tuple(k for k in (collapse_ws(p) for p in re.split(r"[,;]", keywords)) if k)
        if keywords
        else ()
    )
    return PaperRecord(
        title=title,
        authors=authors,
        authors_truncated=truncated,
        abstract=abstract,
        categories=categories,
        published=_published(entry),
        has_code=code_url is not None,
        code_url=code_url,
        arxiv_id=arxiv_id,
        arxiv_version=version,
        doi=doi,
        links=tuple(links),
        comment=_latex(decoder, _field(entry, "note") or "") or None,
        journal_ref=journal_ref,
        line=entry.start_line + 1,
    )


def parse_bibtex(text: str) -> ParseResult:
    """Parse BibTeX text; unreadable or untitled entries become ParseProblems, the rest records.

    Raises SourceFormatError when the text holds no BibTeX entry at all
    (binary data, an HTML page, an empty file).
    """
    if "\x00" in text:
        raise SourceFormatError("BibTeX source is binary data (it contains NUL bytes)")
    if text.startswith("\ufeff"):
        text = text[1:]
    # Bidi and zero-width characters go before names are split on "and" and commas.
    text = strip_invisible(text)
    library = bibtexparser.parse_string(text)
    decoder = _decoder()
    records: list[PaperRecord] = []
    problems: list[ParseProblem] = []
    for block in library.failed_blocks:
        line = (block.start_line or 0) + 1
        if isinstance(block, DuplicateBlockKeyBlock):
            field, message = "key", f"duplicate entry key {block.key!r}; the first one is kept"
        elif isinstance(block, ParsingFailedBlock):
            reason = getattr(block.error, "abort_reason", None) or str(block.error)
            reason = collapse_ws(reason) or type(block.error).__name__
            field, message = "entry", f"unreadable @entry skipped: {reason}"
        else:
            field, message = "entry", "unreadable BibTeX block"
        log.warning("BibTeX line %d skipped: %s", line, message)
        problems.append(ParseProblem(line=line, field=field, message=message))
    for entry in library.entries:
        try:
            records.append(_entry(decoder, entry))
        except _EntryProblem as exc:
            line = entry.start_line + 1
            log.warning("BibTeX entry %s (line %d) skipped: %s", entry.key, line, exc.message)
            problems.append(
                ParseProblem(line=line, field=exc.field, message=f"{entry.key}: {exc.message}")
            )
    if not library.entries and text.strip() and not _ENTRY_START_RE.search(text):
        raise SourceFormatError("not a BibTeX document: no @type{key, ...} entry found")
    problems.sort(key=lambda p: p.line)
    return check_result(ParseResult(records=records, problems=problems), label="entry")

