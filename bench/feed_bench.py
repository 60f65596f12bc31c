"""A first load into an empty store with the index built beside it (storage/index_feed.py) or after it.

`python -m bench.feed_bench --papers 250000 [--runs 2] [--modes feed,after] [--feed-at N] [--data DIR]`
loads the generated corpus of that size (made by bench.corpus) into a fresh store the way
the bench's end-to-end figure does (Store.ingest of a ListingStream, then the topic
linking and the index sync), once per mode per run, alternating, so both modes see the
same machine load. ``feed`` indexes the load in a process beside the store; ``after``
raises the store's threshold above the load so the index is rebuilt from the papers
table once the store has committed. Each run prints its seconds, papers/s, CPU of this
process and of its children, peak RSS, disk per paper and how the index was built; the
medians and their ratio follow. `--modes feed --runs 1 --papers 2500000` is the run of
all of arXiv through the ingest path. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import DEFAULT_DATA
from bench.corpus import corpus_file
from bench.ingest_bench import link_topics
from feeds.sources.listing import ListingStream
from storage.index_feed import AT_LEAST
from storage.store import Store

MODES = ("feed", "after")


class _Said(logging.Handler):
    """Which way the index of a load was built, as the store logged it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.how = "not logged"

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "indexed beside the store" in message:
            self.how = "built beside the store"
        elif "search index rebuilt" in message:
            self.how = "rebuilt after the store committed"


@dataclass(frozen=True, slots=True)
class Run:
    mode: str
    papers: int
    seconds: float
    how: str


async def _load(corpus: Path, folder: Path, mode: str, feed_at: int) -> Run:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    said = _Said()
    watched = [logging.getLogger(name) for name in ("storage.index_feed", "storage.search_index")]
    for logger in watched:
        logger.addHandler(said)
        logger.setLevel(logging.INFO)
    store = await Store.open(folder / "paperboy.db")
    store.index_feed_at = feed_at if mode == "feed" else 1 << 62
    try:
        stream = ListingStream(corpus, for_store=True)
        start = time.perf_counter()
        report = await store.ingest(stream, source="feed-bench", kind="listing", location=str(corpus),
                                    size_hint=stream.size_hint)
        await link_topics(store)
        await store.sync_index()
        seconds = time.perf_counter() - start
    finally:
        await store.close()
        for logger in watched:
            logger.removeHandler(said)
    return Run(mode, report.new, seconds, said.how)


def _line(run: Run, folder: Path) -> str:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    disk = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return (f"{run.mode:>5}: {run.papers:,} papers in {run.seconds:,.1f} s = {run.papers / run.seconds:,.0f} papers/s;"
            f" index {run.how}; CPU so far: this process {me.ru_utime + me.ru_stime:,.0f} s,"
            f" children {children.ru_utime + children.ru_stime:,.0f} s; peak RSS so far {me.ru_maxrss / 1024:,.0f} MB;"
            f" disk {disk / max(run.papers, 1):,.0f} B/paper")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.feed_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=250_000, help="corpus size (default 250000)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder for corpus/ and the stores (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=2, help="runs per mode (default 2)")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated, of: feed, after (default both)")
    parser.add_argument("--feed-at", type=int, default=None,
                        help="records from which the feed starts (default the store's, 20000)")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown or not modes:
        parser.error(f"--modes takes feed and/or after, not {','.join(unknown) or 'nothing'}")
    corpus, _ = corpus_file(args.data / "corpus", args.papers)
    folder = args.data / f"feed-bench-{args.papers}"
    feed_at = args.feed_at if args.feed_at is not None else AT_LEAST
    seconds: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(args.runs):
        for mode in modes:
            run = asyncio.run(_load(corpus, folder, mode, feed_at))
            seconds[mode].append(run.seconds)
            print(_line(run, folder), flush=True)
    medians = {mode: statistics.median(times) for mode, times in seconds.items()}
    for mode, median in medians.items():
        print(f"median {mode}: {median:,.1f} s over {len(seconds[mode])} runs", flush=True)
    if len(medians) == 2:
        print(f"feed / after: {medians['feed'] / medians['after']:.3f}", flush=True)


if __name__ == "__main__":
    main()
