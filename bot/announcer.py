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

Exactly once does not lean on Discord's nonce window. Before a send the row is
marked "in flight" (a committed write); after it, sent. Every announcement
carries a marker the bot can find again: its embed footer ends with
``sub #<subscription id>`` after the paper's ``key <key>``. A row found still
in flight by a later drain (the process died, or the request timed out) has
an unknown outcome, so before resending, the announcer looks for its marker
among the channel's messages since the send (a webhook's channel is read with
the bot's token when the bot runs) and, when found, records that message
instead of posting again. Channel sends also carry a deterministic nonce,
which covers the minutes Discord honours it. A row of unknown outcome is
never marked failed: when nothing can be checked (a webhook and no bot), it is
recorded as sent, unverified, with that note, rather than risk a double post.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from bot.announce_format import announcement, paper_lead
from bot.announce_options import outgoing
from storage.models import Paper, Subscription
from storage.outbox import PendingDelivery
from storage.store import Store

log = logging.getLogger(__name__)

IN_FLIGHT = "in flight: "
IDLE_WAIT = 10.0  # longest a shutdown waits for the message being sent to be recorded
# How far before the recorded send time a marker is looked for (clocks differ a little).
LOOKBACK = timedelta(minutes=10)
UNVERIFIED = (
    "outcome unknown: the send was interrupted after the request went out and the channel cannot be "
    "read to check (a webhook without the bot); recorded as sent so it is never posted twice"
)
UNKNOWN_OUTCOME = UNVERIFIED  # the old name, kept for callers


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


class CannotCheck(SendError):
    """The target's messages cannot be read, so a marker cannot be looked for."""


class MessageGone(SendError):
    """The message to edit no longer exists (deleted) or its id was never learnt."""


class OutcomeUnknown(SendError):
    """The request went out and no answer came back (a timeout, a dropped connection): it may
    have posted. The row stays in flight and is looked for before anything is sent again."""


class Sender(Protocol):
    """Posts one rendered message to a subscription's target and returns the message id."""

    def handles(self, sub: Subscription) -> bool: ...

    async def send(self, sub: Subscription, payload: dict[str, Any], nonce: str) -> int | None: ...

    async def find(self, sub: Subscription, lead: str, since: datetime) -> int | None:
        """The id of this subscription's message posted since ``since`` whose footer starts with
        ``lead`` (``paper_lead(key)``, or a digest's) and ends with its marker, else None."""
        ...

    async def edit(self, sub: Subscription, message_id: int, payload: dict[str, Any]) -> None: ...

    async def reply(self, sub: Subscription, message_id: int | None, payload: dict[str, Any], nonce: str) -> int | None:
        ...


@dataclass(slots=True)
class DrainReport:
    sent: int = 0
    retried: int = 0
    paused: list[int] = field(default_factory=list)
    failed: int = 0
    recovered: int = 0  # unknown-outcome rows found already posted
    updated: int = 0  # posted messages edited (or replied under) after the paper changed


def in_flight_since(last_error: str | None) -> datetime | None:
    if not (last_error or "").startswith(IN_FLIGHT):
        return None
    try:
        return datetime.fromisoformat((last_error or "")[len(IN_FLIGHT):].split(" ", 1)[0])
    except ValueError:
        return datetime.now(UTC) - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A row's paper and rendered message (None, None: the paper has left the library)."""

    paper: Paper | None
    payload: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Lookup:
    """What looking for an interrupted send found; exactly one field is set."""

    found: int | None = None  # the message it posted: record it, send nothing
    resend: bool = False  # not posted, or unknowable but the nonce dedupes a resend: send it
    unverifiable: str | None = None  # unknowable and nothing dedupes a resend: record it unverified
    later: SendError | None = None  # cannot look now (Discord busy, bot connecting, target gone)


async def look_for(sender: Sender, sub: Subscription, lead: str, began: datetime) -> Lookup:
    """Look for the message marked ``lead`` that an interrupted send (begun at ``began``) may have posted."""
    try:
        found = await sender.find(sub, lead, began - LOOKBACK)
    except CannotCheck as exc:
        if getattr(sender, "has_nonce", False):
            log.warning("cannot look for %s (%s); resending it with its nonce", lead, exc)
            return Lookup(resend=True)
        return Lookup(unverifiable=str(exc))
    except SendError as exc:
        return Lookup(later=exc)
    return Lookup(found=found) if found is not None else Lookup(resend=True)


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
        on_paused: Callable[[Subscription, str], Awaitable[None]] | None = None,
        base_url: str | None = None,
        max_lanes: int = 8,
    ) -> None:
        self.store = store
        self.senders = senders
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.batch = batch
        self.max_per_drain = max_per_drain
        self.clock = clock or (lambda: datetime.now(UTC))
        self.on_outcome = on_outcome  # e.g. Metrics.observe_delivery: "sent", "retry" or "failed"
        self.on_paused = on_paused  # e.g. the ops channel: a subscription broke
        self.base_url = base_url  # the site's public address: titles link to paper pages
        self._lock = asyncio.Lock()
        self._own_in_flight: set[int] = set()
        self._current: asyncio.Future[None] | None = None  # the update being applied
        self._sending: set[asyncio.Future[None]] = set()  # deliveries being sent, one per lane
        self.max_lanes = max_lanes
        self.last = DrainReport()
        self.digest_weekday = "mon"  # when weekly digests go out (set from [schedule])
        self.digest_timezone = "UTC"

    def _sender(self, sub: Subscription) -> Sender | None:
        return next((s for s in self.senders if s.handles(sub)), None)

    def backoff(self, attempts: int) -> float:
        return min(self.retry_cap, self.retry_base * (2 ** min(attempts, 16)))

    async def drain(self) -> int:
        """Send what is owed now, then edit posts whose paper changed; returns how many were posted.

        Cancelled (the scheduler shutting down), it lets the message being sent
        finish and be recorded, then stops: a send is never cut between Discord
        accepting it and the outbox knowing.
        """
        async with self._lock:
            report = DrainReport()
            try:
                await self._drain(report)
                await self._updates(report)
            except asyncio.CancelledError:
                await self.wait_idle()
                log.info("announcer stopped after %d sent; the rest stays owed", report.sent)
            self.last = report
            if report.sent or report.retried or report.paused or report.failed or report.updated:
                log.info("announcer: %d sent (%d found already posted), %d to retry, %d failed, %d edited,"
                         " paused subscriptions %s", report.sent, report.recovered, report.retried,
                         report.failed, report.updated, report.paused or "none")
            return report.sent

    async def _drain(self, report: DrainReport) -> None:
        seen: set[int] = set()
        paused: set[int] = set()
        limit = self.batch
        while len(seen) < self.max_per_drain:
            rows = await self.store.outbox.pending(limit=limit, now=self.clock())
            fresh = [r for r in rows if r.delivery.id not in seen]
            lanes: dict[tuple[str, object], list[tuple[PendingDelivery, Sender]]] = {}
            for row in fresh:
                seen.add(row.delivery.id)
                sender = self._sender(row.subscription)
                if sender is None or row.subscription.id in paused:
                    continue
                lanes.setdefault(_lane(row.subscription), []).append((row, sender))
            await self._run_lanes(list(lanes.values()), report, paused)
            if len(rows) < limit or not fresh:
                break
            limit = min(limit + self.batch, self.max_per_drain)

    async def _run_lanes(
        self, lanes: list[list[tuple[PendingDelivery, Sender]]], report: DrainReport, paused: set[int]
    ) -> None:
        """Each channel (or webhook) in order, several channels at once.

        Discord limits sends per channel: while one channel waits for its window, another
        can post. The senders pace each route by the rate-limit headers Discord answers
        with and keep the bot's global limit (bot.pacer).
        """
        gate = asyncio.Semaphore(max(1, self.max_lanes))

        async def lane(items: list[tuple[PendingDelivery, Sender]]) -> None:
            async with gate:
                # The next message is read and rendered while this one is in flight (or waits
                # for its window), so the lane is ready the moment the window opens.
                ahead: asyncio.Future[Prepared] | None = None
                try:
                    for i, (row, sender) in enumerate(items):
                        ready = ahead if ahead is not None else asyncio.ensure_future(self._prepare(row))
                        ahead = None
                        if row.subscription.id in paused:
                            ready.cancel()
                            continue
                        if i + 1 < len(items):
                            ahead = asyncio.ensure_future(self._prepare(items[i + 1][0]))
                        future = asyncio.ensure_future(self._deliver(row, sender, report, paused, ready))
                        self._sending.add(future)
                        future.add_done_callback(self._sending.discard)
                        await asyncio.shield(future)
                finally:
                    if ahead is not None:
                        ahead.cancel()

        if len(lanes) == 1:
            await lane(lanes[0])
            return
        tasks = [asyncio.ensure_future(lane(items)) for items in lanes]
        try:
            await asyncio.gather(*tasks)
        except Exception:
            # One lane failed (the store, say): stop the others once what they are sending is recorded.
            for task in tasks:
                task.cancel()
            await self.wait_idle()
            raise
        finally:
            for task in tasks:
                task.cancel()

    async def wait_idle(self) -> None:
        """Until the deliveries being made (if any) are sent and recorded, or IDLE_WAIT seconds pass."""
        busy = {f for f in self._sending if not f.done()}
        current = self._current
        if current is not None and not current.done():
            busy.add(current)
        if busy:
            await asyncio.wait(busy, timeout=IDLE_WAIT)

    async def _pause(self, sub: Subscription, reason: str, report: DrainReport, paused: set[int]) -> None:
        await self.store.outbox.pause(sub.id, reason)
        paused.add(sub.id)
        report.paused.append(sub.id)
        log.warning("subscription %d paused: %s", sub.id, reason)
        if self.on_paused is not None:
            try:
                await self.on_paused(sub, reason)
            except Exception:
                log.exception("reporting the broken subscription to the ops channel failed")

    async def _prepare(self, row: PendingDelivery) -> Prepared:
        """Read the row's paper and render its message; writes nothing, so it may run ahead of the send."""
        paper = await self.store.get_paper(row.paper_key)
        if paper is None:
            return Prepared(None, None)
        # The role ping, or a resume's summary line.
        return Prepared(paper, outgoing(row, paper, partial(announcement, base_url=self.base_url)))

    async def _deliver(
        self, row: PendingDelivery, sender: Sender, report: DrainReport, paused: set[int],
        ready: Awaitable[Prepared] | None = None,
    ) -> None:
        prepared = asyncio.ensure_future(ready if ready is not None else self._prepare(row))
        try:
            await self._deliver_prepared(row, sender, report, paused, prepared)
        finally:
            if prepared.done() and not prepared.cancelled():
                prepared.exception()  # retrieved: a row settled by its lookup never needed it
            prepared.cancel()

    async def _deliver_prepared(
        self, row: PendingDelivery, sender: Sender, report: DrainReport, paused: set[int],
        prepared: asyncio.Future[Prepared],
    ) -> None:
        d, sub = row.delivery, row.subscription
        outbox = self.store.outbox
        began = in_flight_since(d.last_error)
        if began is not None and d.id not in self._own_in_flight:
            # A send of unknown outcome: look for it before sending again.
            seen = await look_for(sender, sub, paper_lead(row.paper_key), began)
            if isinstance(seen.later, TargetGone):
                await outbox.mark_retry(d.id, d.last_error or "", 0)
                await self._pause(sub, str(seen.later), report, paused)
                return
            if seen.later is not None:
                await outbox.mark_retry(d.id, d.last_error or "", max(self.backoff(d.attempts), self.retry_base))
                report.retried += 1
                log.info("delivery %d: cannot check yet whether it was posted (%s)", d.id, seen.later)
                return
            if seen.unverifiable is not None or seen.found is not None:
                note = f"{UNVERIFIED} ({seen.unverifiable})" if seen.unverifiable is not None else None
                await outbox.mark_sent(d.id, seen.found, note)
                report.sent += 1
                report.recovered += seen.found is not None
                self._observe("sent")
                log.info("delivery %d: %s", d.id, note or f"already posted as message {seen.found}; not resent")
                return
        ready = await prepared
        paper, payload = ready.paper, ready.payload
        if paper is None or payload is None:
            await outbox.mark_failed(d.id, f"paper {row.paper_key} is no longer in the library")
            report.failed += 1
            return
        in_flight = IN_FLIGHT + datetime.now(UTC).isoformat()  # Discord's time, to look for it later
        await outbox.mark_in_flight(d.id, in_flight)
        self._own_in_flight.add(d.id)
        try:
            message_id = await sender.send(sub, payload, d.nonce)
        except TargetGone as exc:
            await outbox.mark_retry(d.id, str(exc), 0)
            self._observe("retry")  # still owed, once the subscription resumes
            await self._pause(sub, str(exc), report, paused)
        except RetryLater as exc:
            # Discord answered (429, 5xx) or no connection opened: nothing was posted.
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
            # The request may have gone out (a timeout or a dropped connection mid-response):
            # it stays in flight, and the next try looks for it before sending again.
            reason = f"{exc.__class__.__name__}: {exc}"
            await outbox.mark_retry(d.id, f"{in_flight} ({reason})", max(self.backoff(d.attempts), self.retry_base))
            report.retried += 1
            self._observe("retry")
            log.warning("delivery %d: outcome unknown (%s); checked before any resend", d.id, reason)
        else:
            await outbox.mark_sent(d.id, message_id)
            report.sent += 1
            self._observe("sent")
        finally:
            self._own_in_flight.discard(d.id)

    async def _updates(self, report: DrainReport) -> None:
        """Edit each posted announcement whose paper was since published, revised or renamed."""
        from bot.updates import apply_update

        for row in await self.store.outbox.pending_updates(limit=self.batch):
            sender = self._sender(row.subscription)
            if sender is None:
                continue
            self._current = asyncio.ensure_future(apply_update(self, sender, row, report))
            await asyncio.shield(self._current)

    def _observe(self, outcome: str) -> None:
        if self.on_outcome is not None:
            try:
                self.on_outcome(outcome)
            except Exception:
                log.exception("delivery metrics hook failed")

    async def post_digests(self, *, force: bool = False) -> int:
        """Post every digest that is due (see bot.digests); returns how many messages went out."""
        from bot.digests import post_due

        return await post_due(self, force=force, weekday=self.digest_weekday, tz=self.digest_timezone)


def _lane(sub: Subscription) -> tuple[str, object]:
    """What Discord limits sends by: the channel, or the webhook."""
    if sub.webhook_url:
        return ("webhook", sub.webhook_url)
    return ("channel", sub.channel_id)


def compose(*drains: Callable[[], Awaitable[int]] | None) -> Callable[[], Awaitable[int]]:
    """One drain that runs each given drain in turn and adds up what they sent."""
    present = [d for d in drains if d is not None]

    async def drain_all() -> int:
        total = 0
        for drain in present:
            total += await drain()
        return total

    return drain_all
