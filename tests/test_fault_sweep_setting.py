"""One setting for every fault sweep: PAPERBOY_SWEEP (short, long or N kill points), the older names still read."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.fault_figures import sweep_seed, sweep_setting
from tests.helpers import REPO


@pytest.mark.parametrize(("env", "expected"), [
    ({}, (False, None)),
    ({"PAPERBOY_SWEEP": "short"}, (False, None)),
    ({"PAPERBOY_SWEEP": "long"}, (True, None)),
    ({"PAPERBOY_SWEEP": " Long "}, (True, None)),
    ({"PAPERBOY_SWEEP": "500"}, (True, 500)),
    ({"PAPERBOY_FAULTS_LONG": "1"}, (True, None)),  # the ingest sweep's old name
    ({"PAPERBOY_FAULTS_LONG": "0"}, (False, None)),
    ({"PAPERBOY_KILL_SWEEP": "200"}, (True, 200)),  # the announce sweep's old name
    ({"PAPERBOY_SWEEP": "short", "PAPERBOY_KILL_SWEEP": "200"}, (False, None)),  # the new name wins
])
def test_the_sweep_setting_reads_the_new_name_and_the_old_ones(env: dict, expected: tuple) -> None:
    assert sweep_setting(env) == expected


def test_a_wrong_sweep_setting_says_what_it_takes() -> None:
    with pytest.raises(ValueError, match="PAPERBOY_SWEEP: expected short, long or a number of kill points"):
        sweep_setting({"PAPERBOY_SWEEP": "forever"})


def test_one_seed_for_every_sweep() -> None:
    assert sweep_seed(15, {}) == 15
    assert sweep_seed(15, {"PAPERBOY_SWEEP_SEED": "3", "PAPERBOY_FAULTS_SEED": "4"}) == 3
    assert sweep_seed(15, {"PAPERBOY_KILL_SEED": "9"}) == 9 and sweep_seed(15, {"PAPERBOY_FAULTS_SEED": "4"}) == 4


@pytest.mark.parametrize(("env", "printed"), [
    ({}, "False 6 24"),
    ({"PAPERBOY_SWEEP": "long"}, "True 200 200"),
    ({"PAPERBOY_SWEEP": "40"}, "True 40 40"),
    ({"PAPERBOY_KILL_SWEEP": "30"}, "True 30 30"),
    ({"PAPERBOY_FAULTS_LONG": "1"}, "True 200 200"),
])
def test_a_fresh_process_sizes_both_kill_sweeps_from_its_environment(env: dict, printed: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    code = ("from tests.fault_figures import LONG, kill_points\n"
            "print(LONG, kill_points(6, 200), kill_points(24, 200))")  # the ingest and the announce sweep
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**clean, **env},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == printed
