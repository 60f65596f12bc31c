"""The write-ahead log is copied into the database file by a thread of its own, never by a bulk write's commit."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from storage.checkpoint import Checkpointer
from storage.store import Store
from tests.helpers import record, rows

BLOB = 24 * 1024 * 1024  # past SQLite's automatic checkpoint (1,000 pages of 16 KB)


def _big_write(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS scratch (b BLOB)")
    conn.execute("INSERT INTO scratch VALUES (randomblob(?))", (BLOB,))


def _sizes(path: Path) -> tuple[int, int]:
    wal = Path(f"{path}-wal")
    return path.stat().st_size, wal.stat().st_size if wal.exists() else 0


async def _settled(store: Store) -> tuple[Checkpointer, int]:
    """The store's checkpoint thread, and the database file's size once nothing waits to be copied."""
    checkpointer = store.db.checkpointer
    assert checkpointer is not None
    await store.db.run_write(lambda conn: None)
    await store.db.checkpoint_idle()
    return checkpointer, _sizes(Path(store.path))[0]


async def test_a_bulk_commit_leaves_the_log_to_the_checkpoint_thread(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with await Store.open(path, search_index=False) as store:
        checkpointer, before = await _settled(store)

        # With the thread held back, the commit alone copies nothing: SQLite's own checkpoint
        # would have copied the blob into the file at this size of log.
        checkpointer.stop()
        await store.db.run_write(_big_write)
        file_size, wal_size = _sizes(path)
        assert wal_size > BLOB
        assert file_size < before + BLOB // 2

    # The last connection's close copies what the held-back thread left: nothing is lost.
    assert path.stat().st_size > before + BLOB * 0.9
    assert rows(path, "SELECT length(b) FROM scratch") == [(BLOB,)]


async def test_the_thread_copies_the_log_after_each_bulk_write(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with await Store.open(path, search_index=False) as store:
        checkpointer, before = await _settled(store)
        passes = checkpointer.stats.passes

        await store.db.run_write(_big_write)
        await store.db.checkpoint_idle()
        file_size, _ = _sizes(path)
        assert file_size > before + BLOB * 0.9  # copied while the store stays open
        assert checkpointer.stats.passes > passes
        assert checkpointer.stats.copied_frames == checkpointer.stats.log_frames > 0

        # An ingest is a bulk write like any other, and a reader sees it whatever the thread does.
        await store.ingest([record("Copied Later", "Ada Lovelace")], source="s")
        await store.db.checkpoint_idle()
        assert [p.title for p in await store.latest()] == ["Copied Later"]
    assert not os.path.exists(f"{path}-wal") or os.path.getsize(f"{path}-wal") == 0



async def test_small_writes_share_one_pass_per_thousand_pages(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with await Store.open(path, search_index=False) as store:
        checkpointer = store.db.checkpointer
        assert checkpointer is not None
        await store.db.run_write(lambda conn: conn.execute("CREATE TABLE scratch (b BLOB)"))
        await store.db.run_write(_big_write)
        await store.db.checkpoint_idle()
        passes = checkpointer.stats.passes
        assert checkpointer._pages_waiting() == 0

        # The announcer's kind of write: a few pages each. No pass, so no sync of the file, yet.
        for _ in range(20):
            await store.db.run_write(lambda conn: conn.execute("INSERT INTO scratch VALUES (randomblob(40000))"))
        await store.db.checkpoint_idle()
        waiting = checkpointer._pages_waiting()
        assert waiting is not None and 20 <= waiting < checkpointer.pages_waiting
        assert checkpointer.stats.passes == passes

        # Past the threshold, the next write's pass copies them all.
        checkpointer.pages_waiting = waiting
        await store.db.run_write(lambda conn: conn.execute("INSERT INTO scratch VALUES (randomblob(40000))"))
        await store.db.checkpoint_idle()
        assert checkpointer.stats.passes == passes + 1
        assert checkpointer._pages_waiting() == 0
    assert rows(path, "SELECT count(*) FROM scratch") == [(22,)]


# Run in another process: can it take the WAL-index's "dead man switch" byte for itself? SQLite
# (unix VFS) holds a shared lock on byte 128 of the "-shm" file in every process using the log; a
# process that gets it exclusively takes itself for the only user and empties the WAL-index.
_TRY_DMS = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)
    print("taken")
except OSError:
    print("held")
"""


def _dms_from_another_process(path: Path) -> str:
    return subprocess.run([sys.executable, "-c", _TRY_DMS, f"{path}-shm"], capture_output=True, text=True,
                          check=True).stdout.strip()


async def test_the_thread_leaves_sqlites_locks_on_the_wal_index_in_place(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with await Store.open(path, search_index=False) as store:
        await store.ingest([record("Held Locks", "Ada Lovelace")], source="lab")
        assert _dms_from_another_process(path) == "held"
        passes = store.db.checkpointer.stats.passes if store.db.checkpointer else 0
        # Passes read the WAL-index header after every write: reading it must not drop the locks.
        for n in range(3):
            await store.db.run_write(_big_write if n == 1 else lambda conn: None)
            await store.db.checkpoint_idle()
        assert store.db.checkpointer is not None and store.db.checkpointer.stats.passes > passes
        assert _dms_from_another_process(path) == "held"
        # Another process's reader and writer beside this one; this process's writer goes on.
        other = sqlite3.connect(path, isolation_level=None)
        try:
            assert other.execute("SELECT count(*) FROM papers").fetchone() == (1,)
            other.execute("INSERT INTO scratch VALUES (x'00')")
        finally:
            other.close()
        await store.ingest([record("Still Writing", "Grace Hopper")], source="lab")
    assert sorted(t for (t,) in rows(path, "SELECT title FROM papers")) == ["Held Locks", "Still Writing"]


async def test_a_hold_keeps_passes_back_until_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with await Store.open(path, search_index=False) as store:
        checkpointer, before = await _settled(store)
        passes = checkpointer.stats.passes
        with checkpointer.hold():
            await store.db.run_write(_big_write)
            # Asked for but held back: waiting for the thread to settle runs out instead.
            assert not checkpointer.idle(timeout=0.3)
            assert checkpointer.stats.passes == passes
            assert (checkpointer._pages_waiting() or 0) > checkpointer.pages_waiting
            assert _sizes(path)[0] < before + BLOB // 2
        await store.db.checkpoint_idle()
        assert checkpointer.stats.passes == passes + 1
        assert checkpointer._pages_waiting() == 0
        assert _sizes(path)[0] > before + BLOB * 0.9


async def test_an_ingest_is_in_the_search_index_before_its_log_is_copied(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with await Store.open(path) as store:
        checkpointer, _ = await _settled(store)
        checkpointer.pages_waiting = 1  # any write asks for a pass
        index = store.index
        assert index is not None
        seen: list[tuple[int, int, bool]] = []
        sync = index.sync

        def watched(conn: sqlite3.Connection, **kwargs: bool) -> object:
            seen.append((checkpointer.stats.passes, checkpointer._holds, checkpointer._running))
            return sync(conn, **kwargs)

        index.sync = watched  # type: ignore[method-assign]
        passes = checkpointer.stats.passes
        await store.ingest([record("Indexed First", "Ada Lovelace")], source="lab")
        # The index was brought up to the batch under the ingest's hold, with no pass started.
        assert seen == [(passes, 1, False)]
        await store.db.checkpoint_idle()
        assert checkpointer.stats.passes == passes + 1
        assert checkpointer._holds == 0
        assert [p.title for p in await store.search("indexed")] == ["Indexed First"]


async def test_the_linking_after_an_ingest_runs_before_the_log_is_copied(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with await Store.open(path) as store:
        await store.ingest([record(f"Graph Kernels Part {n}", "Ada Lovelace") for n in range(3)], source="lab")
        checkpointer, _ = await _settled(store)
        checkpointer.pages_waiting = 1  # any write asks for a pass
        passes = checkpointer.stats.passes
        seen: list[tuple[int, int, bool]] = []
        link = store._linker.link_pending

        async def watched(batch: int) -> int:
            seen.append((checkpointer.stats.passes, checkpointer._holds, checkpointer._running))
            done = await link(batch)
            seen.append((checkpointer.stats.passes, checkpointer._holds, checkpointer._running))
            return done

        store._linker.link_pending = watched  # type: ignore[method-assign]
        report = await store.ingest([record(f"Graph Kernels Part {n}", "Alan Turing") for n in range(3, 6)],
                                    source="lab")
        assert report.new == 3
        await asyncio.sleep(0.05)  # what a caller does in between, such as recording the poll
        await store.link_pending_topics()
        # The ingest's writes asked for a pass; none started before the linking was done.
        assert seen == [(passes, 1, False), (passes, 1, False)]
        await store.db.checkpoint_idle()
        assert checkpointer.stats.passes == passes + 1
        assert checkpointer._holds == 0 and checkpointer._pages_waiting() == 0
