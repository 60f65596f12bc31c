"""Merging what several sources say about one paper, field by field, by source precedence."""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import date

from storage.models import Link, PaperRecord
from storage.text import slugify

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


def record_hash(record_json: str) -> str:
    return hashlib.sha256(record_json.encode()).hexdigest()


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
    return PaperRecord(
        title=first("title"),
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


def _is_listing(reports: list[Reported], record: PaperRecord) -> bool:
    return any(r.record is record and r.kind == "listing" for r in reports)
