"""`paperboy ask`: read a slash-command line, answer it as the bot would, return the payload."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot import answers, citing
from bot.model import Answer
from bot.render import render
from storage.errors import InvalidInputError, PaperboyError
from storage.store import Store

log = logging.getLogger(__name__)

Handler = Callable[[Store, dict[str, str], str], Awaitable[Answer]]

GUILD_ONLY = (
    "{command} works only in a Discord server, run by someone with Manage Server; "
    "there is no server here, so nothing was changed."
)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    path: tuple[str, ...]
    options: tuple[str, ...]
    handler: Handler | None  # None: guild-only, refused outside a server


def _int(options: dict[str, str], name: str, default: int) -> int:
    raw = options.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInputError(f"{name}: expects a whole number, got {raw!r}") from None


SPECS: tuple[CommandSpec, ...] = (
    CommandSpec(("paper", "search"), ("query",),
                lambda s, o, b: answers.paper_search(s, o.get("query", ""), base_url=b)),
    CommandSpec(("paper", "show"), ("key",), lambda s, o, b: answers.paper_show(s, o.get("key", ""), base_url=b)),
    CommandSpec(("paper", "latest"), ("count",),
                lambda s, o, b: answers.paper_latest(s, _int(o, "count", 5), base_url=b)),
    CommandSpec(("paper", "random"), (), lambda s, o, b: answers.paper_random(s, base_url=b)),
    CommandSpec(("paper", "cite"), ("key",), lambda s, o, b: citing.cite_answer(s, o.get("key", ""), base_url=b)),
    CommandSpec(("author",), ("name",), lambda s, o, b: answers.author(s, o.get("name", ""), base_url=b)),
    CommandSpec(("topic",), ("name",), lambda s, o, b: answers.topic(s, o.get("name", ""), base_url=b)),
    CommandSpec(("topics",), (), lambda s, o, b: answers.topics(s, base_url=b)),
    CommandSpec(("stats",), (), lambda s, o, b: answers.stats(s, base_url=b)),
    CommandSpec(("feed",), (), lambda s, o, b: answers.feed(s, base_url=b)),
    CommandSpec(("subscribe",), ("target", "value", "channel", "backfill", "digest", "include", "exclude", "mention"),
                None),
    CommandSpec(("unsubscribe",), ("subscription",), None),
    # Read-only at the terminal: every subscription (or one channel's), and /why across all of them.
    CommandSpec(("subscriptions",), ("channel",), lambda s, o, b: _subscriptions(s, o)),
    CommandSpec(("subscription", "pause"), ("subscription",), None),
    CommandSpec(("subscription", "resume"), ("subscription",), None),
    CommandSpec(("subscription", "test"), ("subscription",), None),
    CommandSpec(("subscription", "edit"),
                ("subscription", "include", "exclude", "mention", "clear_mention", "digest"), None),
    CommandSpec(("why",), ("paper", "channel"), lambda s, o, b: _why(s, o)),
)


def _channel(options: dict[str, str]) -> int | None:
    raw = options.get("channel", "").strip().removeprefix("<#").removesuffix(">")
    return _int({"channel": raw}, "channel", 0) or None if raw else None


async def _subscriptions(store: Store, options: dict[str, str]) -> Answer:
    from bot import admin

    return await admin.subscriptions(store, guild_id=None, channel_id=_channel(options))


async def _why(store: Store, options: dict[str, str]) -> Answer:
    from bot import why

    return await why.why(store, options.get("paper", ""), channel_id=_channel(options),
                         max_age=store.announce_max_age)


def parse(command_line: str) -> tuple[CommandSpec, dict[str, str]]:
    """``/paper search query:domain adaptation`` -> (its spec, {"query": "domain adaptation"})."""
    line = command_line.strip()
    if not line.startswith("/"):
        line = "/" + line
    words = line[1:].split()
    spec = None
    for candidate in sorted(SPECS, key=lambda s: -len(s.path)):
        if tuple(w.lower() for w in words[: len(candidate.path)]) == candidate.path:
            spec = candidate
            break
    known = sorted({"/" + " ".join(s.path) for s in SPECS})
    if spec is None:
        raise InvalidInputError(
            f"unknown command {command_line.strip()!r}; commands: {', '.join(known)}"
        )
    # Drop the command words, keep the rest verbatim (values may hold any spacing).
    rest = line[1:].lstrip()
    for _ in spec.path:
        rest = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
    options: dict[str, str] = {}
    if rest.strip():
        if not spec.options:
            raise InvalidInputError(f"/{' '.join(spec.path)} takes no options; got {rest.strip()!r}")
        names = "|".join(re.escape(o) for o in spec.options)
        marks = list(re.finditer(rf"(?:^|\s)({names}):", rest))
        if not marks or rest[: marks[0].start()].strip():
            wanted = ", ".join(f"{o}:" for o in spec.options)
            raise InvalidInputError(
                f"/{' '.join(spec.path)}: write options as name:value ({wanted}); could not read {rest.strip()!r}"
            )
        for i, mark in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(rest)
            options[mark.group(1)] = rest[mark.end() : end].strip()
    return spec, options


async def ask_answer(store: Store, command_line: str, *, base_url: str) -> Answer:
    spec, options = parse(command_line)
    if spec.handler is None:
        return Answer.error(GUILD_ONLY.format(command="/" + " ".join(spec.path)))
    try:
        return await spec.handler(store, options, base_url)
    except PaperboyError as exc:
        return Answer.error(str(exc))


async def ask_payload(store: Store, command_line: str, *, base_url: str) -> dict[str, Any]:
    """Exactly the message the bot would send for this command line (first page)."""
    return render(await ask_answer(store, command_line, base_url=base_url))
