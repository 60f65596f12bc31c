"""Digests that keep books: per subscription, daily or weekly, each holding exactly the papers since the last.

``subscriptions.digest`` is days per digest (0 = post papers as they arrive,
1 = daily, 7 = weekly). The digest job runs on ``[schedule] digest_cron``
(daily by default); a subscription is due when its last digest went out at
least its period ago (less an hour, so a 09:00 post does not creep later), and
a weekly one waits for ``[schedule] digest_weekday`` unless it is a day late.
What each digest holds is fixed in storage.digests before it is sent; a digest
left open by a crash is looked for (its footer marker) and resent only if it
was not posted. More papers than fit one message go out as several parts.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.announce_format import digest_nonce, marker
from bot.announcer import (
    IN_FLIGHT,
    UNVERIFIED,
    OutcomeUnknown,
    SendError,
    TargetGone,
    in_flight_since,
    look_for,
)
from bot.answers import paper_line
from storage.digests import Digest, Digests
from storage.models import Paper, Subscription

if TYPE_CHECKING:
    from bot.announcer import Announcer

log = logging.getLogger(__name__)

PER_DIGEST = 20  # papers per digest message; more owed go out as further parts at once
SLACK = timedelta(hours=1)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def is_due(days: int, last: datetime | None, now: datetime, *, weekday: str = "mon", tz: str = "UTC") -> bool:
    """Whether a subscription with ``days`` per digest, last closed at ``last``, posts at ``now``."""
    if days <= 0:
        return False
    if last is None:
        return True
    elapsed = now - last
    if days == 7 and weekday in WEEKDAYS:
        today = now.astimezone(ZoneInfo(tz)).weekday()
        on_day = today == WEEKDAYS.index(weekday) and elapsed >= timedelta(days=1) - SLACK
        return on_day or elapsed >= timedelta(days=8) - SLACK
    return elapsed >= timedelta(days=days) - SLACK


def cadence(days: int) -> str:
    return {1: "Daily", 7: "Weekly"}.get(days, f"Every {days} days")


def digest_payload(
    sub: Subscription, digest: Digest, papers: list[Paper], since: datetime | None, *, base_url: str | None = None
) -> dict[str, Any]:
    """One message: a line per paper, in up to two embeds; the footer carries the digest's marker."""
    n = len(papers)
    title = f"{n} new paper{'s' if n != 1 else ''}" + (f" since {since.date().isoformat()}" if since else "")
    embeds: list[dict[str, Any]] = []
    chunk: list[str] = []
    for rank, paper in enumerate(papers, 1):
        line = paper_line(paper, rank, base_url=base_url)
        if sum(len(x) + 2 for x in chunk) + len(line) > 3900:
            embeds.append({"description": "\n\n".join(chunk)})
            chunk = []
        chunk.append(line)
    if chunk:
        embeds.append({"description": "\n\n".join(chunk)})
    embeds[0]["title"] = title
    embeds[-1]["footer"] = {"text": f"digest #{digest.id} · {n} paper{'s' if n != 1 else ''} · {marker(sub.id)}"}
    return {
        "content": f"🗞️ {cadence(sub.digest)} digest",
        "embeds": embeds,
        "allowed_mentions": {"parse": []},
    }


async def post_due(announcer: Announcer, *, force: bool = False, weekday: str = "mon", tz: str = "UTC") -> int:
    """Finish digests a crash left open, then post every due one; returns messages posted."""
    books = Digests(announcer.store.db)
    posted = 0
    blocked: set[int] = set()
    for digest in await books.open_ones():
        ok = await _send(announcer, books, digest)
        posted += ok
        if not ok:
            blocked.add(digest.subscription_id)
    now = announcer.clock()
    for sub in await announcer.store.outbox.subscriptions():
        if not sub.digest or sub.held or sub.id in blocked or announcer._sender(sub) is None:
            continue
        last = await books.last_closed(sub.id)
        if not force and not is_due(sub.digest, last.created_at if last else None, now, weekday=weekday, tz=tz):
            continue
        while True:
            digest = await books.start(sub.id, limit=PER_DIGEST, at=now)
            if digest.status == "empty":
                break
            ok = await _send(announcer, books, digest, since=last.created_at if last else sub.created_at)
            posted += ok
            if not ok or len(digest.paper_keys) < PER_DIGEST:
                break
    return posted


async def _send(announcer: Announcer, books: Digests, digest: Digest, *, since: datetime | None = None) -> int:
    store = announcer.store
    sub = await store.outbox.get(digest.subscription_id)
    sender = announcer._sender(sub) if sub is not None else None
    if sub is None or sender is None:
        return 0
    lead = f"digest #{digest.id}"
    began = in_flight_since(digest.last_error)
    if began is not None:
        seen = await look_for(sender, sub, lead, began)
        if seen.later is not None:
            log.info("digest %d: cannot check yet whether it was posted (%s)", digest.id, seen.later)
            return 0
        if seen.found is not None or seen.unverifiable is not None:
            await books.mark_sent(digest.id, seen.found, None if seen.found else f"{UNVERIFIED} ({seen.unverifiable})")
            log.info("digest %d was posted before an interruption; recorded, not resent", digest.id)
            return 0
    papers = [p for p in [await store.get_paper(k) for k in digest.paper_keys] if p is not None]
    if not papers:
        await books.mark_sent(digest.id, None, "its papers left the library")
        return 0
    payload = digest_payload(sub, digest, papers, since, base_url=announcer.base_url)
    await books.note(digest.id, IN_FLIGHT + datetime.now(UTC).isoformat())
    try:
        message_id = await sender.send(sub, payload, digest_nonce(sub.id, digest.id))
    except TargetGone as exc:
        await books.note(digest.id, str(exc))
        await announcer._pause(sub, str(exc), announcer.last, set())
        return 0
    except SendError as exc:
        if isinstance(exc, OutcomeUnknown):
            return await _maybe_posted(books, digest, exc)
        await books.note(digest.id, str(exc))
        log.warning("digest %d for subscription %d not posted: %s", digest.id, sub.id, exc)
        return 0
    except Exception as exc:
        return await _maybe_posted(books, digest, exc)
    await books.mark_sent(digest.id, message_id)
    log.info("digest %d posted for subscription %d: %d papers", digest.id, sub.id, len(papers))
    return 1


async def _maybe_posted(books: Digests, digest: Digest, exc: Exception) -> int:
    """The send went out and no answer came: it stays in flight and is looked for before any resend."""
    await books.note(digest.id, f"{IN_FLIGHT}{datetime.now(UTC).isoformat()} ({exc.__class__.__name__})")
    log.warning("digest %d: outcome unknown (%s)", digest.id, exc)
    return 0
