"""Searching the store: a query's plan, candidates from either engine, re-ranking, explanations.

``Store.search`` and ``Store.search_hits`` call in here. The plan and the
re-ranking are engine-independent (``storage.search_rank``). With the Tantivy
index (``storage.search_index``) the whole search is one worker-thread call
(``storage.search_reader``), made again after a refresh when the store has
changed; without it, SQLite FTS5 (``storage.search``) supplies the candidates.
A query that is exactly a person's name also brings that person's papers,
matched in an authors field.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from storage import search_rank as rank
from storage.search import MAX_QUERY_CHARS, Expansions, build_match, plan_match
from storage.search_rank import SearchHit, build_plan
from storage.search_reader import SearchReader, Stale, papers_of_sql, people_sql

if TYPE_CHECKING:
    from storage.store import Store

T = TypeVar("T")

# FTS5's bm25() weights, the same as the Tantivy index's title boost.
TITLE_WEIGHT = 10.0
ABSTRACT_WEIGHT = 1.0


async def search_hits(store: Store, query: str, limit: int = 10, offset: int = 0, *, explain: bool = True
                      ) -> list[SearchHit]:
    """Ranked papers with what matched where (``storage.search_rank`` says how they are ordered).

    Without ``explain`` a one-group query skips reading its hits' text (their order is the engine's).
    """
    limit = max(0, min(int(limit), 100))
    offset = max(0, int(offset))
    if limit == 0:
        return []
    if store.index is not None:
        return await _fresh(store, lambda reader, expansions, at: reader.hits(
            query, limit, offset, explain, expansions, at))
    plan = build_plan(query[:MAX_QUERY_CHARS], store._analyzer, await store.expansions())
    if not plan.groups:
        return []
    # A query that is exactly someone's name also finds that person's papers (and a name is
    # not a misspelt word: it gets no approximate forms).
    people = await _people_named(store, query)
    if not people:
        plan = await _approximated(store, plan)
    # One group: every candidate matches it, and the engine's BM25 (title boosted) is the order.
    single = len(plan.groups) == 1 and not people
    wanted = offset + limit if single else max(rank.POOL, offset + limit)
    found = await _fts_candidates(store, plan, wanted)
    if people:
        seen = {i for i, _ in found}
        found += [(i, 0.0) for i in await _papers_of(store, people, wanted) if i not in seen]
    if single:
        # Equal scores in a stable order (the index's own order of ties depends on its segments).
        found = sorted(found, key=lambda hit: (-round(hit[1], 4), -hit[0]))[offset : offset + limit]
        if not explain:
            return await _hits(store, [rank.Ranked(i, 1, plan.words, 0.0, s) for i, s in found])
    scores = dict(found)
    marks = ",".join("?" * len(found))
    rows = await store.db.fetchall(
        f"SELECT id, title, abstract FROM papers WHERE id IN ({marks})", [i for i, _ in found]
    ) if found else []
    texts = {int(r[0]): (r[1], r[2] or "") for r in rows}
    names: dict[int, str] = {}
    if people and found:
        for paper_id, joined in await store.db.fetchall(
            f"SELECT paper_id, group_concat(name, ', ') FROM paper_authors WHERE paper_id IN ({marks})"
            " GROUP BY paper_id", [i for i, _ in found]
        ):
            names[int(paper_id)] = joined or ""
    cands = [(i, *texts[i], scores[i], names.get(i, "")) for i, _ in found if i in texts]
    if single:
        ranked = [rank.rank_one(plan, i, t, a, s, store._analyzer) for i, t, a, s, _ in cands]
    else:
        ranked = (await asyncio.to_thread(rank.rerank, plan, cands, store._analyzer))[offset : offset + limit]
    return await _hits(store, ranked)


async def _fresh(store: Store, call: Callable[[SearchReader, Expansions, int | None], T]) -> T:
    """``call`` in one worker thread, with the index synced and the expansions read at the store's version.

    The reader checks the version itself; only when the store has changed since
    (an ingest here or in another process) are the index and expansions brought
    up to date first, and the call made again.
    """
    reader = store.search_reader()
    cached = store._expansions
    if cached is not None and cached[0] == store._index_version:
        try:
            return await asyncio.to_thread(call, reader, cached[1], cached[0])
        except Stale:
            pass
    await store.sync_index()
    expansions = await store.expansions()
    return await asyncio.to_thread(call, reader, expansions, None)


async def _hits(store: Store, ranked: list[rank.Ranked]) -> list[SearchHit]:
    papers_by_id = {p.id: p for p in await store._in_order([r.paper_id for r in ranked])}
    return [SearchHit(papers_by_id[r.paper_id], r) for r in ranked if r.paper_id in papers_by_id]


async def _people_named(store: Store, query: str) -> list[int]:
    """Author ids whose whole name is the query, in either order ("Hyo-Eun Kim", "Kim, Hyo-Eun")."""
    sql = people_sql(query)
    return [] if sql is None else [int(r[0]) for r in await store.db.fetchall(*sql)]


async def _papers_of(store: Store, people: list[int], n: int) -> list[int]:
    return [int(r[0]) for r in await store.db.fetchall(*papers_of_sql(people, n))]


async def _approximated(store: Store, plan: rank.Plan) -> rank.Plan:
    """The plan with approximate forms (a stem prefix, near terms) for the words papers rarely use."""
    groups = []
    for group in plan.groups:
        stem = rank.approximable(group)
        if stem is not None:
            row = await store.db.fetchone(
                "SELECT (SELECT count(*) FROM papers_fts WHERE papers_fts MATCH ?), (SELECT max(id) FROM papers)",
                (build_match(group.text),),
            )
            df, papers = (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)
            rare, near = rank.is_rare(df, papers), []
            if rare:
                prefix = rank.prefix_alt(stem, df)
                group = group.with_alts([*([prefix] if prefix else []), *near])
        groups.append(group)
    return rank.Plan(tuple(groups), plan.terms)


async def _fts_candidates(store: Store, plan: rank.Plan, n: int) -> list[tuple[int, float]]:
    found: list[tuple[int, float]] = []
    for any_group in (False, True):
        if any_group and (len(found) >= n or len(plan.groups) < 2):
            break
        match = plan_match(plan, any_group=any_group)
        if not match:
            break
        rows = await store.db.fetchall(
            "SELECT rowid, bm25(papers_fts, ?, ?) AS s FROM papers_fts WHERE papers_fts MATCH ?"
            " ORDER BY s LIMIT ?",
            (TITLE_WEIGHT, ABSTRACT_WEIGHT, match, n),
        )
        seen = {i for i, _ in found}
        # bm25() is lower-is-better; negated so that higher is better as in Tantivy.
        found += [(int(r[0]), -float(r[1])) for r in rows if int(r[0]) not in seen][: n - len(found)]
    return found


async def count_matches(store: Store, query: str) -> int:
    """Papers holding every word of ``query`` (by its words, phrases and acronyms, not approximately)."""
    if store.index is not None:
        return await _fresh(store, lambda reader, expansions, at: reader.count(query, expansions, at))
    plan = build_plan(query[:MAX_QUERY_CHARS], store._analyzer, await store.expansions())
    if not plan.groups:
        return 0
    match = plan_match(plan)
    if not match:
        return 0
    row = await store.db.fetchone(
        "SELECT count(*) FROM papers_fts WHERE papers_fts MATCH ?", (match,)
    )
    return int(row[0]) if row else 0

