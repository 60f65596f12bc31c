"""An unchanged file is recognised by its size and modification time before it is read or hashed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import aiohttp
import pytest

from feeds.sources.fetch import Fetcher
from paperboy.cli import main
from tests.helpers import REPO

DEMO = REPO / "examples" / "lab.txt"
OLD = time.time_ns() - 3600 * 10**9  # an hour ago: old enough to trust


def _ingest(capsys: pytest.CaptureFixture[str], db: Path, path: Path) -> dict[str, int]:
    assert main(["--db", str(db), "ingest", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)["totals"]


def _same_size_edit(path: Path) -> None:
    """Change one letter of an abstract, keeping the file's size."""
    text = path.read_text(encoding="utf-8")
    assert "practical and stronger" in text
    path.write_text(text.replace("practical and stronger", "practical and sturdier", 1), encoding="utf-8")


def test_cli_trusts_size_and_time_then_hashes_when_they_move(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing, db = tmp_path / "lab.txt", tmp_path / "d.db"
    listing.write_bytes(DEMO.read_bytes())
    os.utime(listing, ns=(OLD, OLD))
    assert _ingest(capsys, db, listing)["new"] == 22
    # Same size, same time, other bytes: not read, so every paper is reported as stored.
    _same_size_edit(listing)
    os.utime(listing, ns=(OLD, OLD))
    assert _ingest(capsys, db, listing) == {"new": 0, "updated": 0, "unchanged": 22, "skipped": 0}
    # The time moved: the file is read again and the edit is found.
    os.utime(listing, ns=(OLD + 10**9, OLD + 10**9))
    totals = _ingest(capsys, db, listing)
    assert totals["updated"] == 1 and totals["unchanged"] == 21


def test_cli_does_not_trust_a_file_written_just_now(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listing, db = tmp_path / "lab.txt", tmp_path / "d.db"
    listing.write_bytes(DEMO.read_bytes())
    assert _ingest(capsys, db, listing)["new"] == 22
    mtime = listing.stat().st_mtime_ns
    _same_size_edit(listing)
    os.utime(listing, ns=(mtime, mtime))  # rewritten within the clock's resolution
    assert _ingest(capsys, db, listing)["updated"] == 1


async def test_fetcher_skips_reading_a_file_whose_size_and_time_match(tmp_path: Path) -> None:
    listing = tmp_path / "lab.txt"
    listing.write_bytes(DEMO.read_bytes())
    os.utime(listing, ns=(OLD, OLD))
    async with aiohttp.ClientSession() as session:
        fetcher = Fetcher(session, max_bytes=1 << 20)
        first = await fetcher.get(str(listing))
        assert first.body is not None and first.etag and first.etag.startswith("file-stat:")
        _same_size_edit(listing)
        os.utime(listing, ns=(OLD, OLD))
        again = await fetcher.get(str(listing), etag=first.etag, previous_hash=first.content_hash)
        assert again.not_modified and again.body is None and again.content_hash == first.content_hash
        os.utime(listing, ns=(OLD + 10**9, OLD + 10**9))
        moved = await fetcher.get(str(listing), etag=first.etag, previous_hash=first.content_hash)
        assert moved.body is not None and not moved.not_modified and moved.content_hash != first.content_hash
        # Without a previous hash the validator alone never stands in for the content.
        fresh = await fetcher.get(str(listing), etag=moved.etag)
        assert fresh.body is not None
