"""Subscriptions and the delivery outbox: who follows what, and which announcements are owed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from storage import topic_links
from storage.db import Database, iso, utcnow
from storage.errors import InvalidInputError, NotFoundError
from storage.ingest import delivery_nonce
from storage.models import Delivery, Subscription
from storage.subscriptions import (
    FACTS_SQL,
    RESUME_POSTS,
    SUB_COLUMNS,
    TOPICS_SQL,
    Rules,
    facts_from_row,
    filters_text,
    parse_filters,
    subscription_from_row,
)

TARGETS = ("all", "author", "topic", "category")
MAX_BACKFILL = 10


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """An owed announcement with what the sender needs to make it."""

    delivery: Delivery
    subscription: Subscription
    paper_key: str
    note: str | None = None  # set on a resume's summary row: post this line instead of the paper


_SUB_COUNT = len(SUB_COLUMNS.split(","))
# A delivery's columns, its paper's key, then its subscription's: the rows pending() and
# pending_updates() read; the subscription starts at _DELIVERY_SUB_AT.
_DELIVERY_SELECT = (
    "SELECT d.id, d.subscription_id, d.paper_id, d.status, d.attempts, d.nonce,"
    " d.created_at, d.message_id, d.last_error, p.key, d.note, "
    + ", ".join("s." + c.strip() for c in SUB_COLUMNS.split(","))
    + " FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id"
    " JOIN papers p ON p.id = d.paper_id"
)
_DELIVERY_SUB_AT = 11


def _pending(row) -> PendingDelivery:
    sub = subscription_from_row(row[_DELIVERY_SUB_AT : _DELIVERY_SUB_AT + _SUB_COUNT])
    return PendingDelivery(_delivery(row[0:9]), sub, row[9], row[10])


def _delivery(row) -> Delivery:
    return Delivery(
        id=row[0],
        subscription_id=row[1],
        paper_id=row[2],
        status=row[3],
        attempts=row[4],
        nonce=row[5],
        created_at=datetime.fromisoformat(row[6]),
        message_id=row[7],
        last_error=row[8],
    )


class Outbox:
    """Repository for subscriptions and deliveries."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def subscribe(
        self,
        *,
        target: str,
        value: str | None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        webhook_url: str | None = None,
        backfill: int = 0,
        digest: int = 0,
        include: str = "",
        exclude: str = "",
        mention_role_id: int | None = None,
    ) -> tuple[Subscription, int]:
        """Follow a target; returns the subscription and how many backfill rows were queued.

        A new subscription only gets papers first seen after it, plus the
        ``backfill`` newest matching papers when asked.
        """
        if target not in TARGETS:
            raise InvalidInputError(f"target must be one of {', '.join(TARGETS)}, not {target!r}")
        if target != "all" and not value:
            raise InvalidInputError(f"a {target} subscription needs a value naming the {target}")
        if not 0 <= backfill <= MAX_BACKFILL:
            raise InvalidInputError(f"backfill must be between 0 and {MAX_BACKFILL}")
        if (channel_id is None) == (webhook_url is None):
            raise InvalidInputError("a subscription needs exactly one of a channel or a webhook")
        value = None if target == "all" else value
        include_items = parse_filters(include, "include")
        exclude_items = parse_filters(exclude, "exclude")
        days = _validated_days(digest)
        now = iso(utcnow())
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO subscriptions (guild_id, channel_id, webhook_url, target, value,"
                " digest, created_at, include_text, exclude_text, mention_role_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO UPDATE SET paused_reason = NULL, digest = excluded.digest,"
                " include_text = excluded.include_text, exclude_text = excluded.exclude_text,"
                " mention_role_id = excluded.mention_role_id",
                (guild_id, channel_id, webhook_url, target, value, days, now,
                 filters_text(include_items), filters_text(exclude_items),
                 mention_role_id),
            )
            async with conn.execute(
                f"SELECT {SUB_COLUMNS} FROM subscriptions WHERE"
                " COALESCE(channel_id, webhook_url) = COALESCE(?, ?) AND target = ?"
                " AND COALESCE(value, '') = COALESCE(?, '')",
                (channel_id, webhook_url, target, value),
            ) as cur:
                row = await cur.fetchone()
            assert row is not None
            sub = subscription_from_row(row)
            queued = 0
            if backfill:
                for paper_id, key in await matching_papers(conn, sub, backfill):
                    cur = await conn.execute(
                        "INSERT OR IGNORE INTO deliveries (subscription_id, paper_id, nonce,"
                        " created_at) VALUES (?, ?, ?, ?)",
                        (sub.id, paper_id, delivery_nonce(sub.id, key), now),
                    )
                    queued += cur.rowcount
        return sub, queued

    async def unsubscribe(self, subscription_id: int, *, guild_id: int | None = None) -> Subscription:
        sub = await self.get(subscription_id)
        if sub is None or (guild_id is not None and sub.guild_id != guild_id):
            raise NotFoundError(
                f"there is no subscription #{subscription_id} here; /subscriptions lists them"
            )
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))
        return sub

    async def get(self, subscription_id: int) -> Subscription | None:
        row = await self.db.fetchone(
            f"SELECT {SUB_COLUMNS} FROM subscriptions WHERE id = ?", (subscription_id,)
        )
        return subscription_from_row(row) if row else None

    async def subscriptions(
        self, *, guild_id: int | None = None, webhooks: bool | None = None, channel_id: int | None = None
    ) -> list[Subscription]:
        clauses, params = [], []
        if guild_id is not None:
            clauses.append("guild_id = ?")
            params.append(guild_id)
        if channel_id is not None:
            clauses.append("channel_id = ?")
            params.append(channel_id)
        if webhooks is not None:
            clauses.append("webhook_url IS NOT NULL" if webhooks else "webhook_url IS NULL")
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = await self.db.fetchall(
            f"SELECT {SUB_COLUMNS} FROM subscriptions {where} ORDER BY id", params
        )
        return [subscription_from_row(r) for r in rows]

    async def pause(self, subscription_id: int, reason: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE subscriptions SET paused_reason = ? WHERE id = ?", (reason, subscription_id)
            )

    async def resume(self, subscription_id: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE subscriptions SET paused_reason = NULL WHERE id = ?", (subscription_id,)
            )

    # -- options and the admin pause (the "broken" pause above is the announcer's) --

    async def edit(
        self,
        subscription_id: int,
        *,
        include: str | None = None,
        exclude: str | None = None,
        mention_role_id: int | bool | None = False,
        digest: int | None = None,
    ) -> Subscription:
        """Change the given options (``None``/``False`` leaves one alone); filters are checked first."""
        sets: list[str] = []
        params: list[object] = []
        if include is not None:
            sets.append("include_text = ?")
            params.append(filters_text(parse_filters(include, "include")))
        if exclude is not None:
            sets.append("exclude_text = ?")
            params.append(filters_text(parse_filters(exclude, "exclude")))
        if mention_role_id is not False:
            sets.append("mention_role_id = ?")
            params.append(mention_role_id)
        if digest is not None:
            sets.append("digest = ?")
            params.append(int(digest))
        if sets:
            async with self.db.transaction() as conn:
                await conn.execute(f"UPDATE subscriptions SET {', '.join(sets)} WHERE id = ?",
                                   (*params, subscription_id))
        sub = await self.get(subscription_id)
        if sub is None:
            raise NotFoundError(f"subscription #{subscription_id} has just been removed")
        return sub

    async def hold(self, subscription_id: int, *, by: int | None = None) -> bool:
        """Pause by a person: deliveries keep being queued and wait. False if it was already paused."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE subscriptions SET paused_at = ?, paused_by = ? WHERE id = ? AND paused_at IS NULL",
                (iso(utcnow()), by, subscription_id),
            )
            return cur.rowcount > 0

    async def release(self, subscription_id: int, *, note: str, keep: int = RESUME_POSTS) -> tuple[int, int]:
        """Resume: the ``keep`` oldest held rows post as usual, the next one becomes ``note``
        (``{n}`` is replaced by how many were not posted one by one) and the rest fold into it.
        Clears a person's pause and the announcer's (a fixed channel) alike.
        Returns (held, folded); held is -1 when the subscription was not paused."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE subscriptions SET paused_at = NULL, paused_by = NULL, paused_reason = NULL"
                " WHERE id = ? AND (paused_at IS NOT NULL OR paused_reason IS NOT NULL)",
                (subscription_id,),
            )
            if cur.rowcount == 0:
                return -1, 0
            async with conn.execute(
                "SELECT id FROM deliveries WHERE subscription_id = ? AND status = 'pending' ORDER BY id",
                (subscription_id,),
            ) as cur:
                held = [int(r[0]) for r in await cur.fetchall()]
            rest = held[keep:]
            if len(rest) > 0:
                summary, folded = rest[0], rest[1:]
                await conn.execute("UPDATE deliveries SET note = ? WHERE id = ?",
                                   (note.replace("{n}", str(len(rest))), summary))
                for start in range(0, len(folded), 500):
                    chunk = folded[start : start + 500]
                    await conn.execute(
                        f"UPDATE deliveries SET status = 'sent', folded_into = ?, sent_at = ?"
                        f" WHERE id IN ({','.join('?' * len(chunk))})",
                        (summary, iso(utcnow()), *chunk),
                    )
            return len(held), len(rest)

    async def held_counts(self) -> dict[int, int]:
        """Pending deliveries per subscription that is paused (by a person or broken)."""
        rows = await self.db.fetchall(
            "SELECT d.subscription_id, count(*) FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id"
            " WHERE d.status = 'pending' AND (s.paused_at IS NOT NULL OR s.paused_reason IS NOT NULL)"
            " GROUP BY d.subscription_id"
        )
        return {int(r[0]): int(r[1]) for r in rows}

    async def delivery_state(self, subscription_id: int, paper_id: int) -> Delivery | None:
        row = await self.db.fetchone(
            "SELECT id, subscription_id, paper_id, status, attempts, nonce, created_at, message_id, last_error,"
            " folded_into, note FROM deliveries WHERE subscription_id = ? AND paper_id = ?",
            (subscription_id, paper_id),
        )
        if row is None:
            return None
        delivery = _delivery(row[0:9])
        if row[10] is not None and delivery.status == "sent":
            return replace(delivery, status="folded")  # posted as the resume's summary line itself
        if row[9] is not None:
            summary = await self.db.fetchone("SELECT message_id, status FROM deliveries WHERE id = ?", (row[9],))
            # A folded row is "sent" as part of its summary line: show that line's message.
            delivery = replace(delivery, status="folded", message_id=summary[0] if summary else None)
        return delivery

    async def pending(self, limit: int = 50, *, now: datetime | None = None) -> list[PendingDelivery]:
        """Owed deliveries whose retry time has come, oldest first, for active subscriptions."""
        now_s = iso(now or utcnow())
        rows = await self.db.fetchall(
            _DELIVERY_SELECT
            + " WHERE d.status = 'pending' AND s.paused_reason IS NULL AND s.paused_at IS NULL AND s.digest = 0"
            " AND d.id NOT IN (SELECT delivery_id FROM digest_items)"
            " AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?)"
            " ORDER BY d.id LIMIT ?",
            (now_s, limit),
        )
        return [_pending(r) for r in rows]

    async def mark_sent(self, delivery_id: int, message_id: int | None, note: str | None = None) -> None:
        """Posted (``note`` says so when the outcome was inferred rather than seen)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE deliveries SET status = 'sent', message_id = ?, sent_at = ?,"
                " attempts = attempts + 1, last_error = ? WHERE id = ?",
                (message_id, iso(utcnow()), note, delivery_id),
            )

    async def pending_updates(self, limit: int = 50) -> list[PendingDelivery]:
        """Posted announcements whose paper changed since (a DOI, venue, version or title)."""
        rows = await self.db.fetchall(
            _DELIVERY_SELECT
            # A summary line (note) or a row folded into one is not the paper's own message.
            + " WHERE d.update_pending = 1 AND s.paused_reason IS NULL AND d.note IS NULL"
            " AND d.folded_into IS NULL ORDER BY d.id LIMIT ?",
            (limit,),
        )
        return [_pending(r) for r in rows]

    async def updated_note(self, delivery_id: int) -> str | None:
        row = await self.db.fetchone("SELECT updated_note FROM deliveries WHERE id = ?", (delivery_id,))
        return row[0] if row else None

    async def note_update(self, delivery_id: int, note: str) -> None:
        """Remember where an owed update stands (e.g. its reply in flight); it stays owed."""
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE deliveries SET updated_note = ? WHERE id = ?", (note[:500], delivery_id))

    async def mark_updated(self, delivery_id: int, note: str) -> None:
        """The posted message now shows ``note`` (edited, or replied under)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE deliveries SET update_pending = 0, updated_note = ? WHERE id = ?",
                (note, delivery_id),
            )

    async def mark_retry(self, delivery_id: int, error: str, delay: float) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ?,"
                " next_attempt_at = ? WHERE id = ?",
                (error[:500], iso(utcnow() + timedelta(seconds=delay)), delivery_id),
            )

    async def mark_in_flight(self, delivery_id: int, note: str) -> None:
        """Committed before a send: a later drain that finds it knows the outcome is unknown."""
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE deliveries SET last_error = ? WHERE id = ?", (note[:500], delivery_id))

    async def mark_failed(self, delivery_id: int, error: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE deliveries SET status = 'failed', attempts = attempts + 1,"
                " last_error = ? WHERE id = ?",
                (error[:500], delivery_id),
            )

    async def depth(self) -> tuple[int, datetime | None]:
        """How many deliveries are pending, and since when the oldest has waited."""
        row = await self.db.fetchone(
            "SELECT count(*), min(created_at) FROM deliveries WHERE status = 'pending'"
        )
        if not row:
            return 0, None
        return int(row[0]), datetime.fromisoformat(row[1]) if row[1] else None

    async def counts(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT status, count(*) FROM deliveries GROUP BY status")
        return {r[0]: int(r[1]) for r in rows}


async def rules_async(conn, max_age=None) -> Rules:
    async with conn.execute(TOPICS_SQL) as cur:
        return Rules.from_topic_rows(await cur.fetchall(), max_age)


def _validated_days(days: int) -> int:
    """Days per digest: 0 posts papers as they arrive, 1 daily, 7 weekly."""
    if not 0 <= days <= 31:
        raise InvalidInputError(f"digest must be 0 (as they arrive), 1 (daily) or 7 (weekly) days, not {days}")
    return days


async def matching_papers(conn, sub: Subscription, limit: int, *, scan: int = 500) -> list[tuple[int, str]]:
    """The ``limit`` newest papers that match the subscription's target and filters (any age)."""
    clauses = {
        "all": ("", ()),
        "author": (
            "WHERE p.id IN (SELECT pa.paper_id FROM paper_authors pa JOIN authors a"
            " ON a.id = pa.author_id WHERE a.key = ?)",
            (sub.value,),
        ),
        "topic": (
            f"WHERE p.id IN {topic_links.PAPERS_OF_SLUG}",
            (sub.value, sub.value),
        ),
        "category": ("WHERE lower(p.category) = lower(?)", (sub.value,)),
    }
    where, params = clauses[sub.target]
    async with conn.execute(
        f"{FACTS_SQL} {where} ORDER BY p.first_seen_at DESC, p.published DESC LIMIT ?",
        (*params, scan if (sub.include or sub.exclude) else limit),
    ) as cur:
        rows = await cur.fetchall()
    if not (sub.include or sub.exclude):
        return [(int(r[0]), r[1]) for r in rows]
    rules = await rules_async(conn)
    include, exclude = parse_filters(sub.include, "include"), parse_filters(sub.exclude, "exclude")
    out = []
    for row in rows:
        facts = facts_from_row(row)
        if rules.evaluate(sub, facts, include=include, exclude=exclude).wanted:
            out.append((facts.id, facts.key))
            if len(out) >= limit:
                break
    return out
