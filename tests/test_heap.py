"""storage.heap: freed heap memory handed back after a big build."""

from __future__ import annotations

import sys

import pytest

from storage import heap


def _anon_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's, on Linux")
def test_trim_returns_freed_heap_to_the_system() -> None:
    # Many mid-sized blocks, freed except every 64th, leave the heap full of holes glibc keeps.
    blocks = [bytearray(4096) for _ in range(40_000)]
    kept = blocks[::64]
    del blocks
    before = _anon_kb()
    assert heap.trim() is True
    after = _anon_kb()
    assert after < before - 50_000, (before, after)  # of the ~160 MB freed, most goes back
    assert len(kept) == 625
