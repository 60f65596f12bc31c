"""Store a batch in a worker process of its own, so a long-running service keeps none of the ingest's memory.

An ingest into a big store reads the whole topic index (every title phrase it knows), and
its searches for older papers naming new topics read much of the search index's postings
and positions. Run inside the service, that memory stayed with the service after every
poll: at a million papers, about 500 MB resident against about 200 before the first poll.

``WorkerIngest`` runs ``Store.ingest`` and ``Store.link_pending_topics`` in a spawned
process that opens the same store. Given what parses a source's document instead of
records (``ingest_parsed``), the worker parses it too, and the parse's memory stays there
as well. The service hands its search-index writer over for the run, so the worker
indexes what it stores, and takes the writer back afterwards. The worker's log records
come back to the service's own handlers. Errors come back as the same domain errors; a
worker that dies leaves its batch rolled back, as a crash would. Where no process can be
started, the batch is stored in this process instead.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import pickle
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any, NamedTuple

from storage import heap
from storage.errors import PaperboyError, StoreError
from storage.models import IngestReport, PaperRecord, ParseProblem, ParseResult
from storage.store import Store

log = logging.getLogger(__name__)

_CHUNK = 2_000  # records per message to the worker: the pickled batch never sits whole in a pipe


@dataclass(frozen=True, slots=True)
class WorkerRun:
    """What one batch stored, and what storing it cost the process that did it."""

    report: IngestReport
    topics_linked: int  # pending topics linked to older papers after the batch
    seconds: float
    peak_rss: int  # bytes: the high-water mark of the process that stored the batch
    in_worker: bool  # False when no process could be started and this one stored it
    records: int  # records handed to the store (parsed from the document, for ingest_parsed)
    problems: tuple[ParseProblem, ...] = ()  # what the parse skipped (ingest_parsed only)
    helper_peak_rss: int = 0  # bytes: the topic helper process's high-water mark; 0 when none ran


Parse = Callable[[], ParseResult]  # picklable: a worker process calls it (feeds.sources.poll.Document)
Work = Sequence[PaperRecord] | Parse


class _Stored(NamedTuple):
    """What the process that stored a batch reports back."""

    report: IngestReport
    linked: int
    peak_rss: int
    records: int
    problems: tuple[ParseProblem, ...]
    helper_peak_rss: int


@dataclass(frozen=True, slots=True)
class _Options:
    path: str
    source: str | None
    kind: str
    location: str | None
    owner: str | None
    max_age: timedelta | None
    busy_retries: int
    log_level: int


class WorkerIngest:
    """Stores batches into ``store`` from a worker process, one batch at a time."""

    def __init__(self, store: Store, *, context: BaseContext | None = None) -> None:
        self.store = store
        self._context = context or multiprocessing.get_context("spawn")
        # One worker at a time: the search-index writer can be lent to one process only.
        self._lock = asyncio.Lock()

    async def ingest(
        self,
        records: Sequence[PaperRecord],
        *,
        source: str | None = None,
        kind: str = "listing",
        location: str | None = None,
        owner: str | None = None,
    ) -> WorkerRun:
        """Store ``records`` and link pending topics, as ``Store.ingest`` then ``link_pending_topics``."""
        return await self._run(records, source, kind, location, owner)

    async def ingest_parsed(
        self,
        parse: Parse,
        *,
        source: str | None = None,
        kind: str = "listing",
        location: str | None = None,
        owner: str | None = None,
    ) -> WorkerRun:
        """Call ``parse`` and store its records, as ``ingest``; its problems come back in the run."""
        return await self._run(parse, source, kind, location, owner)

    async def _run(self, work: Work, source: str | None, kind: str, location: str | None,
                   owner: str | None) -> WorkerRun:
        options = _Options(
            path=self.store.path, source=source, kind=kind, location=location, owner=owner,
            max_age=self.store.announce_max_age, busy_retries=self.store.db.busy_retries,
            log_level=logging.getLogger().getEffectiveLevel(),
        )
        async with self._lock:
            started = time.perf_counter()
            index = self.store.search_index
            stored: _Stored | None = None
            # An index in memory is this process's own: a worker could neither read nor write it.
            if index.folder is not None:
                await self.store.db.run_sync(lambda _conn: index.release_writer())
                try:
                    stored = await self._in_worker(options, work)
                except _NoProcess as exc:
                    log.warning("could not start a process to store the batch in (%s); storing it in this one", exc)
                finally:
                    # Takes the writer back; indexes anything the worker stored but could not index.
                    await self.store.sync_index()
                    self.store.forget_derived()
            in_worker = stored is not None
            if stored is None:
                stored = await self._here(options, work)
            return WorkerRun(stored.report, stored.linked, time.perf_counter() - started, stored.peak_rss, in_worker,
                             stored.records, stored.problems, stored.helper_peak_rss)

    async def _here(self, options: _Options, work: Work) -> _Stored:
        records, problems = await asyncio.to_thread(_records_of, work)
        report = await self.store.ingest(records, source=options.source, kind=options.kind,
                                         location=options.location, owner=options.owner)
        linked = await self.store.link_pending_topics() if report.changed else 0
        return _Stored(report, linked, heap.peak_rss(), len(records), problems, self.store.topic_helper_peak_rss)

    async def _in_worker(self, options: _Options, work: Work) -> _Stored:
        records_in, records_out = self._context.Pipe(duplex=False)
        messages_in, messages_out = self._context.Pipe(duplex=False)
        process = self._context.Process(  # type: ignore[attr-defined]
            target=_work, args=(options, records_in, messages_out), name="paperboy-ingest"
        )
        try:
            process.start()
        except OSError as exc:
            records_out.close()
            messages_in.close()
            raise _NoProcess(str(exc)) from exc
        finally:
            records_in.close()  # the worker's ends: this process keeps only its own
            messages_out.close()
        stop = threading.Event()
        try:
            return await asyncio.to_thread(_talk, process, work, records_out, messages_in, stop)
        except BaseException:
            stop.set()
            if process.is_alive():
                # Stopping the service (or a failure here) ends the worker; SQLite rolls its batch back.
                process.terminate()
            raise
        finally:
            await asyncio.to_thread(process.join)
            records_out.close()
            messages_in.close()


class _NoProcess(Exception):
    pass


def _records_of(work: Work) -> tuple[list[PaperRecord], tuple[ParseProblem, ...]]:
    if callable(work):
        result = work()
        return result.records, tuple(result.problems)
    return list(work), ()


def _talk(process: Any, work: Work, records_out: Connection, messages_in: Connection,
          stop: threading.Event) -> _Stored:
    """Send the batch in chunks (or what parses it), then relay the worker's log records until it reports."""
    try:
        if callable(work):
            records_out.send(work)
        else:
            for start in range(0, len(work), _CHUNK):
                records_out.send(list(work[start : start + _CHUNK]))
        records_out.send(None)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the worker ended early; what it said before it did is read below
    while not stop.is_set():
        if not messages_in.poll(0.2):
            if process.is_alive():
                continue
            if not messages_in.poll():
                break
        try:
            kind, payload = messages_in.recv()
        except EOFError:
            break
        if kind == "log":
            # The worker knows only the root level: this process's level for each logger decides.
            logger = logging.getLogger(payload.name)
            if logger.isEnabledFor(payload.levelno):
                logger.handle(payload)
        elif kind == "done":
            return payload
        else:
            raise payload
    process.join(5)
    raise StoreError(
        f"the worker process storing this batch ended (exit code {process.exitcode}) before it reported;"
        " its batch was rolled back and nothing of it is kept. The next poll tries again; if this"
        " repeats, look for an out-of-memory kill in the system log"
    )


class _PipeHandler(logging.Handler):
    """The worker's log records, sent to the service's handlers (message formatted, no live objects)."""

    def __init__(self, out: Connection) -> None:
        super().__init__()
        self.out = out
        self._send = threading.Lock()  # the search threads log too

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.msg = record.getMessage()
            record.args = None
            if record.exc_info:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
            with self._send:
                self.out.send(("log", record))
        except Exception:
            self.handleError(record)


def _work(options: _Options, records_in: Connection, messages_out: Connection) -> None:
    """The worker process: read the batch (or parse it), store it, link pending topics, report."""
    root = logging.getLogger()
    root.handlers[:] = [_PipeHandler(messages_out)]
    root.setLevel(options.log_level)
    try:
        records: list[PaperRecord] = []
        problems: tuple[ParseProblem, ...] = ()
        while (chunk := records_in.recv()) is not None:
            if callable(chunk):
                records, problems = _records_of(chunk)
            else:
                records.extend(chunk)
        report, linked, helper_peak = asyncio.run(_store(options, records))
        messages_out.send(("done", _Stored(report, linked, heap.peak_rss(), len(records), problems, helper_peak)))
    except BaseException as exc:  # every failure goes back to the service, which decides
        messages_out.send(("error", _portable(exc)))
    finally:
        messages_out.close()


async def _store(options: _Options, records: list[PaperRecord]) -> tuple[IngestReport, int, int]:
    store = await Store.open(options.path, announce_max_age=options.max_age, busy_retries=options.busy_retries)
    async with store:
        report = await store.ingest(
            records, source=options.source, kind=options.kind, location=options.location, owner=options.owner
        )
        linked = await store.link_pending_topics() if report.changed else 0
    return report, linked, store.topic_helper_peak_rss


def _portable(exc: BaseException) -> BaseException:
    """The error itself when it can cross a pipe and means something to a user; else a StoreError saying what."""
    if isinstance(exc, PaperboyError):
        try:
            pickle.loads(pickle.dumps(exc))
            return exc
        except Exception:  # an exception class with an unusual constructor
            pass
    return StoreError(f"storing the batch failed in its worker process: {type(exc).__name__}: {exc}")
