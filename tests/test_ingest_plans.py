"""Each look-up a batch ingest makes reads the stored tables by index, never by a whole scan.

A chunk's questions (which titles, aliases, keys, authors and source records are known)
are answered by joining a small temporary table against the stored tables. Without
statistics SQLite may choose to scan the stored table and probe the temporary one,
which costs the whole store once per 2,000-paper chunk: ingest then slows as the
store grows (at 1M papers it spent half its time scanning ``papers``). The plans are
read with EXPLAIN QUERY PLAN on a fresh store, where SQLite has no statistics either.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from storage import ingest_batch
from storage.store import Store


@pytest.fixture
async def conn(tmp_path: Path) -> sqlite3.Connection:
    path = tmp_path / "paperboy.db"
    store = await Store.open(path, search_index=False)
    await store.close()
    connection = sqlite3.connect(str(path), isolation_level=None)
    yield connection
    connection.close()


def _selects_of(conn: sqlite3.Connection) -> list[str]:
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        ingest_batch.title_matches(conn, [11, 12])
        ingest_batch.alias_matches(conn, ["arxiv:2401.00001"])
        ingest_batch.source_hashes(conn, 1, [1, 2])
        ingest_batch.taken_keys(conn, ["lee2023few"])
        ingest_batch.resolve_authors(conn, ["Sangheum Hwang"], {})
    finally:
        conn.set_trace_callback(None)
    return [sql for sql in seen if sql.lstrip().upper().startswith("SELECT") and "temp_ingest" in sql]


async def test_batch_look_ups_start_from_the_batch(conn: sqlite3.Connection) -> None:
    statements = _selects_of(conn)
    assert len(statements) >= 5
    for sql in statements:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        scans = [step for step in plan if re.match(r"SCAN (\w+)", step)]
        stored = [step for step in scans if step.split()[1] not in {"t"}]
        assert not stored, f"{sql}\nscans a stored table: {plan}"
