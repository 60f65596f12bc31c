"""How long one over-long listing line costs: the parse alone, and a whole `paperboy ingest` of the file.

`python -m bench.long_line [--mb 5]` writes a listing of four good entries around one entry whose
title/author line is ``--mb`` megabytes of name-shaped text, then prints the time the parser takes
to report and skip that line, and the wall time of `paperboy ingest` on the file in a fresh store
(process start-up included). It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from feeds.sources.listing import parse_listing

GOOD = (
    "CVApr 3, 2023\n"
    "A Study of Robust ThingsJane Doe, John Smith\n"
    "We study robust things.\n"
    "LGMay 2, 2023\n"
    "Another Study of StuffAda Lovelace, Alan Turing et al.\n"
    "Stuff is studied.\n"
)


def listing_with_long_line(megabytes: float) -> str:
    line = "Ab CdEf, " * int(megabytes * 1_000_000 // 9)
    return GOOD + "CVApr 4, 2023\n" + line + "\nThe abstract of the long entry.\n" + GOOD.replace("Study", "Survey")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.long_line", description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=5.0, help="size of the long line in megabytes (default 5)")
    args = parser.parse_args(argv)
    text = listing_with_long_line(args.mb)
    started = time.perf_counter()
    result = parse_listing(text, as_of=date(2024, 6, 1), source="long.txt")
    parse_s = time.perf_counter() - started
    print(f"parse: {len(text):,} characters, {len(result.records)} entries kept, "
          f"{len(result.problems)} reported, {parse_s * 1000:.0f} ms")
    for problem in result.problems:
        print(f"  {str(problem)[:120]}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.txt"
        path.write_text(text, encoding="utf-8")
        paperboy = Path(sys.executable).with_name("paperboy")
        started = time.perf_counter()
        done = subprocess.run(
            [str(paperboy), "--db", str(Path(folder) / "long.db"), "ingest", str(path), "--as-of", "2024-06-01"],
            capture_output=True, text=True, check=False,
        )
        ingest_s = time.perf_counter() - started
    print(f"paperboy ingest: exit {done.returncode}, {ingest_s:.2f} s wall (process start-up included)")
    counts = [line for line in (done.stdout + done.stderr).splitlines() if " new, " in line or "line:" in line]
    for line in counts:
        print(f"  {line[:160]}")


if __name__ == "__main__":
    main()
