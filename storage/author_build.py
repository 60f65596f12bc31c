"""Building a big store's author index in a worker process and mapping its arrays back from a file.

At a million papers the build allocates about 70 MB beside the 20 MB index it makes, and a
long-running service kept much of that as its own resident memory. Built in a worker, the
index comes back as one file of flat arrays that the service maps read-only: it then holds
only the pages its look-ups touch, which the kernel may drop and read again, and none of
the build. The file is unlinked as soon as it is mapped, so nothing is left on disk.

A small store (fewer than WORKER_AUTHORS authors) is built in the calling process, where
starting another Python costs more than the build; so is any store when no process can be
started or the folder takes no file (the caller falls back on ``None``).
"""

from __future__ import annotations

import logging
import mmap
import os
import pickle
import sqlite3
import subprocess
import sys
import tempfile
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage import heap
from storage.author_index import AuthorIndex, AuthorRows

log = logging.getLogger(__name__)

WORKER_AUTHORS = 50_000  # authors from which the index is built in a worker process
AUTHORS_SQL = (
    "SELECT a.key, count(*) FROM authors a"
    " JOIN paper_authors pa ON pa.author_id = a.id GROUP BY a.key ORDER BY a.key"
)
@dataclass(frozen=True)
class Built:
    """An author index built in the worker, with the data version it is of and the worker's peak memory."""

    version: int
    index: AuthorIndex
    worker_peak_mb: float  # the worker's own resident high-water mark (storage.heap.peak_rss)


def build_in_worker(db_path: str | Path) -> Built | None:
    """The store's author index, built in a worker process; None if none could run.

    Blocking: call it in a thread. The worker is a plain ``python -m storage.author_build``,
    which imports only the index's own modules, not the service's.
    """
    folder = Path(db_path).resolve().parent
    try:
        fd, name = tempfile.mkstemp(prefix=".paperboy-authors-", dir=folder)
    except OSError as exc:
        log.info("author index built in this process: no file can be written beside the store (%s)", exc)
        return None
    os.close(fd)
    root = str(Path(__file__).resolve().parent.parent)  # where the storage package is, however it was found
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    try:
        try:
            done = subprocess.run([sys.executable, "-m", "storage.author_build", str(db_path), name],
                                  capture_output=True, env=env, check=False)
        except OSError as exc:
            log.info("author index built in this process: no worker process could start (%s)", exc)
            return None
        if done.returncode != 0:
            last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
            log.warning("author index built in this process: the worker failed (exit %d: %s)", done.returncode, last)
            return None
        version, layout, extras, peak_mb = pickle.loads(done.stdout)  # our own worker's answer
        return Built(version, _mapped(name, layout, extras), peak_mb)
    finally:
        try:
            os.unlink(name)  # the mappings keep the pages; the name is not needed
        except OSError:
            log.debug("could not remove %s", name, exc_info=True)


def _build_to_file(db_path: str, out: str) -> tuple[int, list[tuple[str, int, int]], dict[str, Any], float]:
    """In the worker: read the authors in one snapshot, build, write the flat parts page-aligned."""
    # as_uri escapes what a URI would misread in a path ("?", "#", "%").
    conn = sqlite3.connect(Path(db_path).resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("BEGIN")  # the version and the rows from one snapshot
        row = conn.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
        version = int(row[0]) if row else 0
        rows = AuthorRows()
        cursor = conn.execute(AUTHORS_SQL)
        while chunk := cursor.fetchmany(20_000):
            rows.add(chunk)
        conn.execute("COMMIT")
    finally:
        conn.close()
    flat, by_shape, tops = rows.build().parts()
    layout = []
    with open(out, "wb") as f:
        for name, _ in AuthorIndex.PARTS:
            data = memoryview(flat[name]).cast("B")
            layout.append((name, f.tell(), len(data)))
            f.write(data)
            f.write(bytes(-f.tell() % mmap.ALLOCATIONGRANULARITY))  # each part starts a mapping
    extras = {"by_shape": by_shape, "tops": {p: r.tobytes() for p, r in tops.items()}}
    return version, layout, extras, heap.peak_rss() / 2**20


def _mapped(name: str, layout: list[tuple[str, int, int]], extras: dict[str, Any]) -> AuthorIndex:
    """The AuthorIndex whose flat parts are read-only mappings of the worker's file."""
    codes = dict(AuthorIndex.PARTS)
    flat: dict[str, Any] = {}
    with open(name, "rb") as f:
        for part, offset, size in layout:
            code = codes[part]
            if size == 0:
                flat[part] = array(code) if code == "I" else b""
                continue
            mapping = mmap.mmap(f.fileno(), size, offset=offset, access=mmap.ACCESS_READ)
            # A mapping's slices are bytes, so keys decode as before; numbers are read through a view.
            flat[part] = mapping if code == "B" else memoryview(mapping).cast(code)
    tops = {prefix: array("I", raw) for prefix, raw in extras["tops"].items()}
    return AuthorIndex.from_parts(flat, extras["by_shape"], tops)


def main(argv: list[str]) -> int:
    """``python -m storage.author_build DB OUT``: build DB's author index into OUT; the layout, pickled, on stdout."""
    db_path, out = argv
    sys.stdout.buffer.write(pickle.dumps(_build_to_file(db_path, out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
