"""The author benchmark keeps working: a tiny run prints both indexes' figures beside the bare key range."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_author_bench_prints_before_now_and_bare(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.author_bench", "--papers", "400", "--rounds", "1", "--data", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("400 papers, ") and "distinct authors" in lines[0]
    assert lines[1].split() == ["figure", "before", "now", "bare", "key", "range"]
    cells = [re.split(r"\s{2,}", line.strip()) for line in lines[2:]]
    rows = {cell[0]: cell[1:] for cell in cells}
    for name in ("author look-up p50, whole mix (ms)", "author look-up p99, whole mix (ms)",
                 "p99, prefix (ms)", "p99, typo (ms)", "p99, reversed (ms)"):
        before, now, bare = (float(x) for x in rows[name])
        assert before > 0 and now > 0 and bare > 0, name
    for name in ("index build, first look-up (s)", "resident after build (MB)", "process peak (VmHWM, MB)"):
        assert all(float(x) > 0 for x in rows[name]), name
    assert (tmp_path / "authors-400-s7.sqlite3").exists()  # made once, reused by the next run
