"""Merging what sources say about one paper by source precedence; joining a published version to its preprint."""

from __future__ import annotations

import hashlib
import json
import operator
import sqlite3
import zlib
from dataclasses import dataclass
from datetime import date

from storage.models import Link, PaperRecord
from storage.text import author_key, is_stopword, phrase_words, slugify

# Higher wins: arXiv knows the full author list and the newest abstract; a
# listing is a scraped snapshot that may truncate authors.
PRECEDENCE = {"arxiv": 4, "bibtex": 3, "feed": 2, "listing": 1}


def record_to_json(record: PaperRecord) -> str:
    data = {
        "title": record.title,
        "authors": list(record.authors),
        "authors_truncated": record.authors_truncated,
        "abstract": record.abstract,
        "category": record.category,
        "categories": list(record.categories),
        "published": record.published.isoformat() if record.published else None,
        "has_code": record.has_code,
        "code_url": record.code_url,
        "arxiv_id": record.arxiv_id,
        "arxiv_version": record.arxiv_version,
        "doi": record.doi,
        "links": [[lk.href, lk.rel, lk.type, lk.title] for lk in record.links],
        "comment": record.comment,
        "journal_ref": record.journal_ref,
    }
    if record.inferred_authors:
        data["inferred"] = list(record.inferred_authors)
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# Every field record_to_json writes.
_JSON_FIELDS = operator.attrgetter(
    "title", "authors", "authors_truncated", "abstract", "category", "categories", "published", "has_code",
    "code_url", "arxiv_id", "arxiv_version", "doi", "links", "comment", "journal_ref", "inferred_authors",
)


def same_json(a: PaperRecord, b: PaperRecord) -> bool:
    """True only when record_to_json writes the same text for both: a cheap check, no encoding.

    Equal values of one type encode alike; 1 and True, or 2 and 2.0, are equal but do not,
    so the types of the fields are compared too (what lists hold is text in every record
    check_record passes). False may still mean the same text (a list of authors
    against a tuple): the caller then compares the encodings.
    """
    values_a, values_b = _JSON_FIELDS(a), _JSON_FIELDS(b)
    return values_a == values_b and list(map(type, values_a)) == list(map(type, values_b))


def pack(record_json: str) -> bytes:
    """What paper_sources.record holds: the record's JSON, deflated (abstracts dominate its size)."""
    return zlib.compress(record_json.encode(), 6)


def record_from_json(text: str | bytes) -> PaperRecord:
    if isinstance(text, bytes):
        text = zlib.decompress(text).decode()
    data = json.loads(text)
    return PaperRecord(
        title=data["title"],
        authors=tuple(data["authors"]),
        authors_truncated=data["authors_truncated"],
        abstract=data["abstract"],
        category=data["category"],
        categories=tuple(data["categories"]),
        published=date.fromisoformat(data["published"]) if data["published"] else None,
        has_code=data["has_code"],
        code_url=data["code_url"],
        arxiv_id=data["arxiv_id"],
        arxiv_version=data["arxiv_version"],
        doi=data["doi"],
        links=tuple(Link(*item) for item in data["links"]),
        comment=data["comment"],
        journal_ref=data["journal_ref"],
        inferred_authors=tuple(data.get("inferred", ())),
    )


def record_hash(record_json: str) -> bytes:
    """What paper_sources.record_hash holds: 16 bytes of BLAKE2b, enough to tell a changed record.

    Stores written before kept a 64-character SHA-256 hex string there: such a row never
    equals a new hash, so its record is merged once more (changing nothing) and rewritten.
    """
    return hashlib.blake2b(record_json.encode(), digest_size=16).digest()


def normalise_doi(doi: str | None) -> str | None:
    if not doi:
        return None
    doi = doi.strip()
    for prefix in ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "doi:"):
        if doi.lower().startswith(prefix):
            doi = doi[len(prefix) :]
    return doi.lower() or None


def paper_key(record: PaperRecord) -> str:
    """The key a new paper is given: arXiv id, else DOI, else a slug of its title."""
    if record.arxiv_id:
        return record.arxiv_id
    doi = normalise_doi(record.doi)
    if doi:
        return doi
    return slugify(record.title)


@dataclass(frozen=True, slots=True)
class Reported:
    """One source's record of a paper, with what ranks it."""

    kind: str
    updated_at: str
    record: PaperRecord

    @property
    def rank(self) -> tuple[int, str]:
        return (PRECEDENCE.get(self.kind, 0), self.updated_at)


def merge(reports: list[Reported]) -> PaperRecord:
    """The paper as the best source tells each field."""
    return _merge_one(reports[0].record) if len(reports) == 1 else _merge_many(reports)


def _merge_many(reports: list[Reported]) -> PaperRecord:
    ordered = sorted(reports, key=lambda r: r.rank, reverse=True)
    records = [r.record for r in ordered]

    def first(attr: str):
        for rec in records:
            value = getattr(rec, attr)
            if value:
                return value
        return getattr(records[0], attr)

    complete = [rec for rec in records if rec.authors and not rec.authors_truncated]
    if complete:
        author_rec = complete[0]
    else:
        author_rec = max(records, key=lambda rec: len(rec.authors))
    # The lab's own label ("CV") is what people subscribe to; arXiv's primary
    # category only fills in when no listing gave one.
    category = None
    for rec in sorted(records, key=lambda rec: not _is_listing(ordered, rec)):
        if rec.category:
            category = rec.category
            break
    categories: list[str] = []
    links: list[Link] = []
    for rec in records:
        categories += [c for c in rec.categories if c not in categories]
        links += [lk for lk in rec.links if all(lk.href != seen.href for seen in links)]
    code_url = None
    for rec in sorted(records, key=lambda rec: not _is_listing(ordered, rec)):
        if rec.code_url:
            code_url = rec.code_url
            break
    # A published version's title is the paper's final name: the best-ranked source that
    # carries a DOI or journal reference names the paper, when one does.
    published = [rec for rec in records if rec.doi or rec.journal_ref]
    return PaperRecord(
        title=published[0].title if published else first("title"),
        authors=author_rec.authors,
        authors_truncated=author_rec.authors_truncated,
        abstract=first("abstract"),
        category=category,
        categories=tuple(categories),
        published=first("published"),
        has_code=any(rec.has_code for rec in records) or code_url is not None,
        code_url=code_url,
        arxiv_id=first("arxiv_id"),
        arxiv_version=first("arxiv_version"),
        doi=normalise_doi(first("doi")),
        links=tuple(links),
        comment=first("comment"),
        journal_ref=first("journal_ref"),
        inferred_authors=tuple(dict.fromkeys(name for rec in records for name in rec.inferred_authors)),
    )


def _merge_one(rec: PaperRecord) -> PaperRecord:
    """merge() of a single record, as _merge_many reads it (a bulk ingest merges each new paper alone).

    _merge_many drops a category or link only when an earlier record had it, so one
    record's are kept as they are.
    """
    code_url = rec.code_url or None
    return PaperRecord(
        title=rec.title, authors=rec.authors, authors_truncated=rec.authors_truncated, abstract=rec.abstract,
        category=rec.category or None, categories=tuple(rec.categories), published=rec.published,
        has_code=bool(rec.has_code) or code_url is not None, code_url=code_url, arxiv_id=rec.arxiv_id,
        arxiv_version=rec.arxiv_version, doi=normalise_doi(rec.doi), links=tuple(rec.links),
        comment=rec.comment, journal_ref=rec.journal_ref, inferred_authors=tuple(dict.fromkeys(rec.inferred_authors)),
    )


def _is_listing(reports: list[Reported], record: PaperRecord) -> bool:
    return any(r.record is record and r.kind == "listing" for r in reports)


# -- a published version joining its preprint ---------------------------------------------

# How close two titles must be for a DOI-only published version to join its preprint: the
# Dice coefficient of their content-word sets (folded, singular, stopwords dropped). 0.8
# keeps "X for Y" and "Towards X for Y: a Study" together (one or two words added or
# dropped in a title of six or more) and keeps apart two papers of one group that differ
# by one word in a short title ("Robust diffusion for medical images" vs "Efficient ...",
# 0.75). Titles whose numbers or part numerals differ ("Part I" / "Part II", "3D" / "4D")
# never join, however close.
TITLE_CLOSENESS = 0.8
# A journal version may come out the year after its preprint, never before it.
YEAR_SPREAD = 1
_NUMERALS = frozenset({"i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"})


def title_words(title: str) -> frozenset[str]:
    return frozenset(w for w in phrase_words(title) if not is_stopword(w))


def title_closeness(a: str, b: str) -> float:
    """Dice coefficient of the two titles' content words: 1.0 same words, 0.0 none shared."""
    wa, wb = title_words(a), title_words(b)
    if not wa or not wb:
        return 0.0
    return 2 * len(wa & wb) / (len(wa) + len(wb))


def _numbered(words: frozenset[str]) -> bool:
    return any(w in _NUMERALS or any(c.isdigit() for c in w) for w in words)


def titles_close(a: str, b: str) -> bool:
    wa, wb = title_words(a), title_words(b)
    if _numbered(wa ^ wb):
        return False
    return title_closeness(a, b) >= TITLE_CLOSENESS


def authors_agree(
    record: tuple[str, ...], record_truncated: bool, stored: tuple[str, ...], stored_truncated: bool
) -> bool:
    """The same people: equal author sets, or, where a list is cut short ("et al."), the same
    first author and every listed name of the shorter list in the longer."""
    ka = [author_key(n) for n in record if author_key(n)]
    kb = [author_key(n) for n in stored if author_key(n)]
    if not ka or not kb:
        return False
    if set(ka) == set(kb):
        return True
    if not (record_truncated or stored_truncated) or ka[0] != kb[0]:
        return False
    short, long_ = (ka, kb) if len(ka) <= len(kb) else (kb, ka)
    return set(short) <= set(long_)


def years_agree(published: date | None, preprint: date | None) -> bool:
    if published is None or preprint is None:
        return published is None and preprint is None
    return 0 <= published.year - preprint.year <= YEAR_SPREAD


def is_published_version(
    record: PaperRecord, title: str, authors: tuple[str, ...], truncated: bool, published: date | None
) -> bool:
    """Whether a DOI-only ``record`` is the published version of the stored preprint described."""
    return (
        authors_agree(record.authors, record.authors_truncated, authors, truncated)
        and years_agree(record.published, published)
        and titles_close(record.title, title)
    )


def find_preprint(conn: sqlite3.Connection, record: PaperRecord) -> int | None:
    """The unpublished preprint a retitled, DOI-only published version belongs to (rules above)."""
    cur = conn.execute(
        "SELECT p.id, p.title, p.published, p.authors_truncated FROM papers p"
        " WHERE p.doi IS NULL AND p.arxiv_id IS NOT NULL AND p.id IN (SELECT pa.paper_id FROM paper_authors pa"
        " JOIN authors a ON a.id = pa.author_id WHERE a.key = ? AND pa.inferred = 0)",
        (author_key(record.authors[0]),),
    )
    for paper_id, title, published, truncated in cur.fetchall():
        names = tuple(row[0] for row in conn.execute(
            "SELECT name FROM paper_authors WHERE paper_id = ? AND inferred = 0 ORDER BY position", (paper_id,)
        ))
        when = date.fromisoformat(published) if published else None
        if is_published_version(record, title, names, bool(truncated), when):
            return int(paper_id)
    return None
