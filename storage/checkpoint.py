"""Copying the write-ahead log into the database file on a thread of its own, after each bulk write.

SQLite's automatic checkpoint runs inside the COMMIT that pushes the log past 1,000
pages, so the writer waits while every page it changed is copied and the file is
synced. At a million papers that was half a second of each 1,000-paper ingest
(most of its 51 MB log is index pages). The bulk-write connection turns it off
(``connect_sync``), and this thread runs a PASSIVE checkpoint after each write
call instead: it never waits for readers or writers, and a writer never waits for it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CheckpointStats:
    """What the thread has done: passes run, seconds spent, and the frames of the last pass."""

    passes: int = 0
    seconds: float = 0.0
    log_frames: int = 0
    copied_frames: int = 0


class Checkpointer:
    """One daemon thread and its own connection; ``wake`` after a write, ``idle`` to wait for it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.stats = CheckpointStats()
        self._cond = threading.Condition()
        self._wanted = False  # a write happened since the last pass began
        self._running = False
        self._stopping = False
        self._thread: threading.Thread | None = None

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

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._wanted or self._stopping)
                    if self._stopping:
                        return
                    self._wanted = False
                    self._running = True
                try:
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

    def _pass(self, conn: sqlite3.Connection) -> None:
        start = time.perf_counter()
        row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        stats = self.stats
        stats.passes += 1
        stats.seconds += time.perf_counter() - start
        if row is not None:
            stats.log_frames, stats.copied_frames = int(row[1]), int(row[2])


__all__ = ["CheckpointStats", "Checkpointer"]
