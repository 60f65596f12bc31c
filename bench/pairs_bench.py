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
from storage.search_terms import TextTerms

log = logging.getLogger(__name__)


def _build(folder: Path, rows: list[IndexRow], pair_field: bool) -> tuple[SearchIndex, float, float]:
    """The index, and the wall and CPU seconds (every thread of this process) that building it took."""
    shutil.rmtree(folder, ignore_errors=True)
    index = SearchIndex.open(folder, pair_field=pair_field)
    start, cpu = time.perf_counter(), time.process_time()
    index._bulk(True)  # the writer a rebuild uses
    index.add_or_update(rows)
    index.commit(1, "pairs-bench")
    index._bulk(False)
    return index, time.perf_counter() - start, time.process_time() - cpu


def phrases() -> dict[str, list[str]]:
    """Quoted phrases of two of the corpus's commonest words, and longer ones (one with stop words)."""
    common = list(COMMON_WORDS[:16])
    two = [f'"{a} {b}"' for a, b in itertools.pairwise(common)]
    two += ['"deep learning"', '"neural network"', '"learning model"', '"graph network"', '"large language"']
    longer = ['"deep neural network"', '"large language model"', '"state of the art"']
    return {"two common words": list(dict.fromkeys(two)), "longer phrases": longer}


def _time(index: SearchIndex, queries: list[str], rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    """Seconds per query through the pairs field and as plain phrase queries, taking turns."""
    samples: dict[str, tuple[list[float], list[float]]] = {q: ([], []) for q in queries}
    kept = index.pairs
    for q in queries:  # warm-up, and the answers must agree
        a = index.search(q, 10)
        index.pairs = None
        b = index.search(q, 10)
        index.pairs = kept
        if a != b:
            raise RuntimeError(f"{q}: the pairs field changed the answer")
    for _ in range(rounds):
        for q in queries:
            for i, pairs in enumerate((kept, None)):
                index.pairs = pairs
                t = time.perf_counter()
                index.search(q, 10)
                samples[q][i].append(time.perf_counter() - t)
    index.pairs = kept
    return samples


def run(data: Path, papers: int, seed: int, rounds: int) -> list[Figure]:
    gen = CorpusGenerator(papers, seed)
    rows = [IndexRow(i, r.title, r.abstract) for i, r in enumerate(itertools.islice(gen, papers), 1)]
    pairs, terms = Pairs(make_analyzer()), TextTerms(make_analyzer())
    # The pairs are read off the terms the index is given anyway (storage.search_terms).
    analysed = [(terms.of_text(row.title), terms.of_text(row.abstract)) for row in rows]
    cpu = time.process_time()
    for title, abstract in analysed:
        pairs.of_document(title, "title")
        pairs.of_document(abstract, "abstract")
    pair_cpu = time.process_time() - cpu
    del analysed
    without, without_s, without_cpu = _build(data / f"pairs-{papers}-without", rows, pair_field=False)
    with_pairs, with_s, with_cpu = _build(data / f"pairs-{papers}-with", rows, pair_field=True)
    del rows
    figures = []
    for cls, queries in phrases().items():
        samples = _time(with_pairs, queries, rounds)
        on = [x for q in queries for x in samples[q][0]]
        off = [x for q in queries for x in samples[q][1]]
        worst = max(queries, key=lambda q: percentile(samples[q][1], 50))
        figures += [
            Figure(f"{cls} p50 (SearchIndex.search)", ms(percentile(on, 50)), "ms",
                   {"plain phrase query": ms(percentile(off, 50))}),
            Figure(f"{cls} p99", ms(percentile(on, 99)), "ms", {"plain phrase query": ms(percentile(off, 99))}),
            Figure(f"{cls}: slowest, {worst} p50", ms(percentile(samples[worst][0], 50)), "ms",
                   {"plain phrase query": ms(percentile(samples[worst][1], 50))},
                   note=f"{with_pairs.count_matches(worst):,} papers hold it"),
        ]
    with_pairs.close()
    without.close()
    size_with = dir_size(data / f"pairs-{papers}-with") / papers
    size_without = dir_size(data / f"pairs-{papers}-without") / papers
    figures += [
        Figure("index build, wall", papers / with_s, "papers/s", {"without the pairs field": papers / without_s}),
        Figure("index build, CPU of every thread", with_cpu / papers * 1e6, "us/paper",
               {"without the pairs field": without_cpu / papers * 1e6}),
        Figure("computing the pairs alone, CPU", pair_cpu / papers * 1e6, "us/paper"),
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
