"""Shared test helpers: the seed's location and small record builders."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from storage.db import _split_sql, migrations
from storage.models import PaperRecord
from storage.text import key_hash

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "seeds" / "000_c2aa908472245cfd.txt"
SEED_AS_OF = date(2026, 11, 25)
needs_seed = pytest.mark.skipif(not SEED.exists(), reason="needs ../shared (present in CI)")


def record(title: str, *authors: str, **fields: object) -> PaperRecord:
    """A record with sensible defaults for the fields a test does not care about."""
    fields.setdefault("published", date(2024, 1, 1))
    fields.setdefault("category", "CV")
    return PaperRecord(title=title, authors=tuple(authors) or ("Ada Lovelace",), **fields)  # type: ignore[arg-type]


def database_at(path: Path, version: int, applied_at: str = "2026-01-01T00:00:00.000000+00:00") -> sqlite3.Connection:
    """A database with the migrations up to ``version`` applied and recorded, as that code left it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.create_function("paperboy_key_hash", 1, key_hash, deterministic=True)  # as storage.db.migrate does
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                 " applied_at TEXT NOT NULL)")
    for migration in migrations():
        if migration.version > version:
            break
        for statement in _split_sql(migration.sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (migration.version, migration.name, applied_at))
    return conn


def rows(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """The rows of one query on the database file at ``path``, read through a connection of its own."""
    conn = sqlite3.connect(path)
    try:
        return [tuple(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()
