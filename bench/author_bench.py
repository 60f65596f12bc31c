"""Author look-up at scale, the index before issue 16 against the current one, in one run.

    python -m bench.author_bench --papers 1000000 --data /work/bench-<you>

fills only the authors and paper_authors of an N-paper corpus (``bench.author_data``,
made once and cached in the data folder), starts one process per index so each
one's memory is its own, and times ``author_mix`` through both in alternating
rounds (so whatever else the machine does falls on both alike), beside the bare
key range scan. Each process answers as the store does: index look-up, then the
display names from SQLite. Prints p50/p99 per class, the CPU time per look-up
(what the wall times would be on an idle machine), build time, and each
process's resident memory before and after the index is built, and its peak.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import DEFAULT_DATA, peak_rss_mb, percentile, read_only

log = logging.getLogger(__name__)

IMPLS = ("before", "now")


def rss_mb() -> float:
    """VmRSS (resident now) of this process, in MB."""
    try:
        for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


async def _previous_lookup(store: Any) -> Callable[[str], Awaitable[object]]:
    """The store's author look-up as it was before issue 16: every row fetched, then the old index."""
    from bench.author_index_v1 import AuthorIndexV1

    rows = await store.db.fetchall(
        "SELECT a.key, count(pa.paper_id) FROM authors a JOIN paper_authors pa ON pa.author_id = a.id GROUP BY a.id"
    )
    index = AuthorIndexV1([r[0] for r in rows], [int(r[1]) for r in rows])
    del rows

    async def lookup(query: str) -> object:
        found = index.candidates(query[:200], 25)
        if not found:
            return []
        keys = [index.keys[c.index] for c in found]
        names = dict(await store.db.fetchall(
            f"SELECT key, name FROM authors WHERE key IN ({','.join('?' * len(keys))})", keys))
        return [(k, names.get(k, k), index.counts[c.index], c.score) for k, c in zip(keys, found, strict=True)]

    return lookup


async def _child(impl: str, db: str) -> None:
    """One index in its own process: build on the first line read, then time a round per line."""
    from storage.store import Store

    store = await Store.open(db, search_index=False)
    try:
        mix = json.loads(sys.stdin.readline())
        before = rss_mb()
        start = time.perf_counter()
        if impl == "before":
            lookup = await _previous_lookup(store)
        else:
            await store.match_authors("warm up", 25)

            async def lookup(query: str) -> object:
                return await store.match_authors(query, 25)
        build_s = time.perf_counter() - start
        for _, text in mix:
            await lookup(text)
        _say({"built": build_s, "rss_before_mb": before, "rss_after_mb": rss_mb(), "peak_mb": peak_rss_mb()})
        while sys.stdin.readline().strip() == "round":
            samples: dict[str, list[float]] = {}
            for cls, text in mix:
                t, cpu = time.perf_counter(), time.process_time()
                await lookup(text)
                samples.setdefault(cls, []).append(time.perf_counter() - t)
                samples.setdefault("cpu", []).append(time.process_time() - cpu)
            _say({"samples": samples})
        _say({"peak_mb": peak_rss_mb()})
    finally:
        await store.close()


def _say(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def _bare(db: Path, mix: list[tuple[str, str]], rounds: int) -> dict[str, list[float]]:
    from bench.search_bench import BareAuthors, time_bare

    bare = BareAuthors(db)
    try:
        return time_bare(mix, bare.lookup, rounds)
    finally:
        bare.close()


def run(papers: int, data: Path, rounds: int, seed: int = 7) -> dict[str, Any]:
    from bench.author_data import author_db
    from bench.corpus import CorpusGenerator
    from bench.queries import author_mix

    db = author_db(data, papers, seed)
    mix = author_mix(CorpusGenerator(papers + 1_000, seed).vocab)
    children = {
        impl: subprocess.Popen(
            [sys.executable, "-m", "bench.author_bench", "--child", impl, "--db", str(db)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for impl in IMPLS
    }
    result: dict[str, Any] = {"papers": papers, "db": str(db), "impls": {}}
    try:
        for impl, child in children.items():  # one build at a time: the two do not share the cores
            assert child.stdin and child.stdout
            child.stdin.write(json.dumps(mix) + "\n")
            child.stdin.flush()
            result["impls"][impl] = {**json.loads(child.stdout.readline()), "samples": {}}
        for _ in range(rounds):
            for impl, child in children.items():
                assert child.stdin and child.stdout
                child.stdin.write("round\n")
                child.stdin.flush()
                for cls, values in json.loads(child.stdout.readline())["samples"].items():
                    result["impls"][impl]["samples"].setdefault(cls, []).extend(values)
        for impl, child in children.items():
            assert child.stdin and child.stdout
            child.stdin.write("done\n")
            child.stdin.flush()
            result["impls"][impl]["peak_mb"] = json.loads(child.stdout.readline())["peak_mb"]
    finally:
        for child in children.values():
            if child.stdin:
                child.stdin.close()
            child.wait(timeout=60)
    result["bare"] = _bare(db, mix, rounds)
    result["authors"] = _count_authors(db)
    return result


def _count_authors(db: Path) -> int:

    conn = read_only(db)
    try:
        return int(conn.execute("SELECT count(*) FROM authors").fetchone()[0])
    finally:
        conn.close()


def table(result: dict[str, Any]) -> str:
    """The figures side by side: before, now, and the bare key range scan."""
    def ms(values: list[float], q: float) -> str:
        # Three significant digits: a tiny run on a fast machine must not print a time as 0.00.
        return f"{percentile(values, q) * 1e3:.3g}" if values else "n/a"

    def every(samples: dict[str, list[float]]) -> list[float]:
        return [s for cls, values in samples.items() if cls != "cpu" for s in values]

    before, now, bare = result["impls"]["before"], result["impls"]["now"], result["bare"]
    rows = [("figure", "before", "now", "bare key range")]
    for q in (50, 99):
        rows.append((f"author look-up p{q}, whole mix (ms)", ms(every(before["samples"]), q),
                     ms(every(now["samples"]), q), ms(every(bare), q)))
    for cls in bare:
        for q in (50, 99):
            rows.append((f"  p{q}, {cls} (ms)", ms(before["samples"].get(cls, []), q),
                         ms(now["samples"].get(cls, []), q), ms(bare[cls], q)))
    # CPU time of the process per look-up: what the figures above would be on an idle machine.
    for q in (50, 99):
        rows.append((f"  CPU p{q}, whole mix (ms)", ms(before["samples"]["cpu"], q),
                     ms(now["samples"]["cpu"], q), ""))
    rows.append(("index build, first look-up (s)", f"{before['built']:.3g}", f"{now['built']:.3g}", ""))
    rows.append(("resident before build (MB)", f"{before['rss_before_mb']:.0f}", f"{now['rss_before_mb']:.0f}", ""))
    rows.append(("resident after build (MB)", f"{before['rss_after_mb']:.0f}", f"{now['rss_after_mb']:.0f}", ""))
    held = [f"{x['rss_after_mb'] - x['rss_before_mb']:.0f}" for x in (before, now)]
    rows.append(("  held for the index (MB)", *held, ""))
    rows.append(("process peak (VmHWM, MB)", f"{before['peak_mb']:.0f}", f"{now['peak_mb']:.0f}", ""))
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{result['papers']:,} papers, {result['authors']:,} distinct authors"]
    lines += ["  ".join(cell.ljust(width[i]) if i == 0 else cell.rjust(width[i]) for i, cell in enumerate(r))
              for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding corpus/ (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    parser.add_argument("--child", choices=IMPLS, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    if args.child:
        asyncio.run(_child(args.child, args.db))
        return
    result = run(args.papers, args.data, args.rounds, args.seed)
    print(table(result))
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "bare"}))


if __name__ == "__main__":
    main()
