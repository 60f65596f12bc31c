"""Configuration: defaults, validation that names the key, environment overrides, secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from paperboy.config import ARXIV_API, DEFAULT_PORT, load, masked, parse_duration
from storage.errors import ConfigError
from tests.helpers import REPO


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file() -> None:
    config = load(None, env={})
    assert config.store.path == "paperboy.db"
    assert (config.http.host, config.http.port) == ("127.0.0.1", DEFAULT_PORT)
    assert config.sources == () and config.discord_token is None and config.path is None


def test_example_config_validates() -> None:
    config = load(REPO / "config.example.toml", env={})
    assert config.feeds.entries == 50 and config.schedule.jitter == 10.0


def test_discord_only_file_is_valid(tmp_path: Path) -> None:
    config = load(write(tmp_path, '[discord]\nguild_ids = [123, 456]\n'), env={})
    assert config.discord.guild_ids == (123, 456) and config.sources == ()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[http]\nport = 70000\n", "[http] port: expected a port"),
        ("[http]\nport = \"abc\"\n", "[http] port: expected a whole number"),
        ("[http]\nprot = 1\n", "unknown key 'prot'"),
        ("[htp]\nport = 1\n", "unknown table [htp]"),
        ("[logging]\nlevel = \"LOUD\"\n", "[logging] level: expected one of DEBUG"),
        ("[[sources]]\nname = \"a\"\nkind = \"rss\"\nurl = \"x\"\n", "kind: expected one of listing"),
        ("[[sources]]\nname = \"a\"\nkind = \"arxiv\"\n", "needs search_query"),
        ("[[sources]]\nname = \"a\"\nkind = \"listing\"\n", "needs url"),
        ("[[sources]]\nkind = \"listing\"\nurl = \"x\"\n", "missing required key 'name'"),
        ("[[sources]]\nname = \"a\"\nkind = \"listing\"\nurl = \"x\"\ninterval = \"soon\"\n",
         "interval: expected seconds or a duration"),
        ("[[sources]]\nname = \"a\"\nkind = \"listing\"\nurl = \"x\"\n[[sources]]\nname = \"a\"\n"
         "kind = \"listing\"\nurl = \"y\"\n", "used twice"),
        ("[[announce]]\nname = \"lab\"\n", "webhook_url_env"),
        ("[feeds]\nentries = 0\n", "at least 1"),
        ("not toml at all [", "not valid TOML"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text), env={})
    assert needle in str(info.value)
    assert str(tmp_path / "config.toml") in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load(tmp_path / "absent.toml", env={})


def test_environment_overrides_and_db(tmp_path: Path) -> None:
    path = write(tmp_path, "[http]\nport = 9000\n")
    config = load(path, env={"PAPERBOY_HTTP_PORT": "9100", "PAPERBOY_DB": "/tmp/x.db", "DISCORD_TOKEN": "s3cret"})
    assert config.http.port == 9100 and config.store.path == "/tmp/x.db" and config.discord_token == "s3cret"
    assert load(path, env={"PAPERBOY_DB": "/tmp/x.db"}, db="/tmp/flag.db").store.path == "/tmp/flag.db"
    with pytest.raises(ConfigError, match="PAPERBOY_HTTP_PROT"):
        load(path, env={"PAPERBOY_HTTP_PROT": "1"})


def test_arxiv_source_defaults_endpoint_and_durations(tmp_path: Path) -> None:
    config = load(write(tmp_path, '[[sources]]\nname = "ax"\nkind = "arxiv"\n'
                                  'search_query = \'au:"Hwang, Sangheum"\'\ninterval = "6h"\n'), env={})
    (source,) = config.sources
    assert source.url == ARXIV_API and source.interval == 6 * 3600
    assert parse_duration("1d", "x") == 86400 and parse_duration(90, "x") == 90


def test_secrets_are_masked(tmp_path: Path) -> None:
    path = write(tmp_path, '[[announce]]\nname = "lab"\nwebhook_url = "https://discord.com/api/webhooks/1/tok3n"\n')
    shown = masked(load(path, env={"DISCORD_TOKEN": "abc.def.ghi"}))
    text = repr(shown)
    assert "tok3n" not in text and "abc.def.ghi" not in text
    assert shown["secrets"]["DISCORD_TOKEN"] == "set (hidden)"


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    needle = r"environment PAPERBOY_HTTP_PORT sets \[http\] port: expected a whole number"
    with pytest.raises(ConfigError, match=needle):
        load(None, env={"PAPERBOY_HTTP_PORT": "eighty"})


def test_webhook_url_comes_from_the_given_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[[announce]]\nname = "lab"\nwebhook_url_env = "LAB_HOOK"\n')
    config = load(path, env={"LAB_HOOK": "https://discord.com/api/webhooks/9/secret-token"})
    (ann,) = config.announce
    assert config.webhook_url(ann).endswith("/9/secret-token")
    shown = masked(config)
    assert shown["secrets"]["LAB_HOOK"] == "set (hidden)" and "secret-token" not in repr(shown)
    assert masked(load(path, env={}))["secrets"]["LAB_HOOK"] == "unset"
