"""The store's side of the search index: its change log (search_log) and what the index has committed."""

from __future__ import annotations

import logging
import sqlite3

from storage.errors import StoreError

log = logging.getLogger(__name__)


def store_state(conn: sqlite3.Connection) -> tuple[str, int]:
    row = conn.execute("SELECT value FROM meta WHERE key = 'search_index_store'").fetchone()
    if row is None:
        raise StoreError("the database has no search_log; apply migration 0002 first")
    last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'search_log'").fetchone()
    return str(row[0]), int(last[0]) if last else 0


def log_inserts(conn: sqlite3.Connection, paper_ids: list[int]) -> None:
    """Note new papers for the index: the store's one INSERT of papers calls this right after it (migration 0014)."""
    conn.executemany("INSERT INTO search_log (paper_id, op) VALUES (?, 'i')", [(pid,) for pid in paper_ids])


def pending(conn: sqlite3.Connection, seen: int) -> int:
    return int(conn.execute("SELECT count(*) FROM search_log WHERE seq > ?", (seen,)).fetchone()[0])


def count_papers(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM papers").fetchone()[0])


def record_seen(conn: sqlite3.Connection, seq: int) -> None:
    """Note in the store what the index has committed, and drop the log rows it no longer needs.

    Bookkeeping only, so it never makes a reader wait: nothing is written when
    there is nothing to note (a search or an export only opens the store), and
    while another process holds the write lock it is left for the next sync.
    """
    pruned = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM search_log WHERE seq <= ?)", (seq,)).fetchone()[0]
    if pruned and seen_in_store(conn) >= seq:
        return
    busy_ms = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute("PRAGMA busy_timeout = 200")
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        log.debug("search index bookkeeping left for later: %s", exc)
        return
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
    try:
        conn.execute(
            "UPDATE meta SET value = CAST(? AS TEXT) WHERE key = 'search_index_seen'"
            " AND CAST(value AS INTEGER) < ?",
            (seq, seq),
        )
        conn.execute("DELETE FROM search_log WHERE seq <= ?", (seq,))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def seen_in_store(conn: sqlite3.Connection) -> int:
    """The seq the store last recorded as committed by the index."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'search_index_seen'").fetchone()
    return int(row[0]) if row else 0
