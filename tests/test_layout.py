"""The layout DESIGN.md draws: dependencies point one way, paperboy -> bot, feeds -> storage."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

from bot.settings import BotSettings
from paperboy.config import Config, load

ROOT = Path(__file__).resolve().parents[1]
# What each package may import of the others (DESIGN.md, "Layout").
ALLOWED = {
    "storage": set(),
    "feeds": {"storage"},
    "bot": {"storage"},
}
OURS = {"storage", "feeds", "bot", "paperboy", "bench", "tests"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


def test_dependencies_point_one_way() -> None:
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in sorted(_imports(path) - allowed - {package}):
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_bot_settings_default_to_the_config_defaults() -> None:
    assert Config().bot_settings() == BotSettings()


def test_bot_settings_carry_the_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[http]\npublic_url = "https://papers.example.org/lab"\n'
        "[discord]\nguild_ids = [42]\nsync_commands = false\n"
        '[announce]\nmax_age = "7d"\n',
        encoding="utf-8",
    )
    settings = load(path, env={}).bot_settings()
    assert settings == BotSettings(public_base_url="https://papers.example.org/lab/", sync_commands=False,
                                   guild_ids=(42,), max_age=timedelta(days=7))
