"""Connection set-up and schema migrations for the SQLite store."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TypeVar

import aiosqlite

from storage.errors import StoreError

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
BUSY_TIMEOUT_MS = 10_000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The numbered migration files shipped with the package, in order."""
    found = []
    for entry in (resources.files("storage") / "migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise StoreError(f"migration files are not numbered 1..n without gaps: {versions}")
    return found


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """Timestamps are stored as ISO 8601 UTC with microseconds, so text order is time order."""
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


async def connect(path: str | Path) -> aiosqlite.Connection:
    """Open a connection with the pragmas every connection needs."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = await aiosqlite.connect(str(path), isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the database {path}: {exc}") from exc
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA temp_store = MEMORY")
    except sqlite3.DatabaseError as exc:
        await conn.close()
        raise StoreError(
            f"{path} is not a paperboy database ({exc}); point --db at another file"
        ) from exc
    return conn


async def applied_versions(conn: aiosqlite.Connection) -> list[int]:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    async with conn.execute("SELECT version FROM schema_migrations ORDER BY version") as cur:
        return [row[0] async for row in cur]


async def migrate(conn: aiosqlite.Connection) -> list[Migration]:
    """Apply every migration not yet recorded, each in one transaction; return those applied."""
    known = migrations()
    try:
        done = set(await applied_versions(conn))
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the database cannot be read: {exc}") from exc
    newest = max(done, default=0)
    if newest > len(known):
        raise StoreError(
            f"the database has schema version {newest}, newer than this paperboy knows "
            f"({len(known)}); upgrade paperboy or use another --db"
        )
    applied = []
    for migration in known:
        if migration.version in done:
            continue
        log.info("applying migration %04d_%s", migration.version, migration.name)
        await conn.execute("BEGIN IMMEDIATE")
        try:
            # executescript would commit first; run statement by statement instead.
            for statement in _split_sql(migration.sql):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, iso(utcnow())),
            )
            await conn.execute(f"PRAGMA user_version = {migration.version}")
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        applied.append(migration)
    return applied


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def connect_sync(path: str) -> sqlite3.Connection:
    """A plain connection for bulk writes run in a worker thread, with the same pragmas."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


class Database:
    """The async connection, a worker-thread connection for bulk writes, and one write lock.

    Small writes go through the async connection; a batch ingest runs as one
    synchronous function in a thread, so its thousands of statements do not
    each cross between the event loop and aiosqlite's thread. The lock keeps
    the two from interleaving transactions inside this process.
    """

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self.conn = conn
        self.path = path
        self._write_lock = asyncio.Lock()
        self._sync: sqlite3.Connection | None = None

    async def run_write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one IMMEDIATE transaction on the worker connection, off the event loop."""
        async with self._write_lock:
            if self._sync is None:
                self._sync = await asyncio.to_thread(connect_sync, self.path)
            work = asyncio.ensure_future(asyncio.to_thread(self._in_transaction, self._sync, fn))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                # A thread cannot be interrupted: hold the lock until its transaction
                # has committed or rolled back, so close() never pulls the connection
                # out from under it.
                await asyncio.wait([work])
                raise

    async def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the worker connection in autocommit mode, under the write lock."""
        async with self._write_lock:
            if self._sync is None:
                self._sync = await asyncio.to_thread(connect_sync, self.path)
            work = asyncio.ensure_future(asyncio.to_thread(fn, self._sync))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                await asyncio.wait([work])
                raise

    @staticmethod
    def _in_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")

    async def fetchall(self, sql: str, params: tuple | list = ()) -> list[aiosqlite.Row]:
        async with self.conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def fetchone(self, sql: str, params: tuple | list = ()) -> aiosqlite.Row | None:
        async with self.conn.execute(sql, params) as cur:
            return await cur.fetchone()

    async def close(self) -> None:
        async with self._write_lock:
            if self._sync is not None:
                self._sync.close()
                self._sync = None
        await self.conn.close()
