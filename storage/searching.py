"""Searching the store: a query's plan, candidates from the search index, re-ranking, explanations.

``Store.search`` and ``Store.search_hits`` call in here. The plan and the
re-ranking are engine-independent (``storage.search_rank``); the Tantivy index
(``storage.search_index``, on disk or in memory) supplies the candidates. A
query that is exactly a person's name also brings that person's papers, matched in an authors field.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from storage import search_rank as rank
from storage.search import MAX_QUERY_CHARS
from storage.search_rank import SearchHit, build_plan
from storage.text import author_key

if TYPE_CHECKING:
    from storage.store import Store


async def search_hits(store: Store, query: str, limit: int = 10, offset: int = 0, *, explain: bool = True
                      ) -> list[SearchHit]:
    """Ranked papers with what matched where (``storage.search_rank`` says how they are ordered).

    Without ``explain`` a one-group query skips reading its hits' text (their order is the engine's).
    """
    limit = max(0, min(int(limit), 100))
    offset = max(0, int(offset))
    if limit == 0:
        return []
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
    await store.sync_index()
    index = store.search_index
    found = await asyncio.to_thread(index.candidates, plan, wanted)
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


async def _hits(store: Store, ranked: list[rank.Ranked]) -> list[SearchHit]:
    papers_by_id = {p.id: p for p in await store._in_order([r.paper_id for r in ranked])}
    return [SearchHit(papers_by_id[r.paper_id], r) for r in ranked if r.paper_id in papers_by_id]


async def _people_named(store: Store, query: str) -> list[int]:
    """Author ids whose whole name is the query, in either order ("Hyo-Eun Kim", "Kim, Hyo-Eun")."""
    key = author_key(query[:200])
    if not key or "-" not in key:
        return []
    pieces = key.split("-")
    keys = list(dict.fromkeys([key, "-".join([*pieces[1:], pieces[0]])]))
    rows = await store.db.fetchall(
        f"SELECT id FROM authors WHERE key IN ({','.join('?' * len(keys))})", keys
    )
    return [int(r[0]) for r in rows]


async def _papers_of(store: Store, people: list[int], n: int) -> list[int]:
    # The newest stored first, straight from the (author_id, paper_id) index: no sort of a
    # prolific author's thousands of papers.
    rows = await store.db.fetchall(
        f"SELECT DISTINCT paper_id FROM paper_authors WHERE author_id IN ({','.join('?' * len(people))})"
        " ORDER BY paper_id DESC LIMIT ?",
        [*people, n],
    )
    return [int(r[0]) for r in rows]


async def _approximated(store: Store, plan: rank.Plan) -> rank.Plan:
    """The plan with approximate forms (a stem prefix, near terms) for the words papers rarely use."""
    groups = []
    for group in plan.groups:
        stem = rank.approximable(group)
        if stem is not None:
            index = store.search_index
            df, papers = index.rarity(stem)
            rare = rank.is_rare(df, papers)
            near = rank.near_terms(stem, index.vocabulary(stem[:3])) if rare else []
            if rare:
                prefix = rank.prefix_alt(stem, df)
                group = group.with_alts([*([prefix] if prefix else []), *near])
        groups.append(group)
    return rank.Plan(tuple(groups), plan.terms)


async def count_matches(store: Store, query: str) -> int:
    """Papers holding every word of ``query`` (by its words, phrases and acronyms, not approximately)."""
    plan = build_plan(query[:MAX_QUERY_CHARS], store._analyzer, await store.expansions())
    if not plan.groups:
        return 0
    await store.sync_index()
    index = store.search_index
    return await asyncio.to_thread(index.count_plan, plan)

