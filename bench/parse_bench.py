"""How fast the listing parser reads a generated corpus, alone or side by side with another checkout's.

`python -m bench.parse_bench --papers 20000 [--data DIR] [--runs 3] [--against PATH]` parses the
cached corpus of that size (made by bench.corpus) with `parse_listing_file` in a fresh process
per run and prints papers/s (best and median) and the process's peak RSS. With `--against PATH`
(the root of another checkout, e.g. main), runs of the two parsers alternate in the same session,
so both see the same machine load, and the ratio is printed. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from bench.common import DEFAULT_DATA
from bench.corpus import corpus_file

# Run in a child: import the parser from the given checkout, time parse_listing_file alone.
_CHILD = """
import resource, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from feeds.sources.listing import parse_listing_file
start = time.perf_counter()
result = parse_listing_file(Path(sys.argv[2]))
seconds = time.perf_counter() - start
print(seconds, len(result.records), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

REPO = Path(__file__).resolve().parents[1]


def _run(root: Path, corpus: Path) -> tuple[float, int, int]:
    """Seconds, records and peak RSS in KiB of one parse in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), str(corpus)], check=True, capture_output=True, text=True
    ).stdout.split()
    return float(out[0]), int(out[1]), int(out[2])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.parse_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=20_000, help="corpus size (default 20000)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding corpus/ (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="runs per parser (default 3)")
    parser.add_argument("--against", type=Path, help="root of another checkout to time beside this one")
    args = parser.parse_args(argv)
    corpus, _ = corpus_file(args.data / "corpus", args.papers)
    roots = {"this checkout": REPO}
    if args.against is not None:
        roots["against " + str(args.against)] = args.against.resolve()
    times: dict[str, list[float]] = {name: [] for name in roots}
    peaks: dict[str, int] = dict.fromkeys(roots, 0)
    records = 0
    for _ in range(args.runs):
        for name, root in roots.items():
            seconds, records, peak = _run(root, corpus)
            times[name].append(seconds)
            peaks[name] = max(peaks[name], peak)
    print(f"parse_listing_file on {corpus.name} ({records:,} records), {args.runs} runs each, alternating")
    for name, seconds in times.items():
        best, median = min(seconds), statistics.median(seconds)
        print(
            f"  {name:40s} best {best:6.2f} s = {records / best:8,.0f} papers/s;"
            f" median {median:6.2f} s = {records / median:8,.0f} papers/s; peak RSS {peaks[name] / 1024:,.0f} MiB"
        )
    if len(times) == 2:
        mine, other = (statistics.median(s) for s in times.values())
        print(f"  speed-up (median against median): {other / mine:.2f}x")


if __name__ == "__main__":
    main()
