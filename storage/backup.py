"""Copying a live database to a new file with SQLite's online backup API."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

from storage.errors import InvalidInputError


async def copy_database(conn: aiosqlite.Connection, target: Path) -> None:
    """Copy the database ``conn`` is open on to ``target``, a new file (safe while others write)."""
    if target.exists():
        raise InvalidInputError(f"{target} already exists; choose a new backup path")
    target.parent.mkdir(parents=True, exist_ok=True)
    dest = sqlite3.connect(str(target))
    try:
        await conn.backup(dest)
    finally:
        dest.close()


__all__ = ["copy_database"]
