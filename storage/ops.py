"""The ops channel's memory: each source's and subscription's health state, and what was last posted about it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.db import Database, iso, utcnow

OK = "ok"
FAILING = "failing"  # the source failed [ops] failures polls in a row
DROPPED = "dropped"  # the last poll returned under [ops] drop_ratio of the last good poll's papers
BROKEN = "broken"  # a subscription's channel or webhook is gone or forbidden


@dataclass(frozen=True, slots=True)
class OpsState:
    subject: str  # "source:<name>" or "subscription:<id>"
    state: str
    detail: str | None
    failures: int
    last_good: int | None
    changed_at: datetime
    posted_state: str | None

    @property
    def name(self) -> str:
        return self.subject.split(":", 1)[1]


_COLUMNS = "subject, state, detail, failures, last_good, changed_at, posted_state"


def _state(row) -> OpsState:
    return OpsState(row[0], row[1], row[2], int(row[3]), row[4], datetime.fromisoformat(row[5]), row[6])


class OpsStates:
    """Repository for ops_state rows."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, subject: str) -> OpsState | None:
        row = await self.db.fetchone(f"SELECT {_COLUMNS} FROM ops_state WHERE subject = ?", (subject,))
        return _state(row) if row else None

    async def all(self, prefix: str = "") -> list[OpsState]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM ops_state WHERE subject LIKE ? ORDER BY subject", (prefix + "%",)
        )
        return [_state(r) for r in rows]

    async def put(
        self, subject: str, state: str, *, detail: str | None, failures: int, last_good: int | None
    ) -> OpsState:
        """Record the subject's state now (``changed_at`` moves only when the state does)."""
        now = iso(utcnow())
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO ops_state (subject, state, detail, failures, last_good, changed_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (subject) DO UPDATE SET"
                " changed_at = CASE WHEN ops_state.state = excluded.state THEN ops_state.changed_at"
                " ELSE excluded.changed_at END, state = excluded.state, detail = excluded.detail,"
                " failures = excluded.failures, last_good = excluded.last_good",
                (subject, state, detail[:1000] if detail else None, failures, last_good, now),
            )
        found = await self.get(subject)
        assert found is not None
        return found

    async def mark_posted(self, subject: str, state: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE ops_state SET posted_state = ? WHERE subject = ?", (state, subject))
