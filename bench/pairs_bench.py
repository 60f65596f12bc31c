"""`python -m bench.pairs_bench`: what the pairs field costs and saves (phrases of two common words).

One generated corpus is indexed twice, with the pairs field and without it
(``SearchIndex.open(..., pair_field=False)``), and the figures are printed side
by side: index build time and bytes per paper, the time spent computing pairs,
and quoted phrases of common words answered through the pairs field and, on
the same index, as plain phrase queries (``index.pairs = None``), interleaved.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import shutil
import sys
import time
from pathlib import Path

from bench.common import Figure, dir_size, ms, percentile, render_table
from bench.corpus import COMMON_WORDS, CorpusGenerator
from storage.search_index import IndexRow, SearchIndex
from storage.search_pairs import Pairs
from storage.search_query import make_analyzer

log = logging.getLogger(__name__)


def _build(folder: Path, rows: list[IndexRow], pair_field: bool) -> tuple[SearchIndex, float]:
    shutil.rmtree(folder, ignore_errors=True)
    index = SearchIndex.open(folder, pair_field=pair_field)
    start = time.perf_counter()
    index._bulk(True)  # the writer a rebuild uses
    index.add_or_update(rows)
    index.commit(1, "pairs-bench")
    index._bulk(False)
    return index, time.perf_counter() - start


def phrases() -> list[str]:
    """Quoted phrases of two of the corpus's commonest words, and a few of three."""
    common = list(COMMON_WORDS[:16])
    two = [f'"{a} {b}"' for a, b in itertools.pairwise(common)]
    two += ['"deep learning"', '"neural network"', '"learning model"', '"graph network"', '"large language"']
    three = ['"deep neural network"', '"large language model"', '"state of the art"']
    return list(dict.fromkeys(two + three))


def run(data: Path, papers: int, seed: int, rounds: int) -> list[Figure]:
    gen = CorpusGenerator(papers, seed)
    rows = [IndexRow(i, r.title, r.abstract) for i, r in enumerate(itertools.islice(gen, papers), 1)]
    pairs = Pairs(make_analyzer())
    start = time.perf_counter()
    for row in rows:
        pairs.of_text(row.title, "title")
        pairs.of_text(row.abstract, "abstract")
    pair_s = time.perf_counter() - start
    without, without_s = _build(data / f"pairs-{papers}-without", rows, pair_field=False)
    with_pairs, with_s = _build(data / f"pairs-{papers}-with", rows, pair_field=True)
    del rows
    queries = phrases()
    on: list[float] = []
    off: list[float] = []
    by_query: dict[str, tuple[list[float], list[float]]] = {q: ([], []) for q in queries}
    for q in queries:  # warm-up, and the answers must agree
        a = with_pairs.search(q, 10)
        with_pairs.pairs, kept = None, with_pairs.pairs
        b = with_pairs.search(q, 10)
        with_pairs.pairs = kept
        if a != b:
            raise RuntimeError(f"{q}: the pairs field changed the answer")
    for _ in range(rounds):
        for q in queries:
            t = time.perf_counter()
            with_pairs.search(q, 10)
            on.append(time.perf_counter() - t)
            by_query[q][0].append(on[-1])
            with_pairs.pairs, kept = None, with_pairs.pairs
            t = time.perf_counter()
            with_pairs.search(q, 10)
            off.append(time.perf_counter() - t)
            by_query[q][1].append(off[-1])
            with_pairs.pairs = kept
    matches = {q: with_pairs.count_matches(q) for q in queries}
    worst = max(queries, key=lambda q: percentile(by_query[q][1], 50))
    with_pairs.close()
    without.close()
    size_with = dir_size(data / f"pairs-{papers}-with") / papers
    size_without = dir_size(data / f"pairs-{papers}-without") / papers
    figures = [
        Figure("phrase of common words p50 (SearchIndex.search)", ms(percentile(on, 50)), "ms",
               {"plain phrase query": ms(percentile(off, 50))}),
        Figure("phrase of common words p99", ms(percentile(on, 99)), "ms",
               {"plain phrase query": ms(percentile(off, 99))}),
        Figure("phrase of common words max", ms(max(on)), "ms", {"plain phrase query": ms(max(off))}),
        Figure(f"slowest phrase {worst} p50", ms(percentile(by_query[worst][0], 50)), "ms",
               {"plain phrase query": ms(percentile(by_query[worst][1], 50))},
               note=f"{matches[worst]:,} papers hold it"),
        Figure("index build (add_document + commit)", papers / with_s, "papers/s",
               {"without the pairs field": papers / without_s}),
        Figure("computing the pairs alone", papers / pair_s, "papers/s",
               note=f"{pair_s:.1f} s for {papers:,} papers"),
        Figure("search index size", size_with, "B/paper", {"without the pairs field": size_without},
               note=f"the pairs field adds {size_with - size_without:,.0f} B/paper"),
    ]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pairs_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/paperboy-pairs-bench"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    args.data.mkdir(parents=True, exist_ok=True)
    print(render_table(args.papers, run(args.data, args.papers, args.seed, args.rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
