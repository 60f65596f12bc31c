"""The one validated configuration object, built at start-up from TOML plus the environment."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.settings import BotSettings
from storage.errors import ConfigError, InvalidInputError
from storage.redact import mask_url
from storage.subscriptions import DIGESTS, canonical_digest, parse_filters

DEFAULT_DB = "paperboy.db"
DEFAULT_PORT = 8650
DISCORD_API = "https://discord.com/api/v10"
DISCORD_GATEWAY = "wss://gateway.discord.gg/"
ARXIV_API = "http://export.arxiv.org/api/query"
SOURCE_KINDS = ("listing", "arxiv", "feed", "bibtex")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SECRET_ENV = ("DISCORD_TOKEN",)


def parse_duration(value: object, where: str) -> float:
    """Seconds from a number or a string such as "30m", "6h", "1d"."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected seconds or a duration like \"30m\", got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ConfigError(
                f"{where}: expected seconds or a duration like \"30m\", \"6h\", \"1d\", got {value!r}"
            )
        seconds = float(match[1]) * _UNITS[match[2]]
    if seconds <= 0:
        raise ConfigError(f"{where}: must be more than zero seconds, got {value!r}")
    return seconds


ANNOUNCE_MAX_AGE = 30 * 86400.0
_ANNOUNCE_KEYS = ("max_age", "webhooks")


def _announce_parts(data: Mapping[str, Any], label: str) -> tuple[float, list[Mapping[str, Any]]]:
    """[announce] (max_age, [[announce.webhooks]]) or the older [[announce]] list of webhooks."""
    raw = data.get("announce", [])
    if not isinstance(raw, Mapping):
        return ANNOUNCE_MAX_AGE, _array(data, "announce", label)
    unknown = sorted(set(raw) - set(_ANNOUNCE_KEYS))
    if unknown:
        raise ConfigError(
            f"{label}: [announce]: unknown key {unknown[0]!r}; known keys are max_age and webhooks "
            "([[announce.webhooks]] tables)"
        )
    max_age = ANNOUNCE_MAX_AGE
    if "max_age" in raw:
        value = raw["max_age"]
        max_age = 0.0 if value in (0, "0") else parse_duration(value, f"{label}: [announce] max_age")
    return max_age, _array(raw, "webhooks", f"{label}: [announce]")


@dataclass(frozen=True, slots=True)
class StoreConfig:
    path: str = DEFAULT_DB


@dataclass(frozen=True, slots=True)
class HttpConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    base_url: str = ""  # public address of the feeds; default http://host:port/
    # The address readers use (behind a reverse proxy): every absolute link the feeds, pages
    # and Discord answers carry starts with it. Wins over base_url, its older name.
    public_url: str = ""


@dataclass(frozen=True, slots=True)
class FeedsConfig:
    title: str = "paperboy"
    subtitle: str = "New papers from the lab"
    entries: int = 50
    author: str = ""


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    api_base: str = DISCORD_API
    gateway_url: str = DISCORD_GATEWAY
    guild_ids: tuple[int, ...] = ()
    sync_commands: bool = True


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    outbox_interval: float = 30.0
    jitter: float = 10.0
    misfire_grace: float = 300.0
    digest_cron: str = "0 9 * * *"  # when due digests go out (daily ones each run)
    timezone: str = "UTC"
    digest_weekday: str = "mon"  # the day weekly digests go out


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "INFO"
    format: str = "text"


@dataclass(frozen=True, slots=True)
class SourceConfig:
    name: str
    kind: str
    url: str = ""
    search_query: str = ""
    interval: float = 3600.0
    owner: str = ""
    max_results: int = 100
    max_pages: int = 5


@dataclass(frozen=True, slots=True)
class AnnounceConfig:
    name: str
    webhook_url: str = ""
    webhook_url_env: str = ""
    target: str = "all"
    value: str = ""
    include: str = ""  # words, "phrases" or /regex/: only papers matching any of them
    exclude: str = ""  # never papers matching any of these
    mention_role: int = 0  # a role id to ping in each announcement (0: nobody)
    digest: str = "off"  # off (a message per paper), daily or weekly


@dataclass(frozen=True, slots=True)
class OpsConfig:
    """Where the service reports source failures, sharp drops, recoveries and broken subscriptions."""

    channel: int = 0  # a Discord channel id the bot posts to (0 = none)
    webhook_env: str = ""  # or: the environment variable holding a webhook URL
    failures: int = 3  # consecutive failed polls before a source is reported failing
    drop_ratio: float = 0.5  # a poll with fewer than this share of the last good poll's papers is a drop


DIGEST_DAYS = DIGESTS  # off, daily, weekly: the same words as /subscribe digest:


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """[search]: the field acronyms search falls back on when the lab's papers do not define them."""

    builtin_acronyms: bool = True  # the shipped dictionary (storage/acronyms.toml)
    acronyms: tuple[tuple[str, str], ...] = ()  # ACRONYM = "long form"; "" removes a shipped one


def _acronym_table(value: object, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise ConfigError(f'{where}: expected a table such as {{ RL = "reinforcement learning" }}, got {value!r}')
    out = []
    for acronym, phrase in value.items():
        if not isinstance(phrase, str):
            raise ConfigError(f"{where}.{acronym}: expected the long form as a string (\"\" removes it), "
                              f"got {phrase!r}")
        if not acronym.strip() or any(c.isspace() for c in acronym.strip()):
            raise ConfigError(f"{where}: {acronym!r} is not one word; an acronym has no spaces")
        if phrase.strip() and not any(c.isalnum() for c in phrase):
            raise ConfigError(f"{where}.{acronym}: the long form {phrase!r} has no words")
        out.append((acronym.strip(), phrase.strip()))
    return tuple(out)


def search_acronyms(config: Config) -> dict[str, str]:
    """The acronym dictionary search uses: the shipped one (unless turned off) with [search] acronyms over it."""
    from storage import acronyms

    try:
        return acronyms.load(dict(config.search.acronyms), builtin=config.search.builtin_acronyms)
    except InvalidInputError as exc:
        raise ConfigError(f"{config.path or 'config'}: [search] acronyms: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Config:
    store: StoreConfig = field(default_factory=StoreConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    sources: tuple[SourceConfig, ...] = ()
    announce: tuple[AnnounceConfig, ...] = ()
    ops: OpsConfig = field(default_factory=OpsConfig)
    path: str | None = None  # the file it came from, if any
    discord_token: str | None = field(default=None, repr=False)
    # Webhook URLs read from the environment at start-up, by [[announce]] name.
    env_webhooks: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # [announce] max_age in seconds: papers published longer before they are first seen
    # are stored but not announced (0: no limit).
    announce_max_age: float = ANNOUNCE_MAX_AGE

    @property
    def max_age(self) -> timedelta | None:
        return timedelta(seconds=self.announce_max_age) if self.announce_max_age > 0 else None
    ops_webhook: str = field(default="", repr=False)  # read from [ops] webhook_env

    @property
    def public_base_url(self) -> str:
        if self.http.public_url or self.http.base_url:
            return (self.http.public_url or self.http.base_url).rstrip("/") + "/"
        return f"http://{self.http.host}:{self.http.port}/"

    def bot_settings(self) -> BotSettings:
        """The plain values the Discord bot reads, so ``bot`` never imports this module."""
        return BotSettings(public_base_url=self.public_base_url, sync_commands=self.discord.sync_commands,
                           guild_ids=self.discord.guild_ids, max_age=self.max_age)

    def webhook_url(self, announce: AnnounceConfig) -> str:
        if announce.webhook_url_env:
            return dict(self.env_webhooks).get(announce.name, "")
        return announce.webhook_url


_TABLES: dict[str, type] = {
    "store": StoreConfig,
    "http": HttpConfig,
    "feeds": FeedsConfig,
    "discord": DiscordConfig,
    "schedule": ScheduleConfig,
    "logging": LoggingConfig,
    "ops": OpsConfig,
    "search": SearchConfig,
}
_DURATION_KEYS = {"interval", "outbox_interval", "jitter", "misfire_grace"}
_CHOICES = {
    ("logging", "level"): ("DEBUG", "INFO", "WARNING", "ERROR"),
    ("logging", "format"): ("text", "json"),
    ("sources", "kind"): SOURCE_KINDS,
    ("announce", "target"): ("all", "author", "topic", "category"),
    ("announce", "digest"): tuple(DIGEST_DAYS),
    ("schedule", "digest_weekday"): ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
}


def _coerce(table: str, key: str, value: object, default: object, where: str) -> object:
    if (table, key) == ("search", "acronyms"):
        return _acronym_table(value, where)
    if key in _DURATION_KEYS:
        if key == "jitter" and value in (0, "0"):
            return 0.0
        return parse_duration(value, where)
    if isinstance(default, bool):
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, float) and key == "drop_ratio":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < float(value) < 1:
            raise ConfigError(f"{where}: expected a share between 0 and 1 (e.g. 0.5), got {value!r}")
        return float(value)
    if isinstance(default, int):
        try:
            number = int(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or (isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        if key == "port" and not 0 <= number <= 65535:
            raise ConfigError(f"{where}: expected a port from 0 to 65535 (0 picks a free one), got {number}")
        if key in ("entries", "max_results", "max_pages", "failures") and number < 1:
            raise ConfigError(f"{where}: expected a number of at least 1, got {number}")
        return number
    if isinstance(default, tuple):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        try:
            return tuple(int(v) for v in value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: expected a list of numeric ids, got {value!r}") from exc
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    choices = _CHOICES.get((table, key))
    if choices:
        wanted = value.upper() if key == "level" else value
        if (table, key) == ("announce", "digest") and isinstance(value, str):
            wanted = canonical_digest(value)  # "none" is accepted for "off"
        if wanted not in choices:
            raise ConfigError(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
        return wanted
    return value


def _build(cls: type, table: str, data: Mapping[str, Any], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table of settings, got {data!r}")
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, object] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(
                f"{where}: unknown key {key!r}; known keys are {', '.join(sorted(known))}"
            )
        spec = known[key]
        default = spec.default if not callable(spec.default_factory) else spec.default_factory()  # type: ignore[misc]
        if default is None or default.__class__.__name__ == "_MISSING_TYPE":
            default = ""
        kwargs[key] = _coerce(table, key, value, default, f"{where} {key}")
    missing = [n for n, f in known.items() if f.default.__class__.__name__ == "_MISSING_TYPE"
               and f.default_factory.__class__.__name__ == "_MISSING_TYPE" and n not in kwargs]
    if missing:
        raise ConfigError(f"{where}: missing required key {missing[0]!r}")
    return cls(**kwargs)


def from_mapping(data: Mapping[str, Any], *, path: str | None = None) -> Config:
    """Validate a parsed TOML document; every mistake names its key."""
    label = path or "config"
    unknown = set(data) - set(_TABLES) - {"sources", "announce"}
    if unknown:
        raise ConfigError(
            f"{label}: unknown table [{sorted(unknown)[0]}]; known tables are "
            f"{', '.join(sorted([*_TABLES, 'sources', 'announce']))}"
        )
    parts: dict[str, Any] = {
        name: _build(cls, name, data.get(name, {}), f"{label}: [{name}]") for name, cls in _TABLES.items()
    }
    public = parts["http"].public_url
    if public and not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", public):
        raise ConfigError(
            f"{label}: [http] public_url must be an absolute http(s) address such as "
            f"https://papers.example.org/ (no query or fragment); got {public[:80]!r}"
        )
    sources = []
    for i, item in enumerate(_array(data, "sources", label)):
        src = _build(SourceConfig, "sources", item, f"{label}: [[sources]] #{i + 1}")
        if src.kind == "arxiv" and not src.search_query:
            raise ConfigError(f"{label}: [[sources]] {src.name!r}: an arxiv source needs search_query")
        if src.kind != "arxiv" and not src.url:
            raise ConfigError(f"{label}: [[sources]] {src.name!r}: a {src.kind} source needs url")
        if src.kind == "arxiv" and not src.url:
            src = replace(src, url=ARXIV_API)
        sources.append(src)
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"{label}: [[sources]] name {dup!r} is used twice; names must be unique")
    announces = []
    max_age, hooks = _announce_parts(data, label)
    for i, item in enumerate(hooks):
        ann = _build(AnnounceConfig, "announce", item, f"{label}: [[announce]] #{i + 1}")
        if not ann.webhook_url and not ann.webhook_url_env:
            raise ConfigError(
                f"{label}: [[announce]] {ann.name!r}: set webhook_url_env (the environment variable "
                "holding the webhook URL) or webhook_url"
            )
        if ann.target != "all" and not ann.value:
            raise ConfigError(f"{label}: [[announce]] {ann.name!r}: target {ann.target!r} needs value")
        for option in ("include", "exclude"):
            try:
                parse_filters(getattr(ann, option), option)
            except InvalidInputError as exc:
                raise ConfigError(f"{label}: [[announce]] {ann.name!r}: {exc}") from None
        announces.append(ann)
    ops = parts["ops"]
    if ops.channel and ops.webhook_env:
        raise ConfigError(f"{label}: [ops]: set channel or webhook_env, not both")
    if ops.channel < 0:
        raise ConfigError(f"{label}: [ops] channel: expected a Discord channel id, got {ops.channel}")
    return Config(**parts, sources=tuple(sources), announce=tuple(announces), path=path, announce_max_age=max_age)


def _array(data: Mapping[str, Any], name: str, label: str) -> list[Mapping[str, Any]]:
    items = data.get(name, [])
    if not isinstance(items, list):
        raise ConfigError(f"{label}: {name} must be an array of tables written [[{name}]]")
    return items


def _env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """PAPERBOY_<TABLE>_<KEY> overrides one scalar setting, e.g. PAPERBOY_HTTP_PORT=9000."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for name, value in env.items():
        if not name.startswith("PAPERBOY_") or name in ("PAPERBOY_DB", "PAPERBOY_CONFIG"):
            continue
        rest = name[len("PAPERBOY_") :].lower()
        for table, cls in _TABLES.items():
            prefix = table + "_"
            if rest.startswith(prefix):
                key = rest[len(prefix) :]
                known = {f.name: f for f in fields(cls)}
                if key not in known:
                    raise ConfigError(f"environment {name}: [{table}] has no key {key!r}")
                spec = known[key]
                default = spec.default if not callable(spec.default_factory) else spec.default_factory()  # type: ignore[misc]
                # Checked here so that a bad value names the variable it came from.
                merged.setdefault(table, {})[key] = _coerce(
                    table, key, value, default, f"environment {name} sets [{table}] {key}"
                )
                break
    return merged


def load(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    db: str | None = None,
) -> Config:
    """Read the TOML file (if any), apply environment overrides and ``--db``, validate."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    label = None
    if path is not None:
        label = str(path)
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: no such config file; copy config.example.toml to start one") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read: {exc}") from exc
    config = from_mapping(_env_overrides(data, env), path=label)
    db_path = db or env.get("PAPERBOY_DB")
    if db_path:
        config = replace(config, store=replace(config.store, path=db_path))
    token = env.get("DISCORD_TOKEN", "").strip() or None
    webhooks = tuple(
        (ann.name, env.get(ann.webhook_url_env, "").strip()) for ann in config.announce if ann.webhook_url_env
    )
    ops_webhook = env.get(config.ops.webhook_env, "").strip() if config.ops.webhook_env else ""
    return replace(config, discord_token=token, env_webhooks=webhooks, ops_webhook=ops_webhook)


def masked(config: Config) -> dict[str, Any]:
    """The effective configuration as plain data, with every secret masked."""
    out: dict[str, Any] = {}
    for name in _TABLES:
        out[name] = _plain(getattr(config, name))
    out["sources"] = [_plain(s) for s in config.sources]
    out["announce_max_age"] = config.announce_max_age
    for item in out["sources"]:
        # A source URL may carry user info or a token parameter.
        if item.get("url"):
            item["url"] = mask_url(item["url"])
    out["announce"] = []
    for ann in config.announce:
        item = _plain(ann)
        if item.get("webhook_url"):
            item["webhook_url"] = _mask_url(item["webhook_url"])
        out["announce"].append(item)
    out["secrets"] = {"DISCORD_TOKEN": "set (hidden)" if config.discord_token else "unset"}
    if config.ops.webhook_env:
        out["secrets"][config.ops.webhook_env] = "set (hidden)" if config.ops_webhook else "unset"
    env_urls = dict(config.env_webhooks)
    for ann in config.announce:
        if ann.webhook_url_env:
            out["secrets"][ann.webhook_url_env] = "set (hidden)" if env_urls.get(ann.name) else "unset"
    return out


def _plain(obj: object) -> dict[str, Any]:
    return {f.name: (list(v) if isinstance(v := getattr(obj, f.name), tuple) else v) for f in fields(obj)}  # type: ignore[arg-type]


def _mask_url(url: str) -> str:
    # A webhook URL's last path segment is its token.
    head, _, _ = url.rstrip("/").rpartition("/")
    return f"{head}/***" if head else "***"
