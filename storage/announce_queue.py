"""Queueing announcements: the outbox rows an ingest batch owes, decided by storage/subscriptions.py."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import date, datetime, timedelta

from storage.subscriptions import facts_sync, parse_filters, rules_sync, subscriptions_sync, too_old


def delivery_nonce(subscription_id: int, paper_key: str) -> str:
    """Deterministic, at most 25 characters (Discord's limit), so a resend is recognised."""
    return hashlib.sha256(f"{subscription_id}:{paper_key}".encode()).hexdigest()[:25]


def _recent(conn: sqlite3.Connection, ids: list[int], max_age: timedelta | None) -> list[int]:
    """The papers among ``ids`` not older than ``max_age`` when first seen (read from two narrow columns)."""
    if max_age is None or max_age <= timedelta(0):
        return ids
    out: list[int] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = conn.execute(
            f"SELECT id, published, first_seen_at FROM papers WHERE id IN ({','.join('?' * len(chunk))})", chunk
        )
        out += [
            paper_id for paper_id, published, first_seen in rows
            if not too_old(date.fromisoformat(published[:10]) if published else None,
                           datetime.fromisoformat(first_seen), max_age)
        ]
    return out


def queue_deliveries(conn: sqlite3.Connection, new_ids: list[int], *, now: str, max_age: timedelta | None) -> int:
    """One outbox row per (subscription, new paper) that the subscription announces.

    Runs inside the ingest's transaction. Only papers new to the store and not
    older than ``[announce] max_age`` when first seen are announced (a new
    source's backlog is stored, never posted); the target, include and exclude
    rules are storage/subscriptions.py's. Digest subscriptions get rows too
    (each digest takes the rows owed since the last, see storage/digests.py);
    paused ones get them as well, held until resumed.
    """
    if not new_ids:
        return 0
    subs = subscriptions_sync(conn)
    if not subs:
        return 0
    recent = _recent(conn, new_ids, max_age)  # a backlog is skipped before its facts are read
    if not recent:
        return 0
    rules = rules_sync(conn, max_age)
    filters = [(sub, parse_filters(sub.include, "include"), parse_filters(sub.exclude, "exclude")) for sub in subs]
    rows = [
        (sub.id, facts.id, delivery_nonce(sub.id, facts.key), now)
        for facts in facts_sync(conn, recent)
        for sub, include, exclude in filters
        if rules.evaluate(sub, facts, include=include, exclude=exclude).wanted
    ]
    cur = conn.executemany(
        "INSERT OR IGNORE INTO deliveries (subscription_id, paper_id, nonce, created_at) VALUES (?, ?, ?, ?)", rows
    )
    return max(cur.rowcount, 0) if rows else 0
