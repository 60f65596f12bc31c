"""Counting what the fault-injection tests did (kill points, faults, fuzz examples), and printing it.

The sweep is short by default; PAPERBOY_FAULTS_LONG=1 makes it long. Each test
module that injects faults adds to a Figures object and prints it at the end of
the module through pytest's terminal reporter, so
`./dev test tests/test_faults_*.py -q` shows the figures.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

LONG = os.environ.get("PAPERBOY_FAULTS_LONG", "") not in ("", "0")


def scale(short: int, long: int) -> int:
    """How many of something to do: ``short`` in CI, ``long`` with PAPERBOY_FAULTS_LONG=1."""
    return long if LONG else short


class Figures:
    """Named counts printed as one line per module: 'fault figures (hostile files): ...'."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.counts: Counter[str] = Counter()

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def line(self) -> str:
        body = ", ".join(f"{name} {count:,}" for name, count in sorted(self.counts.items()))
        mode = "long" if LONG else "short"
        return f"fault figures ({self.title}, {mode} sweep): {body or 'nothing counted'}"


def report(request: pytest.FixtureRequest, figures: Figures) -> None:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(figures.line())
    else:
        reporter.write_line(figures.line())
