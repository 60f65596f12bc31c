"""storage.heap: freed heap memory handed back after a big build; the collector paused through bulk work."""

from __future__ import annotations

import gc
import sys
from threading import Barrier, Thread

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


def test_pauses_of_the_collector_nest_across_threads() -> None:
    inside, leave = Barrier(3), Barrier(3)

    def hold() -> None:
        with heap.collector_paused():
            inside.wait()
            leave.wait()

    threads = [Thread(target=hold) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert not gc.isenabled()
    with heap.collector_paused():
        leave.wait()
        for thread in threads:
            thread.join()
        assert not gc.isenabled()  # this thread's pause still holds
    assert gc.isenabled()


def _full_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


def test_a_pause_that_leaves_many_objects_alive_is_settled_when_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "SETTLE_AFTER", 50_000)
    gc.collect()
    before = _full_collections()
    with heap.collector_paused():
        small = [[n] for n in range(1_000)]
    assert _full_collections() == before  # left to the collector's own schedule
    with heap.collector_paused():
        big = [[n] for n in range(100_000)]
        assert gc.get_count()[0] >= 100_000  # nothing collected meanwhile
    assert _full_collections() == before + 1  # walked once, when the pause ended
    assert len(small) + len(big) == 101_000
