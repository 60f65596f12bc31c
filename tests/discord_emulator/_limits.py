"""Discord's payload limits and error bodies: what makes Discord answer 400 code 50035.

discord.py does not check embed sizes, content length, component counts or the
25-choice autocomplete cap, so a bot only learns about them from Discord.
Errors come back in Discord's nested ``errors`` form
(``{"embeds": {"0": {"description": {"_errors": [...]}}}}``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger(__name__)

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
EMBED_TOTAL_MAX = 6000
ACTION_ROWS_MAX = 5
ROW_COMPONENTS_MAX = 5
BUTTON_LABEL_MAX = 80
CUSTOM_ID_MAX = 100
CHOICES_MAX = 25
CHOICE_NAME_MAX = 100
CHOICE_VALUE_MAX = 100
COMMAND_NAME = re.compile(r"^[-_'\w\u0900-\u097F\u0E00-\u0E7F]{1,32}$")
COMMAND_DESCRIPTION_MAX = 100
COMMANDS_MAX = 100
OPTIONS_MAX = 25


class DiscordError(Exception):
    """An error answer: HTTP status, Discord JSON error code, message and optional errors tree."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


class FormErrors:
    """Collects field errors into Discord's nested tree."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def max_length(self, path: tuple[str | int, ...], limit: int) -> None:
        self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def required(self, path: tuple[str | int, ...]) -> None:
        self.add(path, "BASE_TYPE_REQUIRED", "This field is required")

    def raise_if_any(self) -> None:
        if self.tree:
            raise DiscordError(400, 50035, "Invalid Form Body", self.tree)


def _text_len(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(str(value)) if value is not None else 0


def check_embed(errors: FormErrors, embed: Any, path: tuple[str | int, ...]) -> int:
    """Check one embed's field limits; return its character total (Discord's 6000 rule)."""
    if not isinstance(embed, dict):
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return 0
    total = 0
    for key, limit in (("title", EMBED_TITLE_MAX), ("description", EMBED_DESCRIPTION_MAX)):
        n = _text_len(embed.get(key))
        total += n
        if n > limit:
            errors.max_length((*path, key), limit)
    footer = embed.get("footer") or {}
    n = _text_len(footer.get("text"))
    total += n
    if n > EMBED_FOOTER_MAX:
        errors.max_length((*path, "footer", "text"), EMBED_FOOTER_MAX)
    author = embed.get("author") or {}
    n = _text_len(author.get("name"))
    total += n
    if n > EMBED_AUTHOR_MAX:
        errors.max_length((*path, "author", "name"), EMBED_AUTHOR_MAX)
    fields = embed.get("fields") or []
    if len(fields) > EMBED_FIELDS_MAX:
        errors.max_length((*path, "fields"), EMBED_FIELDS_MAX)
    for i, fld in enumerate(fields):
        for key, limit in (("name", EMBED_FIELD_NAME_MAX), ("value", EMBED_FIELD_VALUE_MAX)):
            value = fld.get(key)
            n = _text_len(value)
            total += n
            if value is None or (isinstance(value, str) and not value.strip()):
                errors.required((*path, "fields", i, key))
            elif n > limit:
                errors.max_length((*path, "fields", i, key), limit)
    return total


def check_components(errors: FormErrors, rows: Any, path: tuple[str | int, ...]) -> None:
    if not isinstance(rows, list):
        errors.add(path, "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        return
    if len(rows) > ACTION_ROWS_MAX:
        errors.max_length(path, ACTION_ROWS_MAX)
    seen: set[str] = set()
    for r, row in enumerate(rows):
        if row.get("type") != 1:
            # Components v2 (flag 32768) allows other top-level types; only rows are checked here.
            continue
        children = row.get("components") or []
        if not children:
            errors.add((*path, r, "components"), "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length.")
        if len(children) > ROW_COMPONENTS_MAX:
            errors.max_length((*path, r, "components"), ROW_COMPONENTS_MAX)
        for c, comp in enumerate(children):
            here = (*path, r, "components", c)
            custom_id = comp.get("custom_id")
            if comp.get("type") == 2:
                if _text_len(comp.get("label")) > BUTTON_LABEL_MAX:
                    errors.max_length((*here, "label"), BUTTON_LABEL_MAX)
                is_link = comp.get("style") == 5
                if is_link and not comp.get("url"):
                    errors.required((*here, "url"))
                if not is_link and comp.get("style") != 6 and not custom_id:
                    errors.required((*here, "custom_id"))
            if custom_id is not None:
                if _text_len(custom_id) > CUSTOM_ID_MAX:
                    errors.max_length((*here, "custom_id"), CUSTOM_ID_MAX)
                if custom_id in seen:
                    errors.add(
                        (*here, "custom_id"),
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                        "Component custom id cannot be duplicated",
                    )
                seen.add(custom_id)


def check_message(
    payload: dict[str, Any],
    *,
    path: tuple[str | int, ...] = (),
    require_body: bool = True,
    has_files: bool = False,
) -> None:
    """Raise DiscordError 400/50035 (or 50006 for an empty message) if Discord would refuse it."""
    errors = FormErrors()
    content = payload.get("content")
    if content is not None and _text_len(content) > CONTENT_MAX:
        errors.max_length((*path, "content"), CONTENT_MAX)
    embeds = payload.get("embeds")
    if embeds is not None:
        if not isinstance(embeds, list):
            errors.add((*path, "embeds"), "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        else:
            if len(embeds) > EMBEDS_MAX:
                errors.max_length((*path, "embeds"), EMBEDS_MAX)
            total = sum(check_embed(errors, e, (*path, "embeds", i)) for i, e in enumerate(embeds))
            if total > EMBED_TOTAL_MAX:
                errors.add(
                    (*path, "embeds"),
                    "MAX_EMBED_SIZE_EXCEEDED",
                    f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}",
                )
    if payload.get("components") is not None:
        check_components(errors, payload["components"], (*path, "components"))
    errors.raise_if_any()
    if require_body and not (
        content
        or embeds
        or payload.get("components")
        or payload.get("sticker_ids")
        or payload.get("poll")
        or has_files
    ):
        raise DiscordError(400, 50006, "Cannot send an empty message")


def check_choices(choices: Any, path: tuple[str | int, ...] = ("data", "choices")) -> None:
    errors = FormErrors()
    if not isinstance(choices, list):
        errors.add(path, "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        errors.raise_if_any()
    if len(choices) > CHOICES_MAX:
        errors.max_length(path, CHOICES_MAX)
    for i, choice in enumerate(choices):
        name = choice.get("name")
        if not name:
            errors.required((*path, i, "name"))
        elif _text_len(name) > CHOICE_NAME_MAX:
            errors.max_length((*path, i, "name"), CHOICE_NAME_MAX)
        value = choice.get("value")
        if value is None:
            errors.required((*path, i, "value"))
        elif isinstance(value, str) and len(value) > CHOICE_VALUE_MAX:
            errors.max_length((*path, i, "value"), CHOICE_VALUE_MAX)
    errors.raise_if_any()


def _check_options(errors: FormErrors, options: Any, path: tuple[str | int, ...]) -> None:
    if len(options) > OPTIONS_MAX:
        errors.max_length(path, OPTIONS_MAX)
    names: set[str] = set()
    for i, opt in enumerate(options):
        here = (*path, i)
        name = opt.get("name", "")
        if not COMMAND_NAME.match(name) or name != name.lower():
            errors.add((*here, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if name in names:
            errors.add((*here, "name"), "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                       "Option names must be unique")
        names.add(name)
        if not 1 <= _text_len(opt.get("description")) <= COMMAND_DESCRIPTION_MAX:
            errors.add((*here, "description"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if len(opt.get("choices") or []) > CHOICES_MAX:
            errors.max_length((*here, "choices"), CHOICES_MAX)
        if opt.get("type") in (1, 2):
            _check_options(errors, opt.get("options") or [], (*here, "options"))


def check_commands(commands: Any) -> None:
    """Validate a bulk-overwrite body the way Discord does before storing it."""
    errors = FormErrors()
    if not isinstance(commands, list):
        errors.add((), "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        errors.raise_if_any()
    if len(commands) > COMMANDS_MAX:
        errors.max_length((), COMMANDS_MAX)
    seen: set[tuple[int, str]] = set()
    for i, cmd in enumerate(commands):
        name = cmd.get("name", "")
        ctype = cmd.get("type", 1)
        if not COMMAND_NAME.match(name) or (ctype == 1 and name != name.lower()):
            errors.add((i, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if (ctype, name) in seen:
            errors.add((i, "name"), "APPLICATION_COMMANDS_DUPLICATE_NAME",
                       f"Application command names must be unique ({name})")
        seen.add((ctype, name))
        if ctype == 1 and not 1 <= _text_len(cmd.get("description")) <= COMMAND_DESCRIPTION_MAX:
            errors.add((i, "description"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        _check_options(errors, cmd.get("options") or [], (i, "options"))
    errors.raise_if_any()
