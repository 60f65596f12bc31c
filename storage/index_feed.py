"""Indexing a load into an empty store in a process of its own, while the store learns its topics.

A load into an empty store was indexed after it committed, by reading the papers table
back into the search index. Before that commit, the store spends a fifth of the load
learning its topics in one Python thread, with the parse over and a core idle (at
250,000 papers, 12 s learning, then 13 s indexing). Here, once every record is stored,
a thread hands the new papers' texts to a spawned process that owns the index's writer
for the load and builds the documents on that idle core, while the store goes on with
its topics. Once the store has committed, the process commits the index with the
marker of the store's last change (storage/search_log.py), so the sync that follows has
nothing to replay. Feeding the process while the records were still being stored was
slower: it took turns with the parse for the same cores.

Nothing here can lose a paper: if the process cannot start, dies, or finds the index
written by another process, the load goes on and the index is rebuilt from the papers
table afterwards, as before. If the store rolls back, the process ends without
committing, and the index keeps what it held.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import threading
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from storage.ingest_topics import PaperText
from storage.search_index import IndexRow, SearchIndex

log = logging.getLogger(__name__)

AT_LEAST = 20_000  # records in a load from which starting a process pays for itself
_ROWS_AT_ONCE = 2_000
_STOP_WAIT_S = 30.0


class IndexFeed:
    """The store's side: start the indexing process, send it the new papers, have it commit or drop them.

    One load at a time; ``start`` begins a new process. Every method is safe to call when
    the process never started or has failed (it then does nothing), so the store has no
    branches of its own for those cases.
    """

    def __init__(self, index: SearchIndex, *, at_least: int = AT_LEAST) -> None:
        self._index = index
        self.at_least = at_least
        self._conn: Connection | None = None
        self._process: BaseProcess | None = None
        self._sender: threading.Thread | None = None
        self._send_error: BaseException | None = None
        # The store's (id, last search_log seq) as of the load's last write, set inside its transaction.
        self.state: tuple[str, int] | None = None

    @property
    def active(self) -> bool:
        """Whether a process is taking this load's papers."""
        return self._conn is not None

    def wanted(self, records: int, had_papers: bool) -> bool:
        """Whether a load of about ``records`` is worth a process: only into an empty store, on disk."""
        return not had_papers and records >= self.at_least and self._index.folder is not None

    def start(self) -> bool:
        """Start the process, handing it this process's writer; False (and a warning) if it cannot start."""
        self.abort()
        self.state, self._send_error = None, None
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(str(self._index.folder), theirs),
                                  name="paperboy-index-feed", daemon=True)
        self._index.release_writer()  # Tantivy lets one process write a folder at a time
        try:
            process.start()
        except OSError as exc:
            log.warning("could not start a process to index the load beside the store (%s); it is indexed"
                        " after the store commits", exc)
            ours.close()
            return False
        finally:
            theirs.close()
        self._conn, self._process = ours, process
        log.info("indexing the load in a process beside the store (pid %s)", process.pid)
        return True

    def send(self, ids: Sequence[int], texts: Mapping[int, PaperText]) -> None:
        """Send the stored texts of ``ids`` from a thread of its own; returns at once.

        ``texts`` must not change until ``commit`` or ``abort``.
        """
        conn = self._conn
        if conn is None:
            return

        def send_all() -> None:
            try:
                for start in range(0, len(ids), _ROWS_AT_ONCE):
                    conn.send([(pid, text.title, text.abstract) for pid in ids[start : start + _ROWS_AT_ONCE]
                               if (text := texts.get(pid)) is not None])
            except (OSError, ValueError) as exc:  # the process ended, or the feed was aborted
                self._send_error = exc

        self._sender = threading.Thread(target=send_all, name="index-feed", daemon=True)
        self._sender.start()

    def commit(self) -> bool:
        """After the store committed: have the process commit the index at the store's state; True if it did."""
        conn = self._conn
        if conn is None:
            return False
        self._join_sender()
        if self.state is None or self._send_error is not None:
            self._failed(self._reason() or f"it stopped taking papers ({self._send_error})")
            return False
        try:
            conn.send(("commit", *self.state))
            answer = conn.recv()
        except (OSError, EOFError, ValueError) as exc:
            self._failed(self._reason() or f"it ended before committing ({exc})")
            return False
        if answer[0] != "committed":
            self._failed(str(answer[1]))
            return False
        self._stop()
        log.info("search index: %d papers indexed beside the store, up to %d", answer[1], self.state[1])
        return True

    def abort(self) -> None:
        """Drop what the process holds (the store rolled back): it ends without committing."""
        self._stop()

    def _join_sender(self) -> None:
        if self._sender is not None:
            self._sender.join()
            self._sender = None

    def _reason(self) -> str | None:
        conn = self._conn
        try:
            if conn is not None and conn.poll(0):
                answer = conn.recv()
                return str(answer[1]) if isinstance(answer, tuple) and answer[0] == "failed" else None
        except (OSError, EOFError, ValueError):
            pass
        return None

    def _failed(self, reason: str) -> None:
        log.warning("indexing the load beside the store failed: %s; the index is rebuilt from the store"
                    " instead", reason)
        self._stop()

    def _stop(self) -> None:
        conn, process = self._conn, self._process
        self._conn = self._process = None
        if process is not None and self._sender is not None and self._sender.is_alive():
            process.kill()  # the sender may be blocked writing to it: ending the reader frees it
        if conn is not None:
            conn.close()  # the process reads the end of its pipe: it stops, committing nothing
        self._join_sender()
        if process is not None:
            process.join(_STOP_WAIT_S)
            if process.is_alive():
                process.kill()
                process.join()


def _serve(folder: str, conn: Connection) -> None:
    """The process: empty the index, add what arrives, commit when told; end without committing at EOF."""
    gc.disable()  # a few thousand documents' objects at a time; collections would only walk them
    try:
        index = SearchIndex.open(folder)
        index.begin_load()
    except Exception as exc:  # whatever it is, the store rebuilds the index instead
        conn.send(("failed", f"the index at {folder} could not be written ({exc})"))
        return
    added = 0
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return  # the store rolled back or gave up on this process: nothing is committed
            if isinstance(message, tuple):
                _, store_id, seq = message
                index.commit(seq, store_id)
                index.release_writer()  # lets its merges finish, so the store's writer starts clean
                conn.send(("committed", added))
                return
            added += index.add(IndexRow(*row) for row in message)
    except Exception as exc:  # reported to the store, which rebuilds the index instead
        try:
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass
