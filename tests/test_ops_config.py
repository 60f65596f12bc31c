"""Config that explains itself: every key documented with its default, mistakes named, `config check`."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

from paperboy import cli
from paperboy.config import AnnounceConfig, Config, SourceConfig, load, masked
from storage.errors import ConfigError
from tests.helpers import REPO

EXAMPLE = REPO / "config.example.toml"
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123"
HOOK_TOKEN = "hookSecret_0123456789abcdefXYZ"


def table_classes() -> dict[str, type]:
    """Every TOML table Config reads and the dataclass behind it, found from Config itself."""
    defaults = Config()
    tables: dict[str, type] = {"sources": SourceConfig, "announce": AnnounceConfig}
    for f in fields(Config):
        value = getattr(defaults, f.name)
        if is_dataclass(value):
            tables[f.name] = type(value)
    return tables


def documented_keys(text: str) -> dict[str, set[str]]:
    """Keys per table in the example, counting commented-out ones (`# key = ...`)."""
    found: dict[str, set[str]] = {}
    table = None
    for line in text.splitlines():
        bare = line.lstrip("# ").rstrip()
        header = re.fullmatch(r"\[\[?([a-z_]+)\]\]?", bare)
        if header:
            table = header[1]
            continue
        key = re.match(r"([a-z_]+)\s*=", bare)
        if key and table:
            found.setdefault(table, set()).add(key[1])
    return found


def uncommented(text: str) -> str:
    """The example with its commented-out [[sources]] / [[announce]] examples switched on."""
    lines = []
    for line in text.splitlines():
        bare = line[2:] if line.startswith("# ") else line
        if re.match(r"\[\[(sources|announce|announce\.webhooks)\]\]$", bare.strip()) or (
            line.startswith("# ") and re.match(r"[a-z_]+\s*=", bare)
        ):
            lines.append(bare)
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`paperboy` sets the root logger up; put pytest's handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("PAPERBOY_") or name == "DISCORD_TOKEN":
            monkeypatch.delenv(name)
    return monkeypatch


def test_every_config_field_is_documented_in_the_example() -> None:
    documented = documented_keys(EXAMPLE.read_text(encoding="utf-8"))
    tables = table_classes()
    assert set(tables) >= {"store", "http", "feeds", "discord", "schedule", "logging", "sources", "announce"}
    missing = [
        f"[{table}] {f.name}" for table, cls in tables.items() for f in fields(cls)
        if f.name not in documented.get(table, set())
    ]
    assert not missing, f"config.example.toml does not mention: {', '.join(missing)}"
    # [announce] max_age sits in the [announce] table above the webhooks ([[announce.webhooks]]).
    unknown = [f"[{t}] {k}" for t, keys in documented.items() for k in keys
               if t in tables and k not in {f.name for f in fields(tables[t])} and (t, k) != ("announce", "max_age")]
    assert not unknown, f"config.example.toml documents keys Config does not have: {unknown}"


def test_the_example_shows_the_defaults() -> None:
    # "The value shown is the default": loading the example changes nothing but the file name.
    example, defaults = masked(load(EXAMPLE, env={})), masked(load(None, env={}))
    assert example == defaults


def test_the_examples_commented_sources_and_announcements_validate(tmp_path: Path) -> None:
    path = tmp_path / "full.toml"
    path.write_text(uncommented(EXAMPLE.read_text(encoding="utf-8")), encoding="utf-8")
    # The example's webhook variable is not a PAPERBOY_<TABLE>_<KEY> override, so it must not be refused as one.
    config = load(path, env={"PAPERBOY_WEBHOOK_LAB": f"https://discord.com/api/webhooks/1/{HOOK_TOKEN}"})
    assert [s.kind for s in config.sources] == ["listing", "arxiv", "feed", "bibtex"]
    arxiv = config.sources[1]
    assert arxiv.max_results == SourceConfig.__dataclass_fields__["max_results"].default
    (announce,) = config.announce
    assert (announce.webhook_url_env, announce.target) == ("PAPERBOY_WEBHOOK_LAB", "all")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[http]\nenabled = "maybe"\n', "[http] enabled: expected true or false, got 'maybe'"),
        ('[discord]\nguild_ids = ["lab"]\n', "[discord] guild_ids: expected a list of numeric ids"),
        ("[discord]\nguild_ids = 5\n", "[discord] guild_ids: expected a list"),
        ("http = 5\n", "[http]: expected a table of settings"),
        ('sources = "lab.txt"\n', "sources must be an array of tables written [[sources]]"),
        ("[schedule]\noutbox_interval = 0\n", "[schedule] outbox_interval: must be more than zero seconds"),
        ('[schedule]\nmisfire_grace = "-5m"\n', "[schedule] misfire_grace: expected seconds or a duration"),
        ('[logging]\nformat = "xml"\n', "[logging] format: expected one of text, json, got 'xml'"),
        ("[feeds]\ntitle = 7\n", "[feeds] title: expected a string, got 7"),
        ('[[announce]]\nname = "a"\nwebhook_url_env = "X"\ntarget = "author"\n', "target 'author' needs value"),
        ('[[sources]]\nname = "a"\nkind = "listing"\nurl = "x"\nmax_pages = 0\n',
         "[[sources]] #1 max_pages: expected a number of at least 1"),
        ('[http]\nport = 80\nport = 81\n', "not valid TOML"),
    ],
)
def test_more_mistakes_name_the_key_and_what_was_expected(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text), env={})
    assert needle in str(info.value)
    assert str(info.value).startswith(str(tmp_path / "bad.toml"))


def test_a_toml_syntax_error_says_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 3"):
        load(write(tmp_path, '[http]\nport = 80\nhost = 127.0.0.1\n'), env={})


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"PAPERBOY_HTTP_PORT": "eighty"}, "[http] port: expected a whole number, got 'eighty'"),
        ({"PAPERBOY_SCHEDULE_JITTER": "soon"}, "[schedule] jitter: expected seconds or a duration"),
        ({"PAPERBOY_LOGGING_LEVEL": "loud"}, "[logging] level: expected one of DEBUG"),
        ({"PAPERBOY_FEEDS_ENTRIES": "0"}, "[feeds] entries: expected a number of at least 1"),
        ({"PAPERBOY_STORE_PAHT": "x.db"}, "environment PAPERBOY_STORE_PAHT: [store] has no key 'paht'"),
    ],
)
def test_environment_mistakes_name_the_key(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(None, env=env)
    assert needle in str(info.value)


def test_environment_overrides_every_table(tmp_path: Path) -> None:
    path = write(tmp_path, '[http]\nhost = "0.0.0.0"\n[logging]\nformat = "text"\n')
    config = load(path, env={
        "PAPERBOY_HTTP_HOST": "127.0.0.1",
        "PAPERBOY_HTTP_ENABLED": "false",
        "PAPERBOY_LOGGING_FORMAT": "json",
        "PAPERBOY_SCHEDULE_OUTBOX_INTERVAL": "2m",
        "PAPERBOY_DISCORD_GUILD_IDS": "1,2",
        "PAPERBOY_STORE_PATH": "/srv/p.db",
        "PAPERBOY_FEEDS_TITLE": "Lab papers",
    })
    assert (config.http.host, config.http.enabled, config.logging.format) == ("127.0.0.1", False, "json")
    assert config.schedule.outbox_interval == 120 and config.discord.guild_ids == (1, 2)
    assert config.store.path == "/srv/p.db" and config.feeds.title == "Lab papers"


def run_check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["config", "check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_config_check_prints_effective_settings_with_secrets_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch, restore_logging: None
) -> None:
    path = write(tmp_path, (
        '[store]\npath = "lab.db"\n'
        '[[announce]]\nname = "direct"\n'
        f'webhook_url = "https://discord.com/api/webhooks/42/{HOOK_TOKEN}"\n'
        '[[announce]]\nname = "via-env"\nwebhook_url_env = "LAB_HOOK"\n'
    ))
    clean_env.setenv("DISCORD_TOKEN", TOKEN)
    clean_env.setenv("LAB_HOOK", f"https://discord.com/api/webhooks/43/{HOOK_TOKEN}x")
    clean_env.setenv("PAPERBOY_HTTP_PORT", "9100")
    clean_env.chdir(tmp_path)
    code, out, err = run_check(capsys, str(path))
    assert code == 0, err
    heading, _, body = out.partition("\n")
    assert heading == f"# effective configuration from {path}; secrets masked"
    shown = json.loads(body)
    assert shown["http"]["port"] == 9100 and shown["store"]["path"] == "lab.db"
    assert shown["secrets"]["DISCORD_TOKEN"] == "set (hidden)"
    assert shown["announce"][0]["webhook_url"] == "https://discord.com/api/webhooks/42/***"
    assert shown["announce"][1]["webhook_url_env"] == "LAB_HOOK"
    assert TOKEN not in out + err and HOOK_TOKEN not in out + err
    assert not (tmp_path / "lab.db").exists(), "checking a config must not create the database"


def test_config_check_defaults_and_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch, restore_logging: None
) -> None:
    clean_env.chdir(tmp_path)
    code, out, _ = run_check(capsys)
    assert code == 0 and out.startswith("# effective configuration (defaults)")
    assert json.loads(out.partition("\n")[2])["secrets"] == {"DISCORD_TOKEN": "unset"}
    code, out, err = run_check(capsys, str(write(tmp_path, "[http]\nport = 70000\n")))
    assert code == 2 and out == ""
    assert err.strip() == (
        f"paperboy: {tmp_path / 'bad.toml'}: [http] port: "
        "expected a port from 0 to 65535 (0 picks a free one), got 70000"
    )
    clean_env.setenv("PAPERBOY_CONFIG", str(tmp_path / "absent.toml"))
    code, _, err = run_check(capsys)
    assert code == 2 and "absent.toml: no such config file" in err
