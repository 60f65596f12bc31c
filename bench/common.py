"""What every benchmark group shares: the Figure record, timing, percentiles, sizes and the table."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# Where every benchmark keeps its corpora, stores and baselines: bench/data in the checkout
# (ignored by git; a million papers take about 7 GB), or PAPERBOY_BENCH_DATA.
DEFAULT_DATA = Path(os.environ.get("PAPERBOY_BENCH_DATA") or Path(__file__).resolve().parent / "data")


@dataclass(slots=True)
class Figure:
    """One measured number beside its bare baselines and the target it is held to.

    ``higher_is_better`` decides how ``target`` reads: a floor when True, a
    ceiling when False. ``target`` may be None where the issue sets none.
    """

    name: str
    value: float
    unit: str
    baseline: dict[str, float] = field(default_factory=dict)
    target: float | None = None
    higher_is_better: bool = False
    target_text: str = ""
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None or math.isnan(self.value):
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "value": _finite(self.value),
            "unit": self.unit,
            "baseline": {k: _finite(v) for k, v in self.baseline.items()},
            "target": self.target_text or (None if self.target is None else self.target),
            "met": self.met,
            **({"note": self.note} if self.note else {}),
        }


def _finite(value: float) -> float | None:
    return None if isinstance(value, float) and (math.isnan(value) or math.isinf(value)) else round(value, 4)


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def ms(seconds: float) -> float:
    return seconds * 1000.0


def dir_size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def db_size(path: Path) -> int:
    """A SQLite database's bytes including its WAL and shared-memory files."""
    return sum(dir_size(Path(str(path) + suffix)) for suffix in ("", "-wal", "-shm"))


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def peak_rss_mb(pid: int | None = None) -> float:
    """VmHWM (the peak resident set) of a process, in MB; NaN where /proc is absent."""
    status = Path(f"/proc/{pid or os.getpid()}/status")
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _fmt(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render_table(papers: int, figures: Iterable[Figure]) -> str:
    """The figures as an aligned plain-text table, baselines beside each value."""
    rows = [("figure", "value", "unit", "baselines (same run, same rows)", "target", "met")]
    for f in figures:
        base = ", ".join(f"{k} {_fmt(v)}" for k, v in f.baseline.items()) or "-"
        target = f.target_text or ("-" if f.target is None else _fmt(f.target))
        met = {True: "yes", False: "NO", None: "-"}[f.met]
        rows.append((f.name, _fmt(f.value), f.unit, base, target, met))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"paperboy benchmark: {papers:,} papers"]
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def add_full_run_arguments(parser: argparse.ArgumentParser, *, seed_help: str = "the full run's corpus seed") -> None:
    """--papers, --data and --seed: the options of a tool that works on the store a full run left."""
    parser.add_argument("--papers", type=int, required=True, help="the size of the full run whose store to use")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the full run's data folder")
    parser.add_argument("--seed", type=int, default=7, help=seed_help)


def full_run_folder(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Path:
    """``<data>/run-<papers>``, left by `python -m bench --papers N`; a usage error when it holds no store."""
    run: Path = args.data / f"run-{args.papers}"
    if not (run / "paperboy.db").exists():
        parser.error(f"no store at {run}: run `python -m bench --papers {args.papers}` first")
    return run


__all__ = [
    "Figure",
    "add_full_run_arguments",
    "db_size",
    "dir_size",
    "full_run_folder",
    "ms",
    "peak_rss_mb",
    "percentile",
    "remove_db",
    "render_table",
    "timed",
]


def read_only(db: str | Path) -> sqlite3.Connection:
    """A read-only connection to ``db``; its path goes in as a proper file URI ("?", "#", "%" escaped)."""
    return sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True)
