"""Counting what the fault-injection tests did (kill points, faults, fuzz examples), and printing it.

The sweeps are short by default. One scheme sets them all (the README's "Fault sweeps"):

    PAPERBOY_SWEEP=long       every fault-injection test runs its long sweep
    PAPERBOY_SWEEP=500        long, with 500 kill points in each kill sweep
    PAPERBOY_SWEEP_SEED=N     the random seed of every sweep

The older names still work: PAPERBOY_FAULTS_LONG=1 means long, PAPERBOY_KILL_SWEEP=N means N,
PAPERBOY_FAULTS_SEED and PAPERBOY_KILL_SEED mean PAPERBOY_SWEEP_SEED. Each test
module that injects faults adds to a Figures object and prints it at the end of
the module through pytest's terminal reporter, so
`./dev test tests/test_faults_*.py -q` shows the figures.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping

import pytest


def sweep_setting(env: Mapping[str, str]) -> tuple[bool, int | None]:
    """(long, kill points) from PAPERBOY_SWEEP, else from the older PAPERBOY_KILL_SWEEP / PAPERBOY_FAULTS_LONG."""
    raw = env.get("PAPERBOY_SWEEP", "").strip().lower()
    if not raw:
        if env.get("PAPERBOY_KILL_SWEEP", "").strip():
            raw = env["PAPERBOY_KILL_SWEEP"].strip()
        elif env.get("PAPERBOY_FAULTS_LONG", "").strip() not in ("", "0"):
            raw = "long"
    if raw in ("", "short", "0"):
        return False, None
    if raw == "long":
        return True, None
    if raw.isdigit():
        return True, int(raw)
    raise ValueError(f"PAPERBOY_SWEEP: expected short, long or a number of kill points; got {raw!r}")


def sweep_seed(default: int, env: Mapping[str, str] = os.environ) -> int:
    """PAPERBOY_SWEEP_SEED, else the older PAPERBOY_KILL_SEED / PAPERBOY_FAULTS_SEED, else ``default``."""
    for name in ("PAPERBOY_SWEEP_SEED", "PAPERBOY_KILL_SEED", "PAPERBOY_FAULTS_SEED"):
        if env.get(name, "").strip():
            return int(env[name])
    return default


LONG, KILL_POINTS = sweep_setting(os.environ)


def scale(short: int, long: int) -> int:
    """How many of something to do: ``short`` in CI, ``long`` with PAPERBOY_SWEEP=long."""
    return long if LONG else short


def kill_points(short: int, long: int) -> int:
    """How many kill points a kill sweep has: as ``scale``, or the number PAPERBOY_SWEEP gives."""
    return KILL_POINTS or scale(short, long)


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
