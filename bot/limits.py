"""Discord's message limits, and the one function that makes any payload fit them."""

from __future__ import annotations

import logging
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
BUTTON_LABEL_MAX = 80
CUSTOM_ID_MAX = 100
CHOICES_MAX = 25
CHOICE_NAME_MAX = 100
CHOICE_VALUE_MAX = 100
URL_MAX = 2048
ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in an ellipsis when cut.

    Never leaves a dangling backslash (which would escape the ellipsis) or half a
    surrogate pair, so escaped markdown stays well-formed.
    """
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = text[: limit - 1].rstrip()
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2:
        cut = cut[:-1]
    return cut + ELLIPSIS


def embed_size(embed: dict[str, Any]) -> int:
    """The characters Discord counts towards the 6,000 shared by a message's embeds."""
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for fld in embed.get("fields") or []:
        total += len(fld.get("name") or "") + len(fld.get("value") or "")
    return total


def _fit_embed(embed: dict[str, Any]) -> dict[str, Any]:
    out = dict(embed)
    if out.get("title") is not None:
        out["title"] = clip(out["title"], EMBED_TITLE_MAX)
    if out.get("description") is not None:
        out["description"] = clip(out["description"], EMBED_DESCRIPTION_MAX)
    if out.get("url") and len(out["url"]) > URL_MAX:
        del out["url"]
    if out.get("footer"):
        out["footer"] = {**out["footer"], "text": clip(out["footer"].get("text") or "", EMBED_FOOTER_MAX)}
    if out.get("author"):
        out["author"] = {**out["author"], "name": clip(out["author"].get("name") or "", EMBED_AUTHOR_MAX)}
    fields = []
    for fld in (out.get("fields") or [])[:EMBED_FIELDS_MAX]:
        name = clip(fld.get("name") or "", EMBED_FIELD_NAME_MAX).strip() or "\u200b"
        value = clip(fld.get("value") or "", EMBED_FIELD_VALUE_MAX).strip() or "\u200b"
        fields.append({**fld, "name": name, "value": value})
    if "fields" in out:
        out["fields"] = fields
    return out


def _slots(embed: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Every (holder, key) of an embed whose text counts towards the 6,000."""
    slots: list[tuple[dict[str, Any], str]] = []
    for key in ("title", "description"):
        if embed.get(key):
            slots.append((embed, key))
    for key, inner in (("footer", "text"), ("author", "name")):
        if (embed.get(key) or {}).get(inner):
            slots.append((embed[key], inner))
    for fld in embed.get("fields") or []:
        slots.extend([(fld, "name"), (fld, "value")])
    return slots


def _shrink_to(embeds: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """Cut the longest texts first, all to one common length, until the embeds fit ``budget``."""
    embeds = [
        {**e, **({"fields": [dict(f) for f in e["fields"]]} if e.get("fields") else {}),
         **({"footer": dict(e["footer"])} if e.get("footer") else {}),
         **({"author": dict(e["author"])} if e.get("author") else {})}
        for e in embeds
    ]
    slots = [slot for e in embeds for slot in _slots(e)]
    lengths = [len(holder[key]) for holder, key in slots]
    # The largest common cap that fits: texts shorter than it keep every character.
    low, high = 1, max(lengths, default=1)
    while low < high:
        mid = (low + high + 1) // 2
        if sum(min(n, mid) for n in lengths) <= budget:
            low = mid
        else:
            high = mid - 1
    for holder, key in slots:
        holder[key] = clip(holder[key], low) or ELLIPSIS
    return embeds


def fit_message(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of a message payload that Discord accepts whatever the data in it."""
    out = dict(payload)
    if out.get("content"):
        out["content"] = clip(out["content"], CONTENT_MAX)
    embeds = [_fit_embed(e) for e in (out.get("embeds") or [])[:EMBEDS_MAX]]
    if sum(embed_size(e) for e in embeds) > EMBED_TOTAL_MAX:
        log.debug("message embeds over %d characters; shortening", EMBED_TOTAL_MAX)
        embeds = _shrink_to(embeds, EMBED_TOTAL_MAX)
    if "embeds" in out:
        out["embeds"] = embeds
    return out


def fit_choices(choices: list[tuple[str, str | int]]) -> list[dict[str, str | int]]:
    """Autocomplete choices Discord accepts: at most 25, names 1-100, string values 1-100 characters."""
    out: list[dict[str, str | int]] = []
    seen: set[str | int] = set()
    for name, value in choices:
        if value in seen or (isinstance(value, str) and not 0 < len(value) <= CHOICE_VALUE_MAX):
            continue
        seen.add(value)
        out.append({"name": clip(" ".join(name.split()) or str(value), CHOICE_NAME_MAX), "value": value})
        if len(out) == CHOICES_MAX:
            break
    return out
