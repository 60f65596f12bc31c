"""Updates, not reposts: edit a posted announcement when its paper is published, revised or renamed.

The store marks a posted delivery (a trigger, in the ingest's own transaction)
when its paper gains a DOI, a journal reference, a venue or a new arXiv
version, or its title changes. The announcer then edits that message in place
(the embed shows the new title and links, the first line gains "Published in
..."); when it cannot be edited — the message was deleted, or a webhook send
never told us its id — a short update is posted as a reply under it instead.
A change never posts the paper a second time as a new announcement.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.announce_format import announcement, marker, published_note
from bot.announcer import (
    IN_FLIGHT,
    MessageGone,
    Refused,
    SendError,
    TargetGone,
    in_flight_since,
    look_for,
)
from bot.markdown import escape
from storage.outbox import PendingDelivery

if TYPE_CHECKING:
    from bot.announcer import Announcer, DrainReport, Sender
    from storage.models import Paper

log = logging.getLogger(__name__)


def update_lead(paper: Paper, note: str) -> str:
    """What marks one update of one paper (a later update of the same paper gets another)."""
    digest = hashlib.sha256(f"{paper.title}\n{note}".encode()).hexdigest()[:8]
    return f"update {paper.key} {digest}"


def update_reply(paper: Paper, note: str, sub_id: int) -> dict[str, Any]:
    """The short message posted under an announcement that cannot be edited; its last line is its marker."""
    title = escape(paper.title)
    if paper.url:
        title = f"[{title}]({paper.url})"
    text = f"🔔 Update: **{title}**" + (f" — {note}" if note else " — the title or details changed")
    tail = f"\n-# {update_lead(paper, note)} · {marker(sub_id)}"
    return {"content": text[: 2000 - len(tail)] + tail, "embeds": [], "allowed_mentions": {"parse": []}}


async def apply_update(announcer: Announcer, sender: Sender, row: PendingDelivery, report: DrainReport) -> None:
    d, sub = row.delivery, row.subscription
    store = announcer.store
    outbox = store.outbox
    paper = await store.get_paper(row.paper_key)
    if paper is None:
        await outbox.mark_updated(d.id, "the paper left the library; nothing to edit")
        return
    version_row = await store.db.fetchone("SELECT arxiv_version FROM papers WHERE id = ?", (paper.id,))
    note = published_note(paper, version_row[0] if version_row else None)
    if sub.digest:
        # A digest message lists many papers; it is not rewritten for one of them.
        await outbox.mark_updated(d.id, f"in a digest, not edited: {note}")
        return
    try:
        if d.message_id is None:
            raise MessageGone("the message id of the first post was never learnt")
        await sender.edit(sub, d.message_id, announcement(paper, sub, note=note, base_url=announcer.base_url))
        how = "edited"
    except MessageGone as gone:
        how = await _reply(announcer, sender, row, paper, note)
        if how is None:
            return
        how = f"{how} ({gone})"
    except TargetGone as exc:
        await announcer._pause(sub, str(exc), report, set())
        return
    except SendError as exc:
        log.info("edit of delivery %d not made yet: %s", d.id, exc)
        return
    await outbox.mark_updated(d.id, f"{how}: {note or 'title or details changed'}")
    report.updated += 1
    log.info("announcement of %s for subscription %d %s", paper.key, sub.id, how)


async def _reply(announcer: Announcer, sender: Sender, row: PendingDelivery, paper: Paper, note: str) -> str | None:
    """Post the update under the message, exactly once (in flight, then looked for); None: not yet."""
    d, sub = row.delivery, row.subscription
    outbox = announcer.store.outbox
    lead = update_lead(paper, note)
    began = in_flight_since(await outbox.updated_note(d.id))
    if began is not None:
        seen = await look_for(sender, sub, lead, began)
        if seen.later is not None:
            log.info("update of delivery %d: cannot check yet whether it was posted (%s)", d.id, seen.later)
            return None
        if seen.unverifiable is not None:
            return "replied, unverified (interrupted, and the channel cannot be read)"
        if seen.found is not None:
            return "replied (found after an interrupted send)"
    await outbox.note_update(d.id, IN_FLIGHT + datetime.now(UTC).isoformat())
    nonce = hashlib.sha256(f"update:{d.id}:{lead}".encode()).hexdigest()[:25]
    try:
        await sender.reply(sub, d.message_id, update_reply(paper, note, sub.id), nonce)
    except (TargetGone, Refused) as exc:
        await outbox.note_update(d.id, str(exc))  # not posted
        log.info("update of delivery %d not posted: %s", d.id, exc)
        return None
    except SendError as exc:
        log.info("update of delivery %d not posted yet: %s", d.id, exc)
        return None
    return "replied"
