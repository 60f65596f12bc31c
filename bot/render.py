"""Answers to Discord message JSON (embeds, page buttons, no pings) and that JSON to terminal text."""

from __future__ import annotations

from typing import Any

from bot.limits import fit_message
from bot.model import Answer, Card, Page

EPHEMERAL = 1 << 6
NO_MENTIONS: dict[str, list[str]] = {"parse": []}
PREV_ID = "paperboy:page:prev"
NEXT_ID = "paperboy:page:next"
PAGE_ID = "paperboy:page:at"
SECONDARY = 2


def card_embed(card: Card) -> dict[str, Any]:
    """One card as a Discord embed dict (the keys discord.py's Embed.to_dict would write)."""
    embed: dict[str, Any] = {"type": "rich"}
    if card.title:
        embed["title"] = card.title
    if card.url:
        embed["url"] = card.url
    if card.description:
        embed["description"] = card.description
    if card.color is not None:
        embed["color"] = card.color
    if card.fields:
        embed["fields"] = [{"name": f.name, "value": f.value, "inline": f.inline} for f in card.fields]
    if card.footer:
        embed["footer"] = {"text": card.footer}
    return embed


def page_buttons(page: int, pages: int, *, disabled: bool = False) -> list[dict[str, Any]]:
    """The action row under a paged answer: previous, "page i / n" and next."""
    if pages <= 1:
        return []

    def button(custom_id: str, label: str, off: bool) -> dict[str, Any]:
        return {"type": 2, "style": SECONDARY, "disabled": off, "label": label, "custom_id": custom_id}

    return [{
        "type": 1,
        "components": [
            button(PREV_ID, "◀ Previous", disabled or page <= 0),
            button(PAGE_ID, f"{page + 1} / {pages}", True),
            button(NEXT_ID, "Next ▶", disabled or page >= pages - 1),
        ],
    }]


def render(answer: Answer, page: int = 0, *, disabled: bool = False) -> dict[str, Any]:
    """The message Discord gets for ``answer`` at ``page``, cut to fit every limit."""
    page = max(0, min(page, len(answer.pages) - 1))
    shown: Page = answer.pages[page]
    payload = {
        "content": shown.content,
        "embeds": [card_embed(c) for c in shown.cards],
        "components": page_buttons(page, len(answer.pages), disabled=disabled),
        "allowed_mentions": dict(NO_MENTIONS),
        "flags": EPHEMERAL if answer.ephemeral else 0,
    }
    return fit_message(payload)


def payload_text(payload: dict[str, Any]) -> str:
    """A message payload as plain text, in the order Discord shows it."""
    out: list[str] = []
    if payload.get("flags", 0) & EPHEMERAL:
        out.append("(only you can see this)")
    if payload.get("content"):
        out.append(payload["content"])
    for embed in payload.get("embeds") or []:
        block: list[str] = []
        if embed.get("title"):
            block.append(f"== {embed['title']} ==")
        if embed.get("url"):
            block.append(embed["url"])
        if embed.get("description"):
            block.append(embed["description"])
        for fld in embed.get("fields") or []:
            block.append(f"{fld['name']}: {fld['value']}")
        if embed.get("footer"):
            block.append(f"-- {embed['footer']['text']}")
        out.append("\n".join(block))
    labels = [
        f"[{c.get('label', '')}]"
        for row in payload.get("components") or []
        for c in row.get("components") or []
    ]
    if labels:
        out.append(" ".join(labels))
    return "\n\n".join(out)
