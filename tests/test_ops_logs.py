"""Logs: readable lines by default, JSON lines on request, one logger per module, never a secret."""

from __future__ import annotations

import ast
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperboy import logs
from tests.helpers import REPO

# Shaped like a real bot token (base64 user id . timestamp . HMAC) and a webhook URL's token.
TOKEN = "MTE5ODc2NTQzMjEwOTg3NjU0.GhIjKl.Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fEdCb"
HOOK_TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz_0123456789-abcdefghijklmnopqrstuvwx"
HOOK_URL = f"https://discord.com/api/webhooks/112233445566778899/{HOOK_TOKEN}"
PACKAGES = ("paperboy", "storage", "feeds", "bot")
LEVEL_CALLS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def emit_everything() -> None:
    """Log the ways a secret could slip in: in the message, as an argument, inside an exception."""
    logging.getLogger("paperboy.service").info("starting with token %s", TOKEN)
    logging.getLogger("bot.announcer").warning(f"webhook {HOOK_URL} answered 429")
    try:
        raise RuntimeError(f"login failed for Bot {TOKEN} via {HOOK_URL}")
    except RuntimeError:
        logging.getLogger("bot.client").exception("gateway error")
    logging.getLogger("feeds.web").debug("not shown at INFO")


def test_json_lines_parse_and_carry_no_secret(capsys: pytest.CaptureFixture[str], restore_logging: None) -> None:
    logs.setup("INFO", "json")
    emit_everything()
    err = capsys.readouterr().err
    lines = err.splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(entries) == 3, err  # the traceback lives inside its entry, not on lines of its own
    assert all(line.startswith("{") for line in lines)
    assert [e["logger"] for e in entries] == ["paperboy.service", "bot.announcer", "bot.client"]
    assert [e["level"] for e in entries] == ["INFO", "WARNING", "ERROR"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", e["time"]) for e in entries)
    assert "RuntimeError: login failed" in entries[2]["exception"]
    assert TOKEN not in err and HOOK_TOKEN not in err
    assert "/webhooks/112233445566778899/***" in entries[1]["message"]
    assert entries[0]["message"] == "starting with token ***"


def test_text_lines_are_readable_and_carry_no_secret(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    logs.setup("INFO", "text")
    emit_everything()
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(stamp + r" INFO    paperboy\.service: starting with token \*\*\*", first)
    assert "Traceback (most recent call last)" in err and "RuntimeError: login failed" in err
    assert TOKEN not in err and HOOK_TOKEN not in err
    assert "not shown at INFO" not in err


def test_redact_keeps_ordinary_text() -> None:
    text = "paper 2304.01234v2 by Lee, Jae-Hun; see https://arxiv.org/abs/2304.01234 and doi 10.1000/xyz.abc"
    assert logs.redact(text) == text
    assert logs.redact(f"x {TOKEN} y {HOOK_URL}") == "x *** y https://discord.com/api/webhooks/112233445566778899/***"


def test_the_running_service_logs_json_without_its_secrets(tmp_path: Path) -> None:
    """`paperboy --log-format json run` with a token set and a source failing on a webhook-like URL."""
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\npath = "{tmp_path / "l.db"}"\n[http]\nport = 0\n[schedule]\njitter = 0\n'
        f'[[sources]]\nname = "leaky"\nkind = "feed"\nurl = "{tmp_path}/api/webhooks/1/{HOOK_TOKEN}"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    env["DISCORD_TOKEN"] = TOKEN
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperboy.cli", "--log-format", "json", "--log-level", "DEBUG",
         "--config", str(config), "run"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "source leaky failed" in line:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=20)[1]
    lines += rest.splitlines()
    assert proc.returncode == 0, "".join(lines)
    entries = [json.loads(line) for line in lines if line.strip()]
    failure = next(e for e in entries if e["message"].startswith("source leaky failed"))
    assert failure["logger"] == "paperboy.jobs" and failure["level"] == "WARNING"
    assert "/webhooks/1/***" in failure["message"]
    text = "".join(lines)
    assert TOKEN not in text and HOOK_TOKEN not in text


def _module_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((REPO / package).rglob("*.py"))


def test_one_logger_per_module_named_after_it() -> None:
    problems = []
    for path in _module_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        where = path.relative_to(REPO)
        module_loggers = [
            node for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
            and ast.unparse(node.value.func) == "logging.getLogger"
        ]
        for node in module_loggers:
            if ast.unparse(node) != "log = logging.getLogger(__name__)":
                problems.append(f"{where}:{node.lineno}: module logger must be `log = logging.getLogger(__name__)`")
        if len(module_loggers) > 1:
            problems.append(f"{where}: {len(module_loggers)} module loggers")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and ast.unparse(node.func.value) == "logging" and node.func.attr in LEVEL_CALLS):
                problems.append(f"{where}:{node.lineno}: logs through the root logger (logging.{node.func.attr})")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and ast.unparse(node.func.value) == "log" and node.func.attr in LEVEL_CALLS
                    and not module_loggers):
                problems.append(f"{where}:{node.lineno}: uses `log` without a module logger")
                break
    assert not problems, "\n".join(problems)
