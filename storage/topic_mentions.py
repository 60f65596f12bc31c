"""Which stored papers name newly learnt topics, checked exactly: here, or in a helper process beside the ingest.

The search index finds the candidates (it stems and folds case); each candidate's
text is then read and matched exactly. At a million papers, a batch of 1,000 new
papers teaches some 300 topics whose spellings some 5,000 older papers hold, and
matching those texts is pure Python: 0.3 to 0.5 s of one core, paid inside the
linking's write transaction. A ``Helper`` process does that matching on the other
core while the ingest still stores its batch, on the texts the search thread read
ahead (storage/topic_linker.py) and handed over. Its answer carries a digest of each
text it read, and the linking uses an answer only for a paper whose text still has
that digest, so a paper changed, deleted or not yet committed when the helper read it
is matched again in the transaction, exactly as before.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import pickle
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from storage import heap
from storage.topics import TopicIndex

log = logging.getLogger(__name__)

_CHUNK = 500  # bound variables per IN (...), under SQLite's limit
# Candidates in one search before the helper is asked: fewer are matched in the transaction
# in a few milliseconds, less than handing them over costs.
AT_LEAST = 400
# An idle helper stops after this long; the next big batch of topics starts another.
IDLE_SECONDS = 120.0
# Papers in the search index from which an ingest starts the helper as it begins (``start_soon``):
# new topics' searches then find their candidates in the hundreds to thousands.
EARLY_AT = 100_000

Text = tuple[int, str, str]  # paper id, title, abstract
# A paper's id -> the digest of the text the helper read and the topics that text names.
Confirmed = dict[int, tuple[bytes, tuple[int, ...]]]


def chunks(items: list, size: int = _CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def paper_texts(conn: sqlite3.Connection, ids: Iterable[int]) -> Iterator[tuple[int, str, str]]:
    """(id, title, abstract) of the stored papers among ``ids``, in id order."""
    for chunk in chunks(sorted(set(ids))):
        yield from conn.execute(
            f"SELECT id, title, abstract FROM papers WHERE id IN ({','.join('?' * len(chunk))})", chunk
        )


def spelt(index: TopicIndex, spelling: str) -> dict[str, int]:
    """The part of ``index`` a spelling belongs in: acronyms carry capitals, phrases are folded."""
    return index.acronyms if any(c.isupper() for c in spelling) else index.phrases


def text_digest(title: str, abstract: str) -> bytes:
    """What tells the linking that a paper's text is the one the helper read."""
    return hashlib.blake2b(f"{title}\x00{abstract}".encode("utf-8", "surrogatepass"), digest_size=16).digest()


class Matcher:
    """The topics, among some spellings' topics, that a paper's text names exactly."""

    def __init__(self, spellings: dict[str, list[int]]) -> None:
        self._index = TopicIndex(phrases={}, acronyms={})
        for spelling, topic_ids in spellings.items():
            spelt(self._index, spelling)[spelling] = topic_ids[0]
        # Topics sharing a spelling answer to its first topic's id: each such id stands for them all.
        self._shared = {ids[0]: tuple(ids) for ids in spellings.values() if len(ids) > 1}

    def topics(self, title: str, abstract: str) -> tuple[int, ...]:
        shared = self._shared
        return tuple(sorted(t for found in self._index.topics_for(f"{title}. {abstract}")
                            for t in shared.get(found, (found,))))


def confirm(spellings: dict[str, list[int]], texts: list[Text]) -> Confirmed:
    """Each text's digest and the topics it names."""
    matcher = Matcher(spellings)
    return {pid: (text_digest(title, abstract), matcher.topics(title, abstract)) for pid, title, abstract in texts}


def _confirm_in_helper(spellings: dict[str, list[int]], texts: list[Text]) -> tuple[Confirmed, int]:
    """``confirm``, and the helper process's resident high-water mark after it."""
    return confirm(spellings, texts), heap.peak_rss()


class Helper:
    """One process that confirms candidates beside the ingest; started when first needed, stopped when idle.

    Any failure (it cannot start, it dies, the store cannot be read there) only means
    the linking matches those candidates itself, as it did before there was a helper.
    """

    def __init__(self, at_least: int | None = None, idle_seconds: float | None = None) -> None:
        self._at_least = AT_LEAST if at_least is None else at_least
        self._idle = IDLE_SECONDS if idle_seconds is None else idle_seconds
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._busy = 0
        self._timer: threading.Timer | None = None
        self.started = 0  # helper processes started, for tests and logs
        self.failed = False
        self.peak_rss = 0  # bytes: the largest high-water mark a helper reported

    @property
    def running(self) -> bool:
        return self._pool is not None

    def wanted(self, candidates: int) -> bool:
        """Whether so many candidates are worth handing to the helper (never again once it failed)."""
        return candidates >= self._at_least and not self.failed

    def start_soon(self) -> None:
        """Start the helper process now, if none runs, without waiting for it (never again once it failed).

        Started at its first ``confirm``, the helper's start was on the linking's path: in
        the 1M bench, the process that had just loaded the store took 0.5 s to start one (a
        spawned process imports the caller's main module again), while the first search
        waited. Started as an ingest begins, it starts on the core the ingest leaves idle
        while it stores its papers. It stops after IDLE_SECONDS unused, as after a confirm.
        """
        with self._lock:
            if self._pool is not None or self.failed:
                return
            pool = self._start()
        try:
            pool.submit(heap.peak_rss)  # a pool starts its process at the first task
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            log.debug("starting the topic helper early failed (%s); a confirm starts it again", exc)
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            return
        with self._lock:
            if self._busy == 0 and self._pool is pool:
                self._idle_soon()

    def _start(self) -> ProcessPoolExecutor:
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        self.started += 1
        return self._pool

    def _idle_soon(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self._idle, self._stop_if_idle)
            self._timer.daemon = True
            self._timer.start()

    def confirm(self, spellings: dict[str, list[int]], texts: list[Text]) -> Confirmed | None:
        """``confirm`` run in the helper; None when the helper failed."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            pool = self._pool or self._start()
            self._busy += 1
        try:
            confirmed, peak = pool.submit(_confirm_in_helper, spellings, texts).result()
            self.peak_rss = max(self.peak_rss, peak)
            return confirmed
        except (BrokenProcessPool, OSError, pickle.PicklingError, RuntimeError) as exc:
            log.warning("confirming topic mentions in a helper process failed (%s); the linking matches them"
                        " itself from now on, until the store is opened again", exc)
            with self._lock:
                # A helper that cannot start or keeps dying would cost a process start per search.
                self.failed = True
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            return None
        finally:
            with self._lock:
                self._busy -= 1
                if self._busy == 0 and self._pool is not None:
                    self._idle_soon()

    def _stop_if_idle(self) -> None:
        with self._lock:
            if self._busy or self._pool is None:
                return
            pool, self._pool, self._timer = self._pool, None, None
        log.debug("the idle topic helper process stops")
        pool.shutdown(wait=True)

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            pool, self._pool, self._timer = self._pool, None, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
