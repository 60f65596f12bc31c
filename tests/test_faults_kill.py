"""SIGKILL of `paperboy ingest` at random moments: no paper is ever lost and first_seen_at never moves.

Each round starts a real `paperboy ingest` process on one of three overlapping
listings and kills it after a random delay drawn across the whole run (start-up,
parse, the write transaction, topic linking, search-index sync). After every kill
the database must pass SQLite's integrity check, keep every paper it had, with the
same first_seen_at; at the end every paper is there and the search index has healed.
Short sweep in CI; PAPERBOY_SWEEP=long for the long one (200 kill points; see tests/fault_figures.py).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.store import Store
from tests.fault_figures import Figures, kill_points, report, sweep_seed

FIGURES = Figures("SIGKILL of paperboy ingest")
KILLS = kill_points(6, 200)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _print_figures(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report(request, FIGURES)


def _listing(numbers: range, round_: int) -> str:
    """Papers ``numbers``; each round words their abstracts anew, so overlaps are updates."""
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun")
    return "".join(
        f"{'CV' if n % 2 else 'LG'}{months[n % 6]} {1 + n % 28}, 2023{'Code' if n % 3 == 0 else ''}\n"
        f"Robust Method Number {n} for Self-Supervised Learning (SSL)Jane Doe, Author{chr(65 + n % 26)} Roe\n"
        f"We study self-supervised learning (SSL) in setting {n}, round {round_}; code at https://example.org/m{n}.\n"
        for n in numbers
    )


def _state(db: Path) -> dict[str, str]:
    if not db.exists():
        return {}
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "papers" not in tables:
            return {}
        return dict(conn.execute("SELECT key, first_seen_at FROM papers").fetchall())
    finally:
        conn.close()


def _ingest(db: Path, path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "paperboy.cli", "--db", str(db), "ingest", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO,
    )


def test_sigkill_of_ingest_never_loses_a_paper_or_moves_first_seen(tmp_path: Path) -> None:
    rng = random.Random(sweep_seed(15))
    db = tmp_path / "p.db"

    def listing(round_: int) -> Path:
        # 40 papers seen in the round before (now updated) and 40 new ones.
        path = tmp_path / f"round-{round_}.txt"
        path.write_text(_listing(range(round_ * 40, round_ * 40 + 80), round_))
        return path

    # One clean run gives the first papers and the length of a run to spread kills over;
    # a run that only imports gives the start-up time, before which a kill proves little.
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import paperboy.cli, storage.store, feeds.sources.listing"],
                   cwd=REPO, check=True)
    startup = time.monotonic() - started
    started = time.monotonic()
    assert _ingest(db, listing(0)).wait(timeout=120) == 0
    span = time.monotonic() - started
    seen = _state(db)
    assert len(seen) == 80

    kills = rounds = 0
    while kills < KILLS:
        rounds += 1
        proc = _ingest(db, listing(rounds))
        # Every other kill aims at the end of a run (commit, topic linking, index sync).
        low = startup * 0.8 if rounds % 2 else max(span * 0.6, startup)
        time.sleep(rng.uniform(low, max(span * (0.85 if rounds % 2 else 1.0), low)))
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            kills += 1
            FIGURES.add("kill points")
        else:
            FIGURES.add("runs that finished before their kill")
            assert proc.returncode == 0
        now = _state(db)
        lost = set(seen) - set(now)
        moved = {key for key in seen if key in now and now[key] != seen[key]}
        assert not lost, f"papers lost after kill {kills}: {sorted(lost)[:5]}"
        assert not moved, f"first_seen_at moved after kill {kills}: {sorted(moved)[:5]}"
        if killed:
            # Its 40 new papers are there only if the kill came after the batch committed.
            FIGURES.add("kills after the batch committed (index sync, close)" if len(now) > len(seen)
                        else "kills before the batch committed")
        seen = now

    everything = tmp_path / "all.txt"
    everything.write_text(_listing(range(0, rounds * 40 + 80), rounds + 1))
    assert _ingest(db, everything).wait(timeout=120) == 0
    final = _state(db)
    assert len(final) == rounds * 40 + 80
    assert all(final[key] == first for key, first in seen.items())
    FIGURES.add("papers lost", 0)
    FIGURES.add("first_seen_at moved", 0)

    # The derived search index heals from the store on open and holds every paper.
    async def healed() -> None:
        async with await Store.open(db) as store:
            assert store.index is not None and store.index.count() == len(final)
            last = rounds * 40 + 79
            hits = await store.search(f"Robust Method Number {last}")
            assert hits and hits[0].title == f"Robust Method Number {last} for Self-Supervised Learning (SSL)"

    asyncio.run(healed())
