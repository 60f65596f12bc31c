"""Copying the write-ahead log into the database file on a thread of its own, after each bulk write.

SQLite's automatic checkpoint runs inside the COMMIT that pushes the log past 1,000
pages, so the writer waits while every page it changed is copied and the file is
synced. At a million papers that was half a second of each 1,000-paper ingest
(most of its 51 MB log is index pages). The bulk-write connection turns it off
(``connect_sync``), and this thread runs a PASSIVE checkpoint instead, after a write
call that leaves as many pages waiting: it never waits for readers or writers, and a
writer never waits for it. Small writes (the announcer's) still share one checkpoint
per 1,000 pages, so a small server's disk is not synced after each of them.

An ingest ``hold``s the thread until its papers are in the search index too, and the
linking of its topics to older papers that follows holds it again: the pass's sync of the
database file and Tantivy's commit, which syncs the index's new files, waited on the same
disk. At a million papers the first index commit after a batch took 0.55 to 0.70 s beside
a pass and 0.08 s without one. The linking is held too so that the pass starts once the
whole batch is done rather than in the middle of it; a pass waits HOLD_GRACE_S after the
last hold ends, so that the next step of the same batch can take its hold first.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)

PAGES_WAITING = 1_000  # SQLite's own automatic checkpoint threshold
HOLD_GRACE_S = 0.25  # a pass starts this long after the last hold ended, if no other began
# The WAL-index header in the "-shm" file (sqlite.org/walformat.html): its version at byte 0,
# mxFrame, the last valid frame of the log, at byte 16, and nBackfill, the frames already
# copied, at byte 96; all 32-bit in the machine's byte order.
_VERSION, _MX_FRAME, _BACKFILL, _HEADER_BYTES = 0, 16, 96, 100
_WAL_INDEX_VERSION = 3007000


@dataclass(slots=True)
class CheckpointStats:
    """What the thread has done: passes run, seconds spent, and the frames of the last pass."""

    passes: int = 0
    seconds: float = 0.0
    log_frames: int = 0
    copied_frames: int = 0


class Checkpointer:
    """One daemon thread and its own connection; ``wake`` after a write, ``idle`` to wait for it."""

    def __init__(self, path: str, *, pages_waiting: int = PAGES_WAITING) -> None:
        self.path = path
        self.pages_waiting = pages_waiting
        self.stats = CheckpointStats()
        self._cond = threading.Condition()
        self._wanted = False  # a write happened since the last pass began
        self._running = False
        self._stopping = False
        self._holds = 0  # callers that asked for no pass to start yet (see ``hold``)
        self._released_at = 0.0  # time.monotonic() when the last hold ended
        self._thread: threading.Thread | None = None
        self._shm: int | None = None  # the WAL-index file, read by the thread and kept open (see _pages_waiting)

    def wake(self) -> None:
        """Ask for a pass (several calls while one runs make one more pass, not several)."""
        with self._cond:
            if self._stopping:
                return
            self._wanted = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="sqlite-checkpoint", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """No pass starts inside this block; the writes it wakes for make one pass once the last hold ends.

        That pass waits HOLD_GRACE_S more for another hold to begin. A pass already running goes on.
        """
        with self._cond:
            self._holds += 1
        try:
            yield
        finally:
            with self._cond:
                self._holds -= 1
                self._released_at = time.monotonic()
                self._cond.notify_all()

    def _may_start(self) -> bool:
        """With the condition's lock held: wait until a pass is wanted and no hold keeps it back."""
        while not self._stopping:
            if self._wanted and not self._holds:
                grace = self._released_at + HOLD_GRACE_S - time.monotonic()
                if grace <= 0:
                    return True
                self._cond.wait(grace)
            else:
                self._cond.wait()
        return False

    def idle(self, timeout: float | None = None) -> bool:
        """Block until no pass is asked for or running; False if ``timeout`` ran out first."""
        with self._cond:
            return self._cond.wait_for(lambda: not (self._wanted or self._running), timeout)

    def stop(self) -> None:
        """Finish the pass under way, then end the thread (the last connection's close checkpoints)."""
        with self._cond:
            self._stopping = True
            self._wanted = False
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    def release(self) -> None:
        """Close the WAL-index file: only once this process's connections to the database are closed."""
        self.stop()
        shm, self._shm = self._shm, None
        if shm is not None:
            os.close(shm)

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                with self._cond:
                    if not self._may_start():
                        return
                    self._wanted = False
                    self._running = True
                try:
                    waiting = self._pages_waiting()
                    if waiting is None or waiting >= self.pages_waiting:
                        if conn is None:
                            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                        self._pass(conn)
                except sqlite3.Error as exc:
                    # The next write's pass tries again; the writer's data is safe in the log.
                    log.warning("checkpoint of %s failed: %s", self.path, exc)
                finally:
                    with self._cond:
                        self._running = False
                        self._cond.notify_all()
        finally:
            if conn is not None:
                conn.close()

    def _pages_waiting(self) -> int | None:
        """Pages in the log not yet copied, read from the WAL-index header; None when it cannot be read.

        Read without SQLite's locks: a torn read only makes one pass early or late. The file
        stays open until ``release``: closing any descriptor of a file drops every POSIX lock
        this process holds on it, SQLite's included. With its lock on the "-shm" file gone,
        the next process to open the database took itself for the first, emptied the
        WAL-index under this one, and this process's writer then failed with "locking
        protocol" or died of SIGBUS.
        """
        if self._shm is None:
            try:
                self._shm = os.open(f"{self.path}-shm", os.O_RDONLY)
            except OSError:
                return None
        try:
            header = os.pread(self._shm, _HEADER_BYTES, 0)
        except OSError:
            return None
        if len(header) < _HEADER_BYTES or struct.unpack_from("=I", header, _VERSION)[0] != _WAL_INDEX_VERSION:
            return None  # not a header this code knows: checkpoint after every write, as a fallback
        (last,) = struct.unpack_from("=I", header, _MX_FRAME)
        (copied,) = struct.unpack_from("=I", header, _BACKFILL)
        return max(0, last - copied)

    def _pass(self, conn: sqlite3.Connection) -> None:
        start = time.perf_counter()
        row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        stats = self.stats
        stats.passes += 1
        stats.seconds += time.perf_counter() - start
        if row is not None:
            stats.log_frames, stats.copied_frames = int(row[1]), int(row[2])


__all__ = ["CheckpointStats", "Checkpointer"]
