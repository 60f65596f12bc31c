"""What a subscription's own options change in an announcement: its role ping, a resume's summary line.

Kept apart from the announcer's delivery loop so that loop stays about
exactly-once sending; the announcer calls ``outgoing`` for each owed row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storage.models import Paper, Subscription
from storage.outbox import PendingDelivery

NO_MENTIONS: dict[str, Any] = {"parse": []}


def allowed_mentions(sub: Subscription) -> dict[str, Any]:
    """Exactly the subscription's role, never @everyone, @here or users; nothing without a role."""
    if sub.mention_role_id:
        return {"parse": [], "roles": [str(sub.mention_role_id)]}
    return dict(NO_MENTIONS)


def with_mention(payload: dict[str, Any], sub: Subscription, *, ping: bool = True) -> dict[str, Any]:
    """The payload with the role named first in its content; ``ping=False`` shows it without pinging."""
    out = dict(payload)
    if sub.mention_role_id:
        out["content"] = f"<@&{sub.mention_role_id}> {payload.get('content') or ''}".rstrip()
    out["allowed_mentions"] = allowed_mentions(sub) if ping else dict(NO_MENTIONS)
    return out


def summary_payload(note: str) -> dict[str, Any]:
    """A resume's one line for the held papers not posted one by one; it pings nobody."""
    return {"content": note, "embeds": [], "allowed_mentions": dict(NO_MENTIONS)}


def outgoing(
    row: PendingDelivery, paper: Paper, announcement: Callable[[Paper, Subscription], dict[str, Any]]
) -> dict[str, Any]:
    """The message an owed row becomes."""
    if row.note:
        return summary_payload(row.note)
    return with_mention(announcement(paper, row.subscription), row.subscription)
