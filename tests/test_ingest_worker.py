"""Storing a batch in a worker process: what it stores, errors that cross back, and a worker that dies."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from datetime import date
from pathlib import Path

import pytest

from feeds.sources.poll import Document, SourceSpec
from storage.errors import InvalidInputError, SourceFormatError, StoreError
from storage.ingest_worker import WorkerIngest
from storage.models import PaperRecord
from storage.store import Store
from tests.helpers import record, rows


def batch(n: int, word: str = "Probe") -> list[PaperRecord]:
    return [record(f"{word} Study Number {i} of Gradient Noise", f"Author {i % 37} Smith") for i in range(n)]


async def test_the_worker_stores_the_batch_and_the_service_searches_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    db = tmp_path / "s.db"
    async with await Store.open(db) as store:
        await store.ingest([record("Quiet Gradients in Deep Nets", "Ada Lovelace")], source="lab")
        assert [p.title for p in await store.search("quiet gradients")] == ["Quiet Gradients in Deep Nets"]
        run = await WorkerIngest(store).ingest(
            [record("Loud Gradients in Shallow Nets", "Alan Turing")], source="lab", kind="listing")
        assert run.in_worker and run.report.new == 1 and run.peak_rss > 10 * 2**20 and run.seconds > 0
        assert run.topics_linked >= 0
        # What the worker stored is in this process's answers: the index was synced and its reader reloaded.
        assert await store.count_papers() == 2
        assert (await store.search("loud gradients"))[0].title == "Loud Gradients in Shallow Nets"
        # This process took the index writer back: it can ingest and index on its own again.
        await store.ingest([record("Silent Gradients Everywhere", "Grace Hopper")], source="lab")
        assert (await store.search("silent gradients"))[0].title == "Silent Gradients Everywhere"
        # And lend it again: a second worker run after that works the same.
        again = await WorkerIngest(store).ingest(batch(30), source="lab")
        assert again.in_worker and again.report.new == 30
        assert await store.count_matches("gradient noise") == 30
    assert rows(db, "SELECT count(*) FROM papers") == [(33,)]
    # Taking the writer back read what the worker committed: the index was never found behind and rebuilt.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert len([r for r in caplog.records if "search index rebuilt" in r.getMessage()]) == 1  # the new index


async def test_a_domain_error_in_the_worker_comes_back_as_itself(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "s.db") as store:
        with pytest.raises(InvalidInputError, match="unknown source kind 'bogus'"):
            await WorkerIngest(store).ingest(batch(3), source="lab", kind="bogus")
        assert await store.count_papers() == 0
        # The writer came back even though the run failed.
        await store.ingest(batch(2), source="lab")
        assert await store.count_matches("gradient noise") == 2


async def _worker_started() -> multiprocessing.Process:
    for _ in range(600):
        children = [c for c in multiprocessing.active_children() if c.name == "paperboy-ingest"]
        if children:
            return children[0]
        await asyncio.sleep(0.01)
    raise AssertionError("no worker process appeared")


async def test_a_worker_killed_mid_batch_keeps_nothing_of_it_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    async with await Store.open(db) as store:
        await store.ingest([record("Kept From Before", "Ada Lovelace")], source="lab")
        task = asyncio.create_task(WorkerIngest(store).ingest(batch(20_000), source="lab"))
        worker = await _worker_started()
        await asyncio.sleep(0.5)
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        with pytest.raises(StoreError, match=r"ended \(exit code -9\) before it reported.*rolled back"):
            await task
        assert await store.count_papers() == 1
        assert rows(db, "SELECT title FROM papers") == [("Kept From Before",)]
        # The store is whole and the next batch goes in.
        run = await WorkerIngest(store).ingest(batch(5), source="lab")
        assert run.report.new == 5 and await store.count_matches("gradient noise") == 5


async def test_cancelling_the_ingest_ends_the_worker(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "s.db") as store:
        task = asyncio.create_task(WorkerIngest(store).ingest(batch(20_000), source="lab"))
        worker = await _worker_started()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not worker.is_alive() and worker.exitcode is not None
        assert await store.count_papers() == 0
        await store.ingest(batch(2), source="lab")
        assert await store.count_matches("gradient noise") == 2


class _NoProcesses:
    """A multiprocessing context whose processes cannot start, as on a host that forbids them."""

    def __init__(self) -> None:
        self._real = multiprocessing.get_context("spawn")

    def Pipe(self, duplex: bool = True):  # the context's own spelling
        return self._real.Pipe(duplex)

    def Process(self, **kwargs: object) -> multiprocessing.Process:
        process = self._real.Process(**kwargs)

        def refuse() -> None:
            raise OSError("Resource temporarily unavailable")

        process.start = refuse  # type: ignore[method-assign]
        return process


async def test_without_processes_the_batch_is_stored_here_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="storage.ingest_worker")
    async with await Store.open(tmp_path / "s.db") as store:
        run = await WorkerIngest(store, context=_NoProcesses()).ingest(batch(4), source="lab")  # type: ignore[arg-type]
        assert not run.in_worker and run.report.new == 4 and run.peak_rss > 0
        assert await store.count_matches("gradient noise") == 4
    assert any("could not start a process" in r.getMessage() and "Resource temporarily" in r.getMessage()
               for r in caplog.records)


async def test_the_workers_log_lines_reach_this_process_handlers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with await Store.open(tmp_path / "s.db") as store:
        await store.ingest(batch(2, "Alpha"), source="lab")
        await WorkerIngest(store).ingest(batch(3), source="lab")
    from_worker = [r for r in caplog.records if r.process != os.getpid()]
    assert from_worker, "no log record came back from the worker"
    assert all(r.args is None and isinstance(r.msg, str) for r in from_worker)
    # The worker indexed what it stored (it had the writer), and said so through this process's handlers.
    indexed = [r.getMessage() for r in from_worker
               if r.name == "storage.search_index" and "search index" in r.getMessage()]
    assert indexed == ["search index: applied 3 changes (3 papers) up to 5"]
    assert any(r.name == "storage.topic_linker" and r.levelno == logging.DEBUG for r in from_worker)


async def test_a_logger_quieted_here_stays_quiet_in_the_worker(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    quieted = logging.getLogger("storage.topic_linker")
    quieted.setLevel(logging.WARNING)
    try:
        async with await Store.open(tmp_path / "s.db") as store:
            await store.ingest(batch(2, "Alpha"), source="lab")
            await WorkerIngest(store).ingest(batch(3), source="lab")
    finally:
        quieted.setLevel(logging.NOTSET)
    from_worker = [r for r in caplog.records if r.process != os.getpid()]
    assert any(r.name == "storage.search_index" for r in from_worker)  # the worker did log
    assert [r.getMessage() for r in from_worker if r.name == "storage.topic_linker"] == []


async def test_a_store_whose_index_is_in_memory_stores_here_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with await Store.open(tmp_path / "s.db", search_index=False) as store:
        run = await WorkerIngest(store).ingest(batch(4), source="lab")
        assert not run.in_worker and run.report.new == 4
        # Searchable at once: the only index there is, this process's, was kept up.
        assert await store.count_matches("gradient noise") == 4
    assert caplog.records == []
    assert not (tmp_path / "s.db.search").exists()


def _document(tmp_path: Path, text: str, kind: str = "listing") -> Document:
    path = tmp_path / "lab.txt"
    path.write_text(text, encoding="utf-8")
    spec = SourceSpec(name="lab", kind=kind, url=str(path))
    return Document(spec, path.read_bytes(), None, date(2026, 11, 1), str(path))


_LISTING = (
    "CVMar 3, 2025Code\nQuiet Gradients in Deep NetsAda Lovelace, Alan Turing\nWe look at quiet gradients.\n"
    "CVMarch 99, 2025\nA Paper With a Broken DateGrace Hopper\nIts date cannot be read.\n"
    "LGApr 1, 2025\nLoud Gradients in Shallow NetsGrace Hopper\nAnd at loud ones.\n"
)


async def test_the_worker_parses_the_document_it_stores(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with await Store.open(tmp_path / "s.db") as store:
        run = await WorkerIngest(store).ingest_parsed(_document(tmp_path, _LISTING), source="lab")
        assert run.in_worker and run.records == 2 and run.report.new == 2
        assert [(p.line, p.field) for p in run.problems] == [(4, "date")]
        assert run.problems[0].source == str(tmp_path / "lab.txt")
        assert {p.title for p in await store.search("gradients")} == {
            "Quiet Gradients in Deep Nets", "Loud Gradients in Shallow Nets"}
    # The parse ran in the worker: its log line came from another process.
    [parsed] = [r for r in caplog.records if r.getMessage() == "source lab: 2 records, 1 problems"]
    assert parsed.process != os.getpid()


async def test_a_document_that_is_not_of_its_kind_fails_as_a_format_error(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "s.db") as store:
        prose = _document(tmp_path, "Dear all,\nthe lab meeting moves to Thursday.\n")
        with pytest.raises(SourceFormatError, match=r"lab\.txt.*plain prose"):
            await WorkerIngest(store).ingest_parsed(prose, source="lab")
        assert await store.count_papers() == 0


async def test_without_processes_the_document_is_parsed_and_stored_here(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "s.db") as store:
        ingester = WorkerIngest(store, context=_NoProcesses())  # type: ignore[arg-type]
        run = await ingester.ingest_parsed(_document(tmp_path, _LISTING), source="lab")
        assert not run.in_worker and run.records == 2 and run.report.new == 2 and len(run.problems) == 1
