"""`python -m bench.subscription_bench`: what subscription rules cost an ingest (targets, max_age, filters).

Ingests the same generated batch of recent papers into fresh stores with no
subscriptions (the baseline) and with N subscriptions that carry include and
exclude filters (words, a phrase, an RE2 expression), then a batch of old papers
(a new source's backlog, which max_age keeps out of the outbox), and prints the
figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from bench.common import Figure, render_table
from bench.corpus import CorpusGenerator
from storage.store import Store

FILTERS = ("model", '"neural network"', "/learn(ing)?/i", "GAN")


async def _ingest(folder: Path, name: str, papers: int, subs: int, *, days_old: int) -> tuple[float, int]:
    store = await Store.open(folder / f"{name}.db", search_index=False)
    try:
        for i in range(subs):
            await store.outbox.subscribe(target="all", value=None, guild_id=1, channel_id=100 + i,
                                         include=FILTERS[i % len(FILTERS)], exclude="medical" if i % 2 else "")
        when = date.today() - timedelta(days=days_old)
        records = [replace(r, published=when) for r in itertools.islice(CorpusGenerator(papers, seed=5), papers)]
        start = time.perf_counter()
        report = await store.ingest(records, source="bench")
        return time.perf_counter() - start, report.queued_deliveries
    finally:
        await store.close()


async def figures(papers: int, subs: int) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bare, _ = await _ingest(folder, "bare", papers, 0, days_old=1)
        ruled, queued = await _ingest(folder, "ruled", papers, subs, days_old=1)
        backlog, backlog_queued = await _ingest(folder, "backlog", papers, subs, days_old=400)
    per = (ruled - bare) / papers * 1000
    return [
        Figure(f"queueing {papers:,} recent papers for {subs} filtered subscriptions", ruled, "s",
               baseline={"no subscriptions": bare}, note=f"{queued:,} deliveries queued; {per:.2f} ms per paper"),
        Figure(f"ingest {papers:,} old papers (a new source's backlog) with {subs} subscriptions", backlog, "s",
               baseline={"no subscriptions": bare}, note=f"{backlog_queued} deliveries queued (max_age)"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.subscription_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--subs", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    found = asyncio.run(figures(args.papers, args.subs))
    if args.json:
        print(json.dumps([f.as_json() for f in found], indent=2))
    else:
        print(render_table(args.papers, found))


if __name__ == "__main__":
    main()
