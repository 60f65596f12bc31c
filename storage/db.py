"""Connection set-up and schema migrations for the SQLite store."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TypeVar

import aiosqlite

from storage.checkpoint import Checkpointer
from storage.errors import StoreBusyError, StoreError
from storage.text import key_hash

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
BUSY_TIMEOUT_MS = 10_000
PAGE_SIZE = 16384
WRITE_CACHE_KIB = 64 * 1024  # the bulk-write connection's page cache
T = TypeVar("T")
# The line a migration file carries to run with foreign keys off (see _apply).
FOREIGN_KEYS_OFF = "-- paperboy: foreign keys off while this runs"


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


def is_busy(exc: BaseException) -> bool:
    """Whether an SQLite error means another connection holds the lock we need."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc)
    return "database is locked" in text or "database is busy" in text


def store_error(exc: BaseException, path: str | Path, *, waited_s: float | None = None) -> StoreError:
    """One sentence for a failure of the database file itself: what happened to which file, and what to do.

    Busy lock, full disk, read-only file or folder, damaged file; other errors keep
    SQLite's own words beside the file name.
    """
    if isinstance(exc, StoreError):
        return exc
    text = str(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if is_busy(exc):
        waited_s = BUSY_TIMEOUT_MS / 1000 if waited_s is None else waited_s
        return StoreBusyError(
            f"the database is busy: another paperboy is writing to {path}; retried for {waited_s:g} s. "
            "Run the command again when that process has finished"
        )
    if primary == sqlite3.SQLITE_FULL or "database or disk is full" in text or getattr(exc, "errno", None) == 28:
        return StoreError(
            f"the disk holding {path} is full (or the database reached its size limit); nothing was "
            "half-written: free some space and run the command again"
        )
    if (
        primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM)
        or "readonly database" in text
        or isinstance(exc, PermissionError)
        or getattr(exc, "errno", None) in (1, 13, 30)
    ):
        return StoreError(
            f"cannot write {path}: the file or its folder is read-only or not yours; fix its permissions "
            "(paperboy needs to create files beside it) or point --db at a writable folder"
        )
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or "malformed" in text or "not a database" in text:
        return StoreError(
            f"{path} is damaged or not a paperboy database ({text}); restore it from a backup "
            "(`paperboy db backup` makes one) or point --db at another file"
        )
    if primary == sqlite3.SQLITE_IOERR or "disk I/O error" in text:
        return StoreError(f"reading or writing {path} failed ({text}); check the disk and free space, then retry")
    return StoreError(f"the database {path} failed: {text}")


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open: SQLite ends it by itself on a full disk or I/O error."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.debug("rollback failed after an error", exc_info=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """Timestamps are stored as ISO 8601 UTC with microseconds, so text order is time order."""
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


async def connect(path: str | Path) -> aiosqlite.Connection:
    """Open a connection with the pragmas every connection needs."""
    if str(path) != ":memory:":
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot write {path}: its folder cannot be created ({exc.strerror or exc}); "
                "point --db at a writable folder"
            ) from None
    pending = aiosqlite.connect(str(path), isolation_level=None)
    try:
        conn = await pending
    except sqlite3.Error as exc:
        # Let aiosqlite's worker thread finish stopping before the loop that awaits it may close.
        thread = getattr(pending, "_thread", None)
        if thread is not None:
            await asyncio.to_thread(thread.join, 5)
        raise store_error(exc, path) from None
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Only a new, empty database takes this (before WAL is on); an existing one keeps its size.
        # A paper's row is 1.5-2 KB: 4 KB pages held two and left a fifth of every page empty.
        await conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA temp_store = MEMORY")
    except sqlite3.DatabaseError as exc:
        await conn.close()
        if is_busy(exc) or isinstance(exc, sqlite3.OperationalError):
            raise store_error(exc, path) from None
        raise StoreError(
            f"{path} is not a paperboy database ({exc}); point --db at another file"
        ) from None
    return conn


async def applied_versions(conn: aiosqlite.Connection) -> list[int]:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    async with conn.execute("SELECT version FROM schema_migrations ORDER BY version") as cur:
        return [row[0] async for row in cur]


async def migrate(conn: aiosqlite.Connection, path: str | Path = "the database") -> list[Migration]:
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
    pending = [m for m in known if m.version not in done]
    if pending:
        # A migration that rebuilds a table sorts its rows; at a million papers that sort held
        # 800 MB in memory where a temporary file holds it on disk.
        await conn.execute("PRAGMA temp_store = FILE")
        # Values SQL cannot compute, for the migrations that fill them in (0011).
        await conn.create_function("paperboy_key_hash", 1, key_hash, deterministic=True)
    try:
        for migration in pending:
            applied.append(await _apply(conn, migration, path))
    finally:
        if pending:
            await conn.execute("PRAGMA temp_store = MEMORY")
    return applied


async def _apply(conn: aiosqlite.Connection, migration: Migration, path: str | Path) -> Migration:
    """One migration in one transaction, recorded inside it."""
    log.info("applying migration %04d_%s", migration.version, migration.name)
    # A migration that rebuilds a table others reference asks for this: with foreign keys on,
    # dropping the old table first deletes (ON DELETE CASCADE) every row that references it.
    # The pragma only takes effect outside a transaction.
    keys_off = FOREIGN_KEYS_OFF in migration.sql
    if keys_off:
        await conn.execute("PRAGMA foreign_keys = OFF")
    try:
        return await _apply_in_transaction(conn, migration, path)
    finally:
        if keys_off:
            await conn.execute("PRAGMA foreign_keys = ON")


async def _apply_in_transaction(conn: aiosqlite.Connection, migration: Migration, path: str | Path) -> Migration:
    try:
        await conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise store_error(exc, path) from None
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
    except BaseException as exc:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error) and _is_file_error(exc):
            raise store_error(exc, path) from None
        raise
    return migration


def file_error_in(exc: BaseException) -> BaseException | None:
    """The error about the database file behind ``exc``, if any: a full disk makes SQLite end the
    transaction itself, so the statement that next touches it fails with "no such savepoint" or
    "cannot rollback", and the cause is only in the exception's context."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 10:
        if isinstance(current, sqlite3.Error) and _is_file_error(current):
            return current
        current = current.__cause__ or current.__context__
        seen += 1
    return None


def _is_file_error(exc: BaseException) -> bool:
    """Errors about the database file (lock, disk, permissions, damage), not about one statement."""
    if is_busy(exc):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    return primary in (
        sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM,
    )


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


def connect_sync(path: str, *, autocheckpoint: bool = True) -> sqlite3.Connection:
    """A plain connection for bulk writes run in a worker thread, with the same pragmas.

    Without ``autocheckpoint`` its commits never copy the log into the database file:
    the caller runs a ``storage.checkpoint.Checkpointer`` beside it.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous = NORMAL")
    if not autocheckpoint:
        conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("PRAGMA foreign_keys = ON")
    # Not MEMORY here: a batch stores each chunk inside a SAVEPOINT, and SQLite's in-memory
    # savepoint journal made every chunk's inserts several times slower than a file's, and
    # slower still as the cache grew (20,000 papers: 12 s in memory, 3 s on a temporary file).
    conn.execute("PRAGMA temp_store = FILE")
    # A batch writes index entries (keys, title keys, author links) all over their b-trees:
    # with SQLite's default 2 MB of cache those pages are evicted and spilt to the WAL again
    # and again, which made a 100,000-paper ingest five times slower per paper than 20,000.
    # Pages are only held once read, so a small store never uses this much.
    conn.execute(f"PRAGMA cache_size = -{WRITE_CACHE_KIB}")
    return conn


def _shrink(conn: sqlite3.Connection, hand_back: bool) -> None:
    """Hand the worker connection's page cache back between calls (see ``Database.hand_back_cache``)."""
    if hand_back and not conn.in_transaction:
        try:
            conn.execute("PRAGMA shrink_memory")
        except sqlite3.Error:
            log.debug("shrink_memory failed", exc_info=True)


def _then_shrink(fn: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection, hand_back: bool) -> T:
    try:
        return fn(conn)
    finally:
        _shrink(conn, hand_back)


class Database:
    """The async connection, a worker-thread connection for bulk writes, and one write lock.

    Small writes go through the async connection; a batch ingest runs as one
    synchronous function in a thread, so its thousands of statements do not
    each cross between the event loop and aiosqlite's thread. The lock keeps
    the two from interleaving transactions inside this process.
    """

    def __init__(
        self, conn: aiosqlite.Connection, path: str, *, busy_retries: int = 0, hand_back_cache: bool = False
    ) -> None:
        self.conn = conn
        self.path = path
        # The worker connection's page cache is large for a batch's sake (WRITE_CACHE_KIB). A
        # long-running service hands it back after each call, or its first big ingest stayed
        # resident; a command or worker process that ends after its batch keeps it, so the
        # batch's later transactions (index sync, topic linking) find the b-tree pages already
        # read: 0.4 s of 2.4 s for 1,000 new papers at a million.
        self.hand_back_cache = hand_back_cache
        # A long-running service waits longer for its own writes than a CLI command does:
        # each retry waits the busy timeout again before the busy sentence is raised.
        self.busy_retries = busy_retries
        self._write_lock = asyncio.Lock()
        self._sync: sqlite3.Connection | None = None
        # Bulk writes leave the log's copying to a thread of its own (storage/checkpoint.py).
        self.checkpointer = Checkpointer(path) if path != ":memory:" else None

    async def _sync_conn(self) -> sqlite3.Connection:
        if self._sync is None:
            self._sync = await asyncio.to_thread(
                connect_sync, self.path, autocheckpoint=self.checkpointer is None
            )
        return self._sync

    def _wrote(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.wake()

    def checkpoint_held(self) -> AbstractContextManager[None]:
        """A block in which the checkpoint thread starts no pass (see Checkpointer.hold)."""
        return self.checkpointer.hold() if self.checkpointer is not None else nullcontext()

    async def checkpoint_idle(self) -> None:
        """Wait until the log copied after the last bulk write is in the database file."""
        if self.checkpointer is not None:
            await asyncio.to_thread(self.checkpointer.idle)

    @property
    def waited_s(self) -> float:
        return BUSY_TIMEOUT_MS / 1000 * (1 + self.busy_retries)

    def _begin_sync(self, conn: sqlite3.Connection) -> None:
        for attempt in range(self.busy_retries + 1):
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise store_error(exc, self.path) from None
                if attempt == self.busy_retries:
                    raise store_error(exc, self.path, waited_s=self.waited_s) from None
                log.warning("database %s is busy; waiting again (%d of %d)", self.path, attempt + 1,
                            self.busy_retries)

    async def run_write(self, fn: Callable[[sqlite3.Connection], T], *, check_references: bool = True) -> T:
        """Run ``fn`` in one IMMEDIATE transaction on the worker connection, off the event loop.

        ``check_references=False`` turns SQLite's foreign key checks off for this transaction
        only. That is for writers that take every id they write from rows read or written in
        the same transaction: each reference checked costs a statement-level look-up per row,
        5 us at a million papers, and a thousand new papers write some 20,000 references
        (topic links, authors, sources), a fifth of their whole ingest. Deletes that cascade
        still need the checks on, so the connection goes back to them afterwards.
        """
        async with self._write_lock:
            conn = await self._sync_conn()
            work = asyncio.ensure_future(
                asyncio.to_thread(self._in_transaction, conn, fn, check_references=check_references)
            )
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                # A thread cannot be interrupted: hold the lock until its transaction
                # has committed or rolled back, so close() never pulls the connection
                # out from under it.
                await asyncio.wait([work])
                raise
            finally:
                self._wrote()

    async def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the worker connection in autocommit mode, under the write lock."""
        async with self._write_lock:
            conn = await self._sync_conn()
            work = asyncio.ensure_future(asyncio.to_thread(_then_shrink, fn, conn, self.hand_back_cache))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                await asyncio.wait([work])
                raise
            finally:
                self._wrote()

    def _in_transaction(
        self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], *, check_references: bool = True
    ) -> T:
        if not check_references:
            conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set before BEGIN
        try:
            self._begin_sync(conn)
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(conn)
                cause = file_error_in(exc)
                if cause is not None:
                    raise store_error(cause, self.path) from None
                raise
            except BaseException:
                _rollback(conn)
                raise
        finally:
            if not check_references:
                conn.execute("PRAGMA foreign_keys = ON")
            _shrink(conn, self.hand_back_cache)
        return result

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            for attempt in range(self.busy_retries + 1):
                try:
                    await self.conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if not is_busy(exc):
                        raise store_error(exc, self.path) from None
                    if attempt == self.busy_retries:
                        raise store_error(exc, self.path, waited_s=self.waited_s) from None
                    log.warning("database %s is busy; waiting again", self.path)
            try:
                yield self.conn
                await self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                await self._rollback_async()
                cause = file_error_in(exc)
                if cause is not None:
                    raise store_error(cause, self.path) from None
                raise
            except BaseException:
                await self._rollback_async()
                raise

    async def _rollback_async(self) -> None:
        if self.conn.in_transaction:
            try:
                await self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.debug("rollback failed after an error", exc_info=True)

    async def fetchall(self, sql: str, params: tuple | list = ()) -> list[aiosqlite.Row]:
        try:
            async with self.conn.execute(sql, params) as cur:
                return list(await cur.fetchall())
        except sqlite3.Error as exc:
            if _is_file_error(exc):
                raise store_error(exc, self.path) from None
            raise

    async def fetchone(self, sql: str, params: tuple | list = ()) -> aiosqlite.Row | None:
        try:
            async with self.conn.execute(sql, params) as cur:
                return await cur.fetchone()
        except sqlite3.Error as exc:
            if _is_file_error(exc):
                raise store_error(exc, self.path) from None
            raise

    async def close(self) -> None:
        async with self._write_lock:
            if self.checkpointer is not None:
                # Before the connections close: the last one to close copies what is left.
                await asyncio.to_thread(self.checkpointer.stop)
            if self._sync is not None:
                self._sync.close()
                self._sync = None
        await self.conn.close()
        if self.checkpointer is not None:
            self.checkpointer.release()
