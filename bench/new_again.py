"""Batches of new papers into the store a full run left, timed step by step, alone or beside another checkout.

`python -m bench.new_again --papers N [--data DIR] [--batches 3] [--runs 2] [--size 1000] [--against PATH]`
copies ``<data>/run-<N>`` (the store and index a full `python -m bench --papers N` left) to a
fresh folder for each run, and stores there one warm-up batch and then ``--batches`` timed
ones, each ``--size`` papers that continue the run's corpus. Every batch goes the way
`paperboy ingest FILE` takes it: parse the file, Store.ingest, link the new topics to older
papers, sync the index. A fresh process per run imports the code from this checkout, or
with ``--against PATH`` from another checkout's root as well: the two alternate run by run,
so both meet the same machine load, and the ratio of their medians is printed. It prints
figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from bench.common import add_full_run_arguments, full_run_folder
from bench.corpus import CORPUS_VERSION, CorpusGenerator, write_listing

REPO = Path(__file__).resolve().parents[1]
STEPS = ("parse", "store", "link", "index", "total", "cpu")

# Run in a child: the store and the parser come from the checkout given first.
_CHILD = """
import asyncio, json, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from feeds.sources.listing import parse_listing_file
from storage.store import Store

async def main(db, files):
    store = await Store.open(db)
    try:
        await store.sync_index()
        for name in files:
            start, cpu = time.perf_counter(), time.process_time()
            parsed = await asyncio.to_thread(parse_listing_file, Path(name))
            parsed_at = time.perf_counter()
            report = await store.ingest(parsed.records, source=Path(name).stem, kind="listing", location=name)
            stored_at = time.perf_counter()
            await store.link_pending_topics()
            linked_at = time.perf_counter()
            await store.sync_index()
            end = time.perf_counter()
            print(json.dumps({"new": report.new, "parse": parsed_at - start, "store": stored_at - parsed_at,
                              "link": linked_at - stored_at, "index": end - linked_at, "total": end - start,
                              "cpu": time.process_time() - cpu, "steps": report.seconds}), flush=True)
    finally:
        await store.close()

if __name__ == "__main__":
    asyncio.run(main(sys.argv[2], sys.argv[3:]))
"""


def batch_files(data: Path, papers: int, seed: int, count: int, size: int) -> list[Path]:
    """``count`` listings of ``size`` papers after the run's corpus (and its extra and poll files), made once."""
    folder = data / "corpus"
    files = []
    gen: CorpusGenerator | None = None  # made only for a file not written yet: it takes seconds at 1M
    for k in range(count):
        path = folder / f"corpus-v{CORPUS_VERSION}-{papers}-s{seed}-next{k}-{size}.txt"
        if not path.exists():
            gen = gen or CorpusGenerator(papers + 1_000, seed)
            gen.rng = random.Random(seed + 100 + k)  # drawn afresh per batch, as bench.corpus.poll_file does
            base = papers + 2_000 + size * k
            write_listing(path, [gen.record(base + i) for i in range(size)])
        files.append(path)
    return files


def _copy_store(run: Path, into: Path) -> Path:
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    shutil.copy2(run / "paperboy.db", into / "paperboy.db")
    if (run / "paperboy.db.search").is_dir():
        shutil.copytree(run / "paperboy.db.search", into / "paperboy.db.search")
    return into / "paperboy.db"


def _run(root: Path, db: Path, files: list[Path]) -> list[dict[str, float]]:
    """Each batch's step seconds, from a fresh process importing the code at ``root``."""
    out = subprocess.run([sys.executable, "-c", _CHILD, str(root), str(db), *map(str, files)],
                         check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.new_again", description=__doc__.splitlines()[0])
    add_full_run_arguments(parser)
    parser.add_argument("--size", type=int, default=1_000, help="papers per batch (default 1000)")
    parser.add_argument("--batches", type=int, default=3, help="timed batches per run, after one warm-up")
    parser.add_argument("--runs", type=int, default=2, help="runs per checkout (default 2)")
    parser.add_argument("--against", type=Path, help="root of another checkout to time beside this one")
    args = parser.parse_args(argv)
    run = full_run_folder(parser, args)
    files = batch_files(args.data, args.papers, args.seed, args.batches + 1, args.size)
    roots = {"this checkout": REPO}
    if args.against is not None:
        roots[f"against {args.against}"] = args.against.resolve()
    timed: dict[str, list[dict[str, float]]] = {name: [] for name in roots}
    for n in range(args.runs):
        for name, root in roots.items():
            db = _copy_store(run, args.data / "new-again")
            batches = _run(root, db, files)
            timed[name] += batches[1:]  # the first warms the caches up
            for i, batch in enumerate(batches):
                steps = " + ".join(f"{step} {batch[step]:.2f}" for step in STEPS[:4])
                print(f"  run {n + 1} {name}: batch {i}{' (warm-up)' if i == 0 else ''}: {batch['new']:.0f} new,"
                      f" {steps} = {batch['total']:.2f} s, CPU {batch['cpu']:.2f} s", flush=True)
    shutil.rmtree(args.data / "new-again", ignore_errors=True)
    print(f"{args.size:,} new papers into the {args.papers:,}-paper store, medians of"
          f" {args.batches} batches x {args.runs} runs (seconds)")
    medians = {name: {step: statistics.median(b[step] for b in batches) for step in STEPS}
               for name, batches in timed.items()}
    for name, steps in medians.items():
        print(f"  {name:40s} " + "  ".join(f"{step} {value:.2f}" for step, value in steps.items()))
    print("Store.ingest by step (storage.models.INGEST_STEPS), medians:")
    for name, batches in timed.items():
        inside = {step: statistics.median(b.get("steps", {}).get(step, 0.0) for b in batches)
                  for step in dict.fromkeys(step for b in batches for step in b.get("steps", {}))}
        print(f"  {name:40s} " + ("  ".join(f"{step} {value:.2f}" for step, value in inside.items())
                                  or "(the checkout does not report its steps)"))
    if len(medians) == 2:
        mine, other = medians.values()
        print("  this / against: " + "  ".join(
            f"{step} {mine[step] / other[step]:.2f}" for step in STEPS if other[step] >= 0.01))
    return 0


if __name__ == "__main__":
    sys.exit(main())
