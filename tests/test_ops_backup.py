"""Data care: `paperboy db backup` while another connection is ingesting gives a consistent, checkable copy."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from paperboy import cli
from storage.models import PaperRecord
from storage.store import Store
from tests.helpers import record

BATCH = 20
MAX_BATCHES = 200


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def batch(n: int) -> list[PaperRecord]:
    return [
        record(
            f"Batch {n} Study {i} of Contrastive Pretraining for Sparse Labels",
            f"Author{n} Person{i}",
            "Jae-Hun Lee",
            abstract=f"We study self-supervised learning (SSL) in batch {n}, item {i}, with a frozen encoder.",
            published=date(2020 + n % 5, 1 + i % 12, 1 + i % 28),
        )
        for i in range(BATCH)
    ]


def run_cli(*argv: str) -> int:
    return cli.main(list(argv))


async def test_backup_during_an_ingest_restores_to_a_store_that_passes_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    live, copy, restored = tmp_path / "live.db", tmp_path / "backup.db", tmp_path / "restored.db"
    committed: list[int] = []
    backup_done = asyncio.Event()
    first_batch = asyncio.Event()

    async def keep_ingesting(store: Store) -> None:
        # Batches go on until the backup has finished and two more have landed after it.
        after = 0
        for n in range(MAX_BATCHES):
            await store.ingest(batch(n), source="bulk")
            committed.append(await store.count_papers())
            first_batch.set()
            if backup_done.is_set():
                after += 1
                if after == 2:
                    return
            await asyncio.sleep(0)
        raise AssertionError(f"the backup did not finish within {MAX_BATCHES} batches")

    async with await Store.open(live) as store:
        writer = asyncio.create_task(keep_ingesting(store))
        await first_batch.wait()
        before = committed[-1]
        # The CLI opens its own connection, as `paperboy db backup` beside a running service does.
        code = await asyncio.to_thread(run_cli, "--db", str(live), "db", "backup", str(copy))
        # Rows committed by now (an ingest commits before it returns, after its index sync).
        at_end = await store.count_papers()
        backup_done.set()
        await writer
        total = await store.count_papers()
    assert code == 0
    assert f"backed up {live} to {copy}" in capsys.readouterr().out
    assert total > at_end >= before, "the ingest went on after the backup"

    # Restore = put the copy where a database goes; it must pass the same check as the live one.
    shutil.copyfile(copy, restored)
    assert await asyncio.to_thread(run_cli, "--db", str(restored), "db", "check") == 0
    out = capsys.readouterr().out
    async with await Store.open(restored) as back:
        papers = await back.count_papers()
        assert await back.check() == []
        # A snapshot between two transactions: whole batches only, none of the later ones.
        assert papers % BATCH == 0 and before <= papers <= at_end
        # Exactly the first k batches, k = papers / BATCH.
        titles = {p.title for p in await back.all_papers()}
        assert titles == {r.title for n in range(papers // BATCH) for r in batch(n)}
        last = papers // BATCH - 1
        found = await back.search(f"Batch {last} Study 7")
        assert found and found[0].title.startswith(f"Batch {last} Study 7 ")
        # The search index and topics came across with the rows they describe.
        assert len(await back.search("SSL", limit=100)) == min(papers, 100)
        assert await back.author_profile("jae-hun-lee") is not None
    assert out.strip() == f"{restored}: ok ({papers} papers)"


def test_backup_refuses_to_overwrite_and_check_reports_damage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    live = tmp_path / "live.db"
    asyncio.run(_fill(live))
    target = tmp_path / "keep.db"
    target.write_bytes(b"an older backup")
    assert run_cli("--db", str(live), "db", "backup", str(target)) == 2
    assert "already exists" in capsys.readouterr().err
    assert target.read_bytes() == b"an older backup"

    # Break an invariant behind the store's back: `db check` must notice and exit 1.
    damaged = tmp_path / "damaged.db"
    shutil.copyfile(live, damaged)
    asyncio.run(_damage_index(damaged))
    assert run_cli("--db", str(damaged), "db", "check") == 1
    out = capsys.readouterr().out
    assert "problem: " in out and "problems" in out.splitlines()[-1]


async def _fill(path: Path) -> None:
    async with await Store.open(path) as store:
        await store.ingest(batch(0), source="bulk")


async def _damage_index(path: Path) -> None:
    async with await Store.open(path) as store:
        # Papers whose source records are gone: provenance lost, which check must report.
        async with store.db.transaction() as conn:
            await conn.execute("DELETE FROM paper_sources")
