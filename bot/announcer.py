"""The announcer: drains the outbox to Discord channels and webhooks, exactly once per paper.

Ingest writes one delivery row per (subscription, paper) in the same
transaction that stores the paper, so nothing owed is ever lost; this module
only decides how each row ends:

* sent: the message id is recorded (``mark_sent``);
* retried later with exponential back-off: rate limits (429), Discord's 5xx,
  timeouts and dropped connections (``mark_retry``);
* the subscription paused, with the reason shown in /subscriptions: the
  channel is gone (404) or the bot may not post there (403), or the webhook
  was deleted (``pause``) — instead of retrying forever;
* failed: Discord refused the payload itself (other 4xx) (``mark_failed``).

Channel messages carry the delivery's deterministic nonce with
``enforce_nonce``, so a resend after a crash or an ambiguous error returns the
earlier message instead of posting a second one.

Webhook executes have no nonce, so the crash window is handled by recording
before and after. Before the POST the row is marked "in flight" (a committed
write); after it, sent. A row found still in flight by a later drain means the
process died (or was cancelled) mid-send: Discord may or may not have posted
it, and nothing can tell us which, because a webhook token cannot read the
channel. We choose at-most-once there: such a row is marked failed with that
explanation rather than resent, because a doubled announcement is visible to
everyone in the channel while this window is a fraction of a second per
message. The same holds for a webhook request that times out or loses its
connection after it was sent. Every answer Discord actually gave (429, 5xx)
and every connection that never opened is retried, since then we know nothing
was posted.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.announce_options import outgoing
from bot.answers import paper_card, paper_pages
from bot.markdown import escape
from bot.model import Answer, Page
from bot.render import render
from storage.models import Paper, Subscription
from storage.outbox import PendingDelivery
from storage.store import Store
from storage.text import author_key

log = logging.getLogger(__name__)

IN_FLIGHT = "in flight: "
IDLE_WAIT = 10.0  # longest a shutdown waits for the message being sent to be recorded
UNKNOWN_OUTCOME = (
    "outcome unknown: the webhook send was interrupted after the request went out; it may or may not "
    "have been posted, and webhooks cannot be checked, so it is not resent (no duplicates)"
)


class SendError(Exception):
    """A send that did not post; ``str()`` says why in words an admin can act on."""


class RetryLater(SendError):
    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


class TargetGone(SendError):
    """The channel or webhook is gone or forbidden: pause the subscription."""


class Refused(SendError):
    """Discord refused this payload; retrying the same body cannot help."""


class Sender(Protocol):
    """Posts one rendered message to a subscription's target and returns the message id."""

    def handles(self, sub: Subscription) -> bool: ...

    async def send(self, sub: Subscription, payload: dict[str, Any], nonce: str) -> int | None: ...

    @property
    def records_in_flight(self) -> bool:
        """True when resends are not deduplicated (webhooks): mark rows in flight before sending."""
        ...


@dataclass(slots=True)
class DrainReport:
    sent: int = 0
    retried: int = 0
    paused: list[int] = field(default_factory=list)
    failed: int = 0


def announcement(paper: Paper, sub: Subscription) -> dict[str, Any]:
    """The message a subscription gets for one new paper."""
    if sub.target == "author" and sub.value:
        name = next((a for a in (*paper.authors, *paper.inferred_authors) if author_key(a) == sub.value), sub.value)
        lead = f"📄 New paper by **{escape(name)}**"
    elif sub.target == "topic" and sub.value:
        lead = f"📄 New paper on **{escape(sub.value)}**"
    elif sub.target == "category" and sub.value:
        lead = f"📄 New **{escape(sub.value)}** paper"
    else:
        lead = "📄 New paper"
    return render(Answer.single(paper_card(paper, abstract_limit=1200), content=lead))


def digest_nonce(sub_id: int, week: str) -> str:
    return hashlib.sha256(f"digest:{sub_id}:{week}".encode()).hexdigest()[:25]


class Announcer:
    """Drains the outbox through its senders; one drain at a time per announcer."""

    def __init__(
        self,
        store: Store,
        senders: list[Sender],
        *,
        retry_base: float = 15.0,
        retry_cap: float = 3600.0,
        batch: int = 50,
        max_per_drain: int = 500,
        clock: Callable[[], datetime] | None = None,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.senders = senders
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.batch = batch
        self.max_per_drain = max_per_drain
        self.clock = clock or (lambda: datetime.now(UTC))
        self.on_outcome = on_outcome  # e.g. Metrics.observe_delivery: "sent", "retry" or "failed"
        self._lock = asyncio.Lock()
        self._own_in_flight: set[int] = set()
        self._current: asyncio.Future[None] | None = None
        self.last = DrainReport()

    def _sender(self, sub: Subscription) -> Sender | None:
        return next((s for s in self.senders if s.handles(sub)), None)

    def backoff(self, attempts: int) -> float:
        return min(self.retry_cap, self.retry_base * (2 ** min(attempts, 16)))

    async def drain(self) -> int:
        """Send what is owed now; returns how many messages were posted.

        Cancelled (the scheduler shutting down), it lets the message being sent
        finish and be recorded, then stops: a send is never cut between Discord
        accepting it and the outbox knowing.
        """
        async with self._lock:
            report = DrainReport()
            try:
                await self._drain(report)
            except asyncio.CancelledError:
                await self.wait_idle()
                log.info("announcer stopped after %d sent; the rest stays owed", report.sent)
            self.last = report
            if report.sent or report.retried or report.paused or report.failed:
                log.info("announcer: %d sent, %d to retry, %d failed, paused subscriptions %s",
                         report.sent, report.retried, report.failed, report.paused or "none")
            return report.sent

    async def _drain(self, report: DrainReport) -> None:
        seen: set[int] = set()
        paused: set[int] = set()
        limit = self.batch
        while len(seen) < self.max_per_drain:
            rows = await self.store.outbox.pending(limit=limit, now=self.clock())
            fresh = [r for r in rows if r.delivery.id not in seen]
            for row in fresh:
                seen.add(row.delivery.id)
                sender = self._sender(row.subscription)
                if sender is None or row.subscription.id in paused:
                    continue
                self._current = asyncio.ensure_future(self._deliver(row, sender, report, paused))
                await asyncio.shield(self._current)
            if len(rows) < limit or not fresh:
                break
            limit = min(limit + self.batch, self.max_per_drain)

    async def wait_idle(self) -> None:
        """Until the delivery being made (if any) is sent and recorded, or IDLE_WAIT seconds pass."""
        current = self._current
        if current is not None and not current.done():
            await asyncio.wait({current}, timeout=IDLE_WAIT)

    async def _deliver(self, row: PendingDelivery, sender: Sender, report: DrainReport, paused: set[int]) -> None:
        d, sub = row.delivery, row.subscription
        outbox = self.store.outbox
        if sender.records_in_flight:
            if (d.last_error or "").startswith(IN_FLIGHT) and d.id not in self._own_in_flight:
                await outbox.mark_failed(d.id, UNKNOWN_OUTCOME)
                report.failed += 1
                return
        paper = await self.store.get_paper(row.paper_key)
        if paper is None:
            await outbox.mark_failed(d.id, f"paper {row.paper_key} is no longer in the library")
            report.failed += 1
            return
        payload = outgoing(row, paper, announcement)  # the role ping, or a resume's summary line
        if sender.records_in_flight:
            await outbox.mark_retry(d.id, IN_FLIGHT + self.clock().isoformat(), 0)
            self._own_in_flight.add(d.id)
        try:
            message_id = await sender.send(sub, payload, d.nonce)
        except TargetGone as exc:
            await outbox.pause(sub.id, str(exc))
            await outbox.mark_retry(d.id, str(exc), 0)
            paused.add(sub.id)
            report.paused.append(sub.id)
            self._observe("retry")  # still owed, once the subscription resumes
            log.warning("subscription %d paused: %s", sub.id, exc)
        except RetryLater as exc:
            delay = exc.after if exc.after is not None else self.backoff(d.attempts)
            await outbox.mark_retry(d.id, str(exc), max(delay, self.retry_base))
            report.retried += 1
            self._observe("retry")
            log.info("delivery %d retried in %.0fs: %s", d.id, delay, exc)
        except Refused as exc:
            await outbox.mark_failed(d.id, str(exc))
            report.failed += 1
            self._observe("failed")
            log.error("delivery %d refused by Discord: %s", d.id, exc)
        except Exception as exc:
            # The request may have gone out (a timeout or a dropped connection mid-response).
            reason = f"{exc.__class__.__name__}: {exc}"
            if sender.records_in_flight:
                await outbox.mark_failed(d.id, f"{UNKNOWN_OUTCOME} ({reason})")
                report.failed += 1
                self._observe("failed")
            else:
                await outbox.mark_retry(d.id, reason, max(self.backoff(d.attempts), self.retry_base))
                report.retried += 1
                self._observe("retry")
            log.warning("delivery %d: %s", d.id, reason)
        else:
            await outbox.mark_sent(d.id, message_id)
            report.sent += 1
            self._observe("sent")
        finally:
            self._own_in_flight.discard(d.id)

    def _observe(self, outcome: str) -> None:
        if self.on_outcome is not None:
            try:
                self.on_outcome(outcome)
            except Exception:
                log.exception("delivery metrics hook failed")

    async def post_digests(self, *, days: int = 7) -> int:
        """One message per digest subscription with the papers first seen in the last ``days``."""
        now = self.clock()
        since = now - timedelta(days=days)
        week = f"{now.isocalendar().year}-W{now.isocalendar().week:02d}"
        posted = 0
        for sub in await self.store.outbox.subscriptions():
            if not sub.digest or sub.held:  # held: paused by a person or broken
                continue
            sender = self._sender(sub)
            if sender is None:
                continue
            papers = await self.store.latest(
                50,
                author_key=sub.value if sub.target == "author" else None,
                topic_slug=sub.value if sub.target == "topic" else None,
                category=sub.value if sub.target == "category" else None,
                since=since,
            )
            if not papers:
                continue
            title = f"This week: {len(papers)} new paper{'s' if len(papers) != 1 else ''}"
            pages = paper_pages(papers[:10], title=title, per_page=10)
            payload = render(Answer(pages=(Page(cards=pages[0].cards, content="🗞️ Weekly digest"),)))
            try:
                await sender.send(sub, payload, digest_nonce(sub.id, week))
                posted += 1
            except TargetGone as exc:
                await self.store.outbox.pause(sub.id, str(exc))
            except SendError as exc:
                log.warning("digest for subscription %d not posted: %s", sub.id, exc)
        return posted


def compose(*drains: Callable[[], Awaitable[int]] | None) -> Callable[[], Awaitable[int]]:
    """One drain that runs each given drain in turn and adds up what they sent."""
    present = [d for d in drains if d is not None]

    async def drain_all() -> int:
        total = 0
        for drain in present:
            total += await drain()
        return total

    return drain_all
