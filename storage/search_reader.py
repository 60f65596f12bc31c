"""A search through the Tantivy index answered in one worker-thread call, plans cached per data version.

Each crossing between the event loop and a worker thread costs tens of
microseconds, and a search used to make about twenty (the version checks, the
candidates, the rows, the re-ranking, the papers' authors and sources): more
than the index itself spends on a common word. Here the version check, the
plan, the candidates, the rows, the re-ranking and the papers are one call on
a read-only connection of its own (WAL lets it read beside the writer). The
query plan, with its approximate forms and the people a query names, is kept
per data version, so a repeated query (the next page, the same search from
another user) skips building it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass

import tantivy

from storage import paper_rows
from storage import search_rank as rank
from storage.db import connect_sync
from storage.search import MAX_QUERY_CHARS, Expansions
from storage.search_index import SearchIndex
from storage.search_rank import SearchHit, build_plan
from storage.text import author_key

PLANS_KEPT = 512
READ_CACHE_KIB = 8 * 1024  # the reader's page cache


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a query means at one data version, ready to run."""

    plan: rank.Plan
    people: tuple[int, ...]  # authors whose whole name the query is
    every: tantivy.Query | None  # every required group
    any: tantivy.Query | None  # any group (when fewer papers hold every one)


class Stale(Exception):
    """The store changed since the index was synced or the expansions read: refresh, then ask again."""


class SearchReader:
    """Searches the index and reads their papers on a read-only connection, one thread call each."""

    def __init__(self, path: str, index: SearchIndex, analyzer: rank.Analyzer) -> None:
        self.index = index
        self.analyzer = analyzer
        self._conn = connect_sync(path)
        self._conn.execute("PRAGMA query_only = ON")
        # Not the bulk writer's 64 MB: a search reads a few hundred rows, which the OS keeps
        # cached anyway, and this cache filled up over a service's life as resident memory.
        self._conn.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
        self._lock = threading.Lock()  # one statement stream at a time on the connection
        self._plans: OrderedDict[tuple[str, int, int], Prepared] = OrderedDict()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def version(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
        return int(row[0]) if row else 0

    def prepare(self, query: str, expansions: Expansions, version: int) -> Prepared:
        key = (query, version, id(expansions))
        found = self._plans.get(key)
        if found is not None:
            self._plans.move_to_end(key)
            return found
        plan = build_plan(query, self.analyzer, expansions)
        # A query that is exactly someone's name also finds that person's papers (and a name is
        # not a misspelt word: it gets no approximate forms).
        people = tuple(people_named(self._conn, query)) if plan.groups else ()
        if plan.groups and not people:
            plan = self.index.approximate(plan)
        prepared = Prepared(plan, people, self.index.plan_query(plan) if plan.groups else None,
                            self.index.plan_query(plan, any_group=True) if len(plan.groups) > 1 else None)
        self._plans[key] = prepared
        if len(self._plans) > PLANS_KEPT:
            self._plans.popitem(last=False)
        return prepared

    def hits(self, query: str, limit: int, offset: int, explain: bool, expansions: Expansions,
             fresh_at: int | None) -> list[SearchHit]:
        """The page of ranked hits; raises Stale when the data version is not ``fresh_at`` (None: any)."""
        query = query[:MAX_QUERY_CHARS]
        with self._lock:
            version = self.version()
            if fresh_at is not None and version != fresh_at:
                raise Stale(version)
            prepared = self.prepare(query, expansions, version)
        return self._hits(prepared, limit, offset, explain)

    def count(self, query: str, expansions: Expansions, fresh_at: int | None) -> int:
        """Papers holding every required group of the query (not approximately)."""
        query = query[:MAX_QUERY_CHARS]
        with self._lock:
            version = self.version()
            if fresh_at is not None and version != fresh_at:
                raise Stale(version)
            plan = build_plan(query, self.analyzer, expansions)
        return self.index.count_plan(plan) if plan.groups else 0

    def _hits(self, prepared: Prepared, limit: int, offset: int, explain: bool) -> list[SearchHit]:
        plan, people = prepared.plan, prepared.people
        if not plan.groups:
            return []
        # One group: every candidate matches it, and the engine's BM25 (title boosted) is the order.
        single = len(plan.groups) == 1 and not people
        wanted = offset + limit if single else max(rank.POOL, offset + limit)
        found = self.index.run_candidates(prepared.every, prepared.any, wanted)
        if people:
            seen = {i for i, _ in found}
            with self._lock:
                theirs = papers_of(self._conn, people, wanted)
            found += [(i, 0.0) for i in theirs if i not in seen]
        if single:
            # Equal scores in a stable order (the index's own order of ties depends on its segments).
            found = sorted(found, key=lambda hit: (-round(hit[1], 4), -hit[0]))[offset : offset + limit]
        if not found:
            return []
        with self._lock:
            rows = {row[0]: row for row in paper_rows.paper_rows(self._conn, [i for i, _ in found])}
            names = author_names(self._conn, [i for i, _ in found]) if people else {}
        if single and not explain:
            ranked = [rank.Ranked(i, 1, plan.words, 0.0, s) for i, s in found]
        else:
            cands = [(i, rows[i][paper_rows.TITLE_AT], rows[i][paper_rows.ABSTRACT_AT] or "", s, names.get(i, ""))
                     for i, s in found if i in rows]
            if single:  # the engine's order stands; the pass only says what matched where
                ranked = [rank.rank_one(plan, i, t, a, s, self.analyzer) for i, t, a, s, _ in cands]
            else:
                ranked = rank.rerank(plan, cands, self.analyzer)[offset : offset + limit]
        page = [rows[r.paper_id] for r in ranked if r.paper_id in rows]
        with self._lock:
            papers = {p.id: p for p in paper_rows.hydrate(self._conn, page)}
        return [SearchHit(papers[r.paper_id], r) for r in ranked if r.paper_id in papers]


def people_sql(query: str) -> tuple[str, list[str]] | None:
    """The look-up of author ids whose whole name is the query, in either order ("Kim, Hyo-Eun")."""
    key = author_key(query[:200])
    if not key or "-" not in key:
        return None
    pieces = key.split("-")
    keys = list(dict.fromkeys([key, "-".join([*pieces[1:], pieces[0]])]))
    return f"SELECT id FROM authors WHERE key IN ({','.join('?' * len(keys))})", keys


def papers_of_sql(people: tuple[int, ...] | list[int], n: int) -> tuple[str, list[int]]:
    # The newest stored first, straight from the (author_id, paper_id) index: no sort of a
    # prolific author's thousands of papers.
    return (f"SELECT DISTINCT paper_id FROM paper_authors WHERE author_id IN ({','.join('?' * len(people))})"
            " ORDER BY paper_id DESC LIMIT ?", [*people, n])


def people_named(conn: sqlite3.Connection, query: str) -> list[int]:
    sql = people_sql(query)
    return [] if sql is None else [int(r[0]) for r in conn.execute(*sql)]


def papers_of(conn: sqlite3.Connection, people: tuple[int, ...], n: int) -> list[int]:
    return [int(r[0]) for r in conn.execute(*papers_of_sql(people, n))]


def author_names(conn: sqlite3.Connection, ids: list[int]) -> dict[int, str]:
    """Each paper's author names joined, for matching a query that names a person."""
    rows = conn.execute(
        f"SELECT paper_id, group_concat(name, ', ') FROM paper_authors WHERE paper_id IN ({','.join('?' * len(ids))})"
        " GROUP BY paper_id", ids)
    return {int(paper_id): joined or "" for paper_id, joined in rows}


__all__ = ["Prepared", "SearchReader", "Stale", "author_names", "papers_of_sql", "people_named", "people_sql"]
