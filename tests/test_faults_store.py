"""Faults of the database file, injected for real: a write lock held by another process, a full disk,
a read-only folder, a damaged file. Readers keep answering; writers say one sentence naming the file."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import storage.db as db_module
from paperboy.cli import main
from storage.db import Database, connect
from storage.errors import StoreBusyError, StoreError
from storage.store import Store
from tests.fault_figures import Figures, report
from tests.helpers import record

FIGURES = Figures("database faults")
LISTING = "".join(
    f"CVApr {day}, 2023\nA Study of Topic Number {day}Jane Doe, John Roe\nAbstract {day} about things.\n"
    for day in range(1, 29)
)
HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE meta SET value = value WHERE key = 'data_version'")
print("held", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


@pytest.fixture(scope="module", autouse=True)
def _print_figures(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report(request, FIGURES)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ingested store per module; each test works on its own copy."""
    folder = tmp_path_factory.mktemp("built")
    listing = folder / "lab.txt"
    listing.write_text(LISTING)
    db = folder / "p.db"
    assert main(["--db", str(db), "--log-level", "WARNING", "ingest", str(listing)]) == 0
    logging.getLogger().handlers.clear()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return db


@pytest.fixture
def stored(built: Path, tmp_path: Path) -> Path:
    db = tmp_path / "p.db"
    shutil.copyfile(built, db)
    shutil.copytree(built.with_name(built.name + ".search"), db.with_name(db.name + ".search"))
    return db


class LockHolder:
    """Another process holding the database's write lock until released."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "held"
        FIGURES.add("write locks held by another process")

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=10)


@pytest.fixture
def lock(stored: Path) -> Iterator[LockHolder]:
    holder = LockHolder(stored)
    try:
        yield holder
    finally:
        holder.release()


def _one_sentence(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("paperboy:")]
    assert "Traceback" not in err and "During handling" not in err, err
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [["search", "topic"], ["export", "--json"], ["topics"], ["author", "Jane Doe"], ["db", "check"], ["sources"],
     ["sources", "--json"]],
)
def test_readers_answer_while_another_process_writes(
    stored: Path, lock: LockHolder, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Before, each of these waited 10 s and died with a "database is locked" traceback.
    started = time.monotonic()
    code = main(["--db", str(stored), *argv])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "locked" not in out.err and "Traceback" not in out.err
    assert time.monotonic() - started < db_module.BUSY_TIMEOUT_MS / 1000  # it never waited for the lock
    FIGURES.add("reads under a held lock")


def test_a_writer_facing_a_held_lock_gets_one_sentence(
    stored: Path, lock: LockHolder, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 300)
    other = tmp_path / "other.txt"
    other.write_text(LISTING.replace("Topic", "Subject"))
    assert main(["--db", str(stored), "ingest", str(other)]) == 2
    line = _one_sentence(capsys.readouterr().err)
    assert line == (
        f"paperboy: the database is busy: another paperboy is writing to {stored}; retried for 0.3 s. "
        "Run the command again when that process has finished"
    )
    FIGURES.add("faults injected")


async def test_the_store_retries_its_own_writes_until_the_lock_is_free(
    stored: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 400)
    holder = LockHolder(stored)
    async with await Store.open(stored, busy_retries=5) as store:
        import asyncio

        releasing = asyncio.get_running_loop().run_in_executor(None, lambda: (time.sleep(0.9), holder.release()))
        report_ = await store.ingest([record("Written After the Wait", "Ada Lovelace")], source="late")
        await releasing
        assert report_.new == 1
    async with await Store.open(stored) as store:
        with_lock = LockHolder(stored)
        try:
            monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 200)
            async with await Store.open(stored) as impatient:
                with pytest.raises(StoreBusyError, match=r"retried for 0\.2 s"):
                    await impatient.ingest([record("Never Written", "Ada Lovelace")], source="late")
            # A search of the page's /?q= kind answers under the held lock.
            assert [p.title for p in await store.search("topic number 3")][:1] == ["A Study of Topic Number 3"]
        finally:
            with_lock.release()
    FIGURES.add("faults injected", 2)


def test_a_full_disk_is_one_sentence_and_nothing_is_half_written(
    stored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = sqlite3.connect(stored).execute("PRAGMA page_count").fetchone()[0]
    real = db_module.connect_sync

    def small_disk(path: str, **kwargs: bool) -> sqlite3.Connection:
        conn = real(path, **kwargs)
        conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own "disk full"
        return conn

    monkeypatch.setattr(db_module, "connect_sync", small_disk)
    big = tmp_path / "big.txt"
    big.write_text("".join(
        f"LGMay {1 + i % 28}, 2022\nA Long Study of Case {i}Ada Lovelace, Alan Turing\n{'word ' * 300}{i}\n"
        for i in range(300)
    ))
    assert main(["--db", str(stored), "ingest", str(big)]) == 2
    err = capsys.readouterr().err
    line = _one_sentence(err)
    assert f"the disk holding {stored} is full" in line and "free some space" in line
    assert "cannot rollback" not in err
    conn = sqlite3.connect(stored)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM papers").fetchone()[0] == 28  # the batch is all or nothing
    FIGURES.add("faults injected")


async def test_a_full_disk_through_the_async_connection(stored: Path) -> None:
    async with await Store.open(stored) as store:
        pages = (await store.db.fetchone("PRAGMA page_count"))[0]
        await store.db.conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreError, match="is full") as caught:
            async with store.db.transaction() as conn:
                await conn.execute("INSERT INTO meta (key, value) VALUES ('filler', ?)", ("x" * 200_000,))
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
        assert not store.db.conn.in_transaction
    FIGURES.add("faults injected")


def test_a_read_only_folder_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    # /proc refuses new files even to root, unlike a chmod'ed folder.
    for db in ("/proc/paperboy-test.db", "/proc/paperboy-test/sub/p.db"):
        assert main(["--db", db, "search", "x"]) == 2
        line = _one_sentence(capsys.readouterr().err)
        assert line.startswith(f"paperboy: cannot write {db}") and "--db" in line
        FIGURES.add("faults injected")


def test_a_damaged_database_is_one_sentence(stored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not SQLite at all\n" * 400)
    assert main(["--db", str(garbage), "search", "x"]) == 2
    assert str(garbage) in _one_sentence(capsys.readouterr().err)
    # A real database whose pages were overwritten in the middle.
    sqlite3.connect(stored).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    data = bytearray(stored.read_bytes())
    page = 4096
    for start in range(2 * page, len(data) - page, page):
        data[start + 8 : start + 400] = b"\xff" * 392
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(bytes(data))
    for argv in (["export", "--json"], ["search", "topic"], ["db", "check"]):
        code = main(["--db", str(damaged), *argv])
        err = capsys.readouterr().err
        assert code in (1, 2)
        assert "Traceback" not in err
        if code == 2:
            line = _one_sentence(err)
            assert str(damaged) in line and ("backup" in line or "another file" in line)
        FIGURES.add("faults injected")


async def test_connect_reports_a_folder_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot write"):
        await connect(blocker / "sub" / "p.db")
    assert Database.__init__.__defaults__ is None  # busy_retries is keyword-only
