"""Read-only queries behind the web pages: one page of papers under filters, facets, author and topic summaries.

Every function reads a bounded amount (one page of rows, or a capped list), so no page
the site serves grows with the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from storage import topic_links
from storage.models import Paper, Topic
from storage.store import Store
from storage.text import author_key

MAX_PAGE = 400  # deeper pages are refused: nobody pages that far, and OFFSET costs grow
_ORDER = "ORDER BY p.published IS NULL, p.published DESC, p.first_seen_at DESC, p.id DESC"


@dataclass(frozen=True, slots=True)
class PaperList:
    """One page of papers and where it sits in the whole list."""

    papers: list[Paper]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, min(MAX_PAGE, -(-self.total // self.per_page)))


@dataclass(frozen=True, slots=True)
class AuthorSummary:
    """What an author page shows besides the list of papers."""

    key: str
    name: str
    papers: int
    years: list[tuple[int, int]] = field(default_factory=list)
    coauthors: list[tuple[str, str, int]] = field(default_factory=list)  # key, name, shared papers
    topics: list[tuple[str, str, int]] = field(default_factory=list)  # slug, name, papers


@dataclass(frozen=True, slots=True)
class Filters:
    """The filters a list of papers can take; every value is bound, never spliced."""

    year: int | None = None
    category: str | None = None
    topic: str | None = None
    author: str | None = None

    def where(self) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if self.year is not None:
            clauses.append("p.published >= ? AND p.published < ?")
            params += [f"{self.year:04d}-01-01", f"{self.year + 1:04d}-01-01"]
        if self.category is not None:
            clauses.append("lower(p.category) = lower(?)")
            params.append(self.category)
        if self.topic is not None:
            clauses.append(f"p.id IN {topic_links.PAPERS_OF_SLUG}")
            params += [self.topic, self.topic]
        if self.author is not None:
            clauses.append(
                "p.id IN (SELECT pa.paper_id FROM paper_authors pa JOIN authors a ON a.id = pa.author_id"
                " WHERE a.key = ?)"
            )
            params.append(self.author)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _page(page: int) -> int:
    return max(1, min(MAX_PAGE, int(page)))


async def list_papers(store: Store, filters: Filters, *, page: int = 1, per_page: int = 25) -> PaperList:
    """Papers matching ``filters``, newest publication first, one page of them."""
    page = _page(page)
    where, params = filters.where()
    row = await store.db.fetchone(f"SELECT count(*) FROM papers p {where}", params)
    total = int(row[0]) if row else 0
    papers = await store._papers(where, [*params, per_page, (page - 1) * per_page], f"{_ORDER} LIMIT ? OFFSET ?")
    return PaperList(papers, total, page, per_page)


async def search_papers(store: Store, query: str, *, page: int = 1, per_page: int = 25) -> PaperList:
    """Ranked search results, one page of them."""
    page = _page(page)
    total = await store.count_matches(query)
    papers = await store.search(query, limit=per_page, offset=(page - 1) * per_page) if total else []
    return PaperList(papers, total, page, per_page)


async def year_counts(store: Store, filters: Filters) -> list[tuple[int, int]]:
    """(year, papers) under the other filters, newest year first."""
    where, params = Filters(category=filters.category, topic=filters.topic, author=filters.author).where()
    rows = await store.db.fetchall(
        f"SELECT substr(p.published, 1, 4) AS y, count(*) FROM papers p {where}"
        f" {'AND' if where else 'WHERE'} p.published IS NOT NULL GROUP BY y ORDER BY y DESC LIMIT 60",
        params,
    )
    return [(int(y), int(n)) for y, n in rows if str(y).isdigit()]


async def top_topics(store: Store, limit: int = 40) -> list[Topic]:
    """The most used topics (not categories), for the index's filter links."""
    rows = await store.db.fetchall(
        f"SELECT t.slug, t.name, t.kind, {topic_links.count_of('t.id')} AS n, t.expansion FROM topics t"
        " WHERE t.kind != 'category' AND n > 0 ORDER BY n DESC, t.slug LIMIT ?",
        (limit,),
    )
    return [Topic(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows]


async def paper_topics(store: Store, paper_id: int) -> list[Topic]:
    rows = await store.db.fetchall(
        f"SELECT t.slug, t.name, t.kind, {topic_links.count_of('t.id')},"
        " t.expansion FROM paper_topics pt JOIN topics t ON t.id = pt.topic_id"
        " WHERE pt.paper_id = ? AND t.kind != 'category' ORDER BY t.name LIMIT 40",
        (paper_id,),
    )
    return [Topic(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows]


async def author_keys(store: Store, paper_ids: Sequence[int]) -> dict[int, list[tuple[str, str, bool]]]:
    """For each paper: its authors in order as (name as written, author key, inferred)."""
    out: dict[int, list[tuple[str, str, bool]]] = {i: [] for i in paper_ids}
    if not paper_ids:
        return out
    marks = ",".join("?" * len(paper_ids))
    for paper_id, name, key, inferred in await store.db.fetchall(
        f"SELECT pa.paper_id, pa.name, a.key, pa.inferred FROM paper_authors pa JOIN authors a"
        f" ON a.id = pa.author_id WHERE pa.paper_id IN ({marks}) ORDER BY pa.paper_id, pa.position",
        list(paper_ids),
    ):
        out[paper_id].append((name, key, bool(inferred)))
    return out


@dataclass(frozen=True, slots=True)
class AuthorName:
    key: str
    name: str


async def author_name(store: Store, key: str) -> AuthorName | None:
    """An author's canonical key and display name, by key or by any spelling that folds to it."""
    row = await store.db.fetchone("SELECT key, name FROM authors WHERE key = ?", (key,))
    if row is None:
        folded = author_key(key.replace("-", " "))
        if folded and folded != key:
            row = await store.db.fetchone("SELECT key, name FROM authors WHERE key = ?", (folded,))
    return AuthorName(row[0], row[1]) if row else None


async def author_summary(store: Store, key: str) -> AuthorSummary | None:
    row = await store.db.fetchone("SELECT id, key, name FROM authors WHERE key = ?", (key,))
    if row is None:
        return None
    author_id, akey, name = row
    mine = "SELECT paper_id FROM paper_authors WHERE author_id = ?"
    count = await store.db.fetchone(f"SELECT count(DISTINCT paper_id) FROM ({mine})", (author_id,))
    years = await store.db.fetchall(
        f"SELECT substr(published, 1, 4) AS y, count(*) FROM papers WHERE id IN ({mine})"
        " AND published IS NOT NULL GROUP BY y ORDER BY y DESC LIMIT 60",
        (author_id,),
    )
    coauthors = await store.db.fetchall(
        f"SELECT a.key, a.name, count(DISTINCT pa.paper_id) AS n FROM paper_authors pa"
        f" JOIN authors a ON a.id = pa.author_id WHERE pa.paper_id IN ({mine}) AND pa.author_id != ?"
        " GROUP BY a.id ORDER BY n DESC, a.name LIMIT 30",
        (author_id, author_id),
    )
    topics = await store.db.fetchall(
        f"SELECT t.slug, t.name, count(*) AS n FROM paper_topics pt JOIN topics t ON t.id = pt.topic_id"
        f" WHERE pt.paper_id IN ({mine}) AND t.kind != 'category' GROUP BY t.id ORDER BY n DESC, t.name LIMIT 20",
        (author_id,),
    )
    return AuthorSummary(
        key=akey,
        name=name,
        papers=int(count[0]) if count else 0,
        years=[(int(y), int(n)) for y, n in years if str(y).isdigit()],
        coauthors=[(k, n, int(c)) for k, n, c in coauthors],
        topics=[(s, n, int(c)) for s, n, c in topics],
    )


async def list_authors(store: Store, *, page: int = 1, per_page: int = 100) -> tuple[list[tuple[str, str, int]], int]:
    """(key, name, papers) by paper count, one page, and how many authors there are."""
    page = _page(page)
    total = await store.db.fetchone("SELECT count(*) FROM authors")
    rows = await store.db.fetchall(
        "SELECT a.key, a.name, count(pa.paper_id) AS n FROM authors a JOIN paper_authors pa"
        " ON pa.author_id = a.id GROUP BY a.id ORDER BY n DESC, a.key LIMIT ? OFFSET ?",
        (per_page, (page - 1) * per_page),
    )
    return [(k, n, int(c)) for k, n, c in rows], int(total[0]) if total else 0


async def list_topics(store: Store, *, page: int = 1, per_page: int = 100) -> tuple[list[Topic], int]:
    """Topics (not categories) by paper count, one page, and how many there are."""
    page = _page(page)
    total = await store.db.fetchone(
        f"SELECT count(*) FROM topics t WHERE t.kind != 'category' AND {topic_links.has_papers('t.id')}"
    )
    rows = await store.db.fetchall(
        f"SELECT t.slug, t.name, t.kind, {topic_links.count_of('t.id')} AS n, t.expansion FROM topics t"
        " WHERE t.kind != 'category' AND n > 0 ORDER BY n DESC, t.slug LIMIT ? OFFSET ?",
        (per_page, (page - 1) * per_page),
    )
    return [Topic(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows], int(total[0]) if total else 0
