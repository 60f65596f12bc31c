"""The sources a store reads from (listing files, feeds, arXiv queries) and the store's own health check."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING

from storage.db import iso, utcnow
from storage.models import PollValidators, Source
from storage.redact import mask_secrets

if TYPE_CHECKING:
    from storage.db import Database


def upsert_source(
    conn: sqlite3.Connection, name: str, kind: str, location: str | None, owner: str | None
) -> int:
    """The id of source ``name``, added or brought up to date inside the caller's transaction."""
    conn.execute(
        "INSERT INTO sources (name, kind, location, owner) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET kind = excluded.kind,"
        " location = COALESCE(excluded.location, sources.location),"
        " owner = COALESCE(excluded.owner, sources.owner)",
        (name, kind, location, owner),
    )
    cur = conn.execute("SELECT id FROM sources WHERE name = ?", (name,))
    row = cur.fetchone()
    assert row is not None
    return int(row[0])


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


_SOURCE_COLUMNS = (
    "SELECT s.id, s.name, s.kind, s.location, s.owner, s.last_polled_at,"
    " s.last_success_at, s.last_error, s.etag, s.last_modified, s.content_hash,"
    " (SELECT count(*) FROM paper_sources ps WHERE ps.source_id = s.id)"
    " FROM sources s"
)


def _source(r: tuple) -> Source:
    return Source(r[0], r[1], r[2], r[3], r[4], _dt(r[5]), _dt(r[6]), r[7], r[8], r[9], r[10], int(r[11]))


async def sources(db: Database) -> list[Source]:
    return [_source(r) for r in await db.fetchall(_SOURCE_COLUMNS + " ORDER BY s.name")]


async def source(db: Database, name: str) -> Source | None:
    """One source with its paper count (a count over its paper_sources rows: 0.1 s at 2.5M papers)."""
    rows = await db.fetchall(_SOURCE_COLUMNS + " WHERE s.name = ?", (name,))
    return _source(rows[0]) if rows else None


async def poll_validators(db: Database, name: str) -> PollValidators | None:
    """The validators a poll sends, read without counting the source's papers.

    A poll of an unchanged file is meant to cost a stat: counting a 2.5M-paper source's
    rows for a figure the poll never reads took it from 0.06 s at 1M papers to 0.23 s.
    """
    rows = await db.fetchall("SELECT etag, last_modified, content_hash FROM sources WHERE name = ?", (name,))
    return PollValidators(*rows[0]) if rows else None


async def record_poll(
    db: Database,
    name: str,
    *,
    error: str | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
    content_hash: str | None = None,
) -> None:
    """Remember a poll's outcome: validators on success, the error sentence on failure.

    The sentence is stored with credentials masked: /healthz and `sources` show it.
    """
    now = iso(utcnow())
    error = mask_secrets(error) if error is not None else None
    async with db.transaction() as conn:
        if error is None:
            await conn.execute(
                "UPDATE sources SET last_polled_at = ?, last_success_at = ?, last_error = NULL,"
                " etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified),"
                " content_hash = COALESCE(?, content_hash) WHERE name = ?",
                (now, now, etag, last_modified, content_hash, name),
            )
        else:
            await conn.execute(
                "UPDATE sources SET last_polled_at = ?, last_error = ? WHERE name = ?",
                (now, error[:1000], name),
            )


async def check(db: Database) -> list[str]:
    """Problems SQLite and our own invariants find; an empty list means healthy."""
    problems = [
        r[0] for r in await db.fetchall("PRAGMA integrity_check") if r[0] != "ok"
    ]
    problems += [
        f"foreign key: {r[0]} row {r[1]} -> {r[2]}"
        for r in await db.fetchall("PRAGMA foreign_key_check")
    ]
    orphans = await db.fetchone(
        "SELECT count(*) FROM papers p WHERE NOT EXISTS"
        " (SELECT 1 FROM paper_sources ps WHERE ps.paper_id = p.id)"
    )
    if orphans and orphans[0]:
        problems.append(f"{orphans[0]} papers have no source record")
    # topic_papers and its recent part follow paper_topics: storage/topic_links.py writes both, a delete trigger
    # (migration 0012) removes from both.
    links = await db.fetchone(
        "SELECT (SELECT count(*) FROM paper_topics),"
        " (SELECT count(*) FROM topic_papers) + (SELECT count(*) FROM topic_papers_recent)"
    )
    if links and links[0] != links[1]:
        problems.append(
            f"paper_topics holds {links[0]:,} pairs and topic_papers with its recent part {links[1]:,};"
            " run `paperboy db reindex` to write them again"
        )
    # Ingest keeps keys unique; since migration 0011 no UNIQUE index does it as well.
    problems += [
        f"papers {ids} share the key {key!r}"
        for key, ids in await db.fetchall(
            "SELECT key, group_concat(id, ', ') FROM papers WHERE key_hash IN"
            " (SELECT key_hash FROM papers GROUP BY key_hash HAVING count(*) > 1)"
            " GROUP BY key HAVING count(*) > 1"
        )
    ]
    return problems
