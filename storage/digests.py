"""Digest books: which owed deliveries each digest message holds, so the next starts where it ended.

A digest subscription gets one delivery row per matching paper, like any other
(written with the paper). A digest takes every such row not yet in a digest, in
one transaction, before anything is sent; the rows are marked sent when the
digest message is. A crash in between leaves the digest pending with the same
rows, so it is resent (or found already posted) and never rebuilt with others:
no paper in two digests, none left out, whatever restarts in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.db import Database, iso, utcnow


@dataclass(frozen=True, slots=True)
class Digest:
    id: int
    subscription_id: int
    status: str  # pending | sent | empty
    created_at: datetime
    sent_at: datetime | None
    message_id: int | None
    last_error: str | None
    paper_keys: tuple[str, ...] = ()


_COLUMNS = "id, subscription_id, status, created_at, sent_at, message_id, last_error"


def _digest(row, keys: tuple[str, ...] = ()) -> Digest:
    return Digest(
        id=int(row[0]),
        subscription_id=int(row[1]),
        status=row[2],
        created_at=datetime.fromisoformat(row[3]),
        sent_at=datetime.fromisoformat(row[4]) if row[4] else None,
        message_id=row[5],
        last_error=row[6],
        paper_keys=keys,
    )


class Digests:
    """Repository for digests and the deliveries each one holds."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _keys(self, digest_id: int) -> tuple[str, ...]:
        rows = await self.db.fetchall(
            "SELECT p.key FROM digest_items i JOIN deliveries d ON d.id = i.delivery_id"
            " JOIN papers p ON p.id = d.paper_id WHERE i.digest_id = ?"
            " ORDER BY p.first_seen_at DESC, p.published DESC, d.id DESC",
            (digest_id,),
        )
        return tuple(r[0] for r in rows)

    async def get(self, digest_id: int) -> Digest | None:
        row = await self.db.fetchone(f"SELECT {_COLUMNS} FROM digests WHERE id = ?", (digest_id,))
        return _digest(row, await self._keys(digest_id)) if row else None

    async def last_closed(self, subscription_id: int) -> Digest | None:
        """The newest digest that went out (or found nothing to post)."""
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM digests WHERE subscription_id = ? AND status != 'pending'"
            " ORDER BY id DESC LIMIT 1",
            (subscription_id,),
        )
        return _digest(row) if row else None

    async def open_ones(self) -> list[Digest]:
        """Digests whose rows are fixed but whose message is not known to be posted."""
        rows = await self.db.fetchall(f"SELECT {_COLUMNS} FROM digests WHERE status = 'pending' ORDER BY id")
        return [_digest(r, await self._keys(int(r[0]))) for r in rows]

    async def history(self, subscription_id: int) -> list[Digest]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM digests WHERE subscription_id = ? ORDER BY id", (subscription_id,)
        )
        return [_digest(r, await self._keys(int(r[0]))) for r in rows]

    async def start(self, subscription_id: int, *, limit: int, at: datetime | None = None) -> Digest:
        """Open the next digest with up to ``limit`` owed rows (oldest first); an empty one is closed at once."""
        now = iso(at or utcnow())
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT d.id FROM deliveries d WHERE d.subscription_id = ? AND d.status = 'pending'"
                " AND d.id NOT IN (SELECT delivery_id FROM digest_items) ORDER BY d.id LIMIT ?",
                (subscription_id, limit),
            ) as cur:
                owed = [int(r[0]) for r in await cur.fetchall()]
            status = "pending" if owed else "empty"
            cur = await conn.execute(
                "INSERT INTO digests (subscription_id, status, created_at, sent_at) VALUES (?, ?, ?, ?)",
                (subscription_id, status, now, None if owed else now),
            )
            digest_id = int(cur.lastrowid or 0)
            await conn.executemany(
                "INSERT INTO digest_items (digest_id, delivery_id) VALUES (?, ?)",
                [(digest_id, d) for d in owed],
            )
        found = await self.get(digest_id)
        assert found is not None
        return found

    async def owed(self, subscription_id: int) -> int:
        row = await self.db.fetchone(
            "SELECT count(*) FROM deliveries WHERE subscription_id = ? AND status = 'pending'"
            " AND id NOT IN (SELECT delivery_id FROM digest_items)",
            (subscription_id,),
        )
        return int(row[0]) if row else 0

    async def mark_sent(self, digest_id: int, message_id: int | None, note: str | None = None) -> None:
        now = iso(utcnow())
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE digests SET status = 'sent', sent_at = ?, message_id = ?, attempts = attempts + 1,"
                " last_error = ? WHERE id = ?",
                (now, message_id, note, digest_id),
            )
            await conn.execute(
                "UPDATE deliveries SET status = 'sent', sent_at = ?, message_id = ?, last_error = NULL,"
                " attempts = attempts + 1 WHERE id IN (SELECT delivery_id FROM digest_items WHERE digest_id = ?)",
                (now, message_id, digest_id),
            )

    async def note(self, digest_id: int, error: str) -> None:
        """Remember why the last try did not finish (the rows stay in this digest)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE digests SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error[:500], digest_id)
            )
