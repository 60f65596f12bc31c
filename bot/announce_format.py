"""What an announcement looks like, and the footer marker that finds it again after a crash.

Every announcement's embed footer ends ``key <paper key> · … · sub #<subscription id>``
(an update reply or a digest carries the same marker on its last line), so an
interrupted send can be looked for among the channel's messages (bot.announcer).
"""

from __future__ import annotations

import hashlib
from typing import Any

from bot.answers import paper_card
from bot.markdown import escape
from bot.model import Answer
from bot.render import render
from storage.models import Paper, Subscription
from storage.text import author_key


def marker(sub_id: int) -> str:
    """What every announcement's footer ends with, after ``key <paper key>``: found again after a crash."""
    return f"sub #{sub_id}"


def paper_lead(key: str) -> str:
    """How an announcement's footer starts (a digest's starts ``digest #<id>``)."""
    return f"key {key}"


def footer_matches(footer: str, lead: str, sub_id: int) -> bool:
    return footer.startswith(f"{lead} ·") and footer.endswith(" · " + marker(sub_id))


def message_marked(message: dict[str, Any], lead: str, sub_id: int) -> bool:
    """Whether an embed footer, or the content's last line (small text, ``-# ...``), carries the marker."""
    for embed in message.get("embeds") or []:
        text = ((embed.get("footer") or {}).get("text")) or ""
        if footer_matches(text, lead, sub_id):
            return True
    last = (message.get("content") or "").rsplit("\n", 1)[-1]
    return last.startswith("-# ") and footer_matches(last[3:], lead, sub_id)


def published_note(paper: Paper, version: int | None = None) -> str:
    """The line an announcement gains once its paper is published, revised or renamed ('' if none)."""
    parts = []
    if paper.journal_ref:
        parts.append(f"📰 Published in {escape(paper.journal_ref.strip())}")
    elif paper.comment and _venue_like(paper.comment):
        parts.append(f"📰 Published in {escape(paper.comment.strip())}")
    elif paper.doi:
        parts.append(f"📰 Published: https://doi.org/{paper.doi}")
    if version and version > 1:
        parts.append(f"🆕 arXiv v{version}")
    return " · ".join(parts)


def _venue_like(comment: str) -> bool:
    words = comment.lower()
    return any(w in words for w in ("accepted", "published", "to appear", "proceedings", "conference", "journal"))


def announcement(
    paper: Paper, sub: Subscription, *, note: str = "", base_url: str | None = None
) -> dict[str, Any]:
    """The message a subscription gets for one new paper (``note``: the published-in line, on edits)."""
    if sub.target == "author" and sub.value:
        name = next((a for a in (*paper.authors, *paper.inferred_authors) if author_key(a) == sub.value), sub.value)
        lead = f"📄 New paper by **{escape(name)}**"
    elif sub.target == "topic" and sub.value:
        lead = f"📄 New paper on **{escape(sub.value)}**"
    elif sub.target == "category" and sub.value:
        lead = f"📄 New **{escape(sub.value)}** paper"
    else:
        lead = "📄 New paper"
    if note:
        lead = f"{lead}\n{note}"
    payload = render(Answer.single(paper_card(paper, abstract_limit=1200, base_url=base_url), content=lead))
    embed = payload["embeds"][0]
    embed["footer"] = {"text": f"{embed['footer']['text']} · {marker(sub.id)}"}
    return payload


def digest_nonce(sub_id: int, digest_id: int) -> str:
    return hashlib.sha256(f"digest:{sub_id}:{digest_id}".encode()).hexdigest()[:25]
