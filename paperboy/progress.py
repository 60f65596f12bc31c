"""A small progress bar on stderr for long work, silent when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Call ``update(done)``; prints at most ten times a second, and only on a terminal.

    ``estimate``: the total is a guess (a listing read as it is parsed), shown as "~N",
    and the bar ends at what was done rather than at the guess.
    """

    def __init__(self, label: str, total: int, stream: TextIO | None = None, *, estimate: bool = False) -> None:
        self.label = label
        self.total = max(total, 1)
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() and total >= 1000
        self.estimate = estimate
        self._last = 0.0
        self._done = 0

    def update(self, done: int) -> None:
        self._done = done
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        width = 30
        filled = int(width * min(done, self.total) / self.total)
        total = f"~{self.total}" if self.estimate else f"{self.total}"
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._last = 0.0  # the last line always shows where it ended
            self.update(self._done if self.estimate else self.total)
            self.stream.write("\n")
            self.stream.flush()
