"""The ops channel: tell the admins, once per change of state, that a source or a subscription is in trouble.

A source is "failing" after ``[ops] failures`` polls in a row fail, "dropped" when a
poll returns fewer than ``[ops] drop_ratio`` of the last good poll's papers (nothing is
removed from the store; a WARNING is logged), and back to "ok" — a recovery — when it
answers well again. A subscription is "broken" when the announcer pauses it (channel
deleted, permission lost, webhook gone) and "ok" again once it is resumed. Each state
lives in the store (storage.ops), so /healthz and /stats show the same, and a restart
neither forgets a state nor posts a change twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable

from paperboy.config import OpsConfig
from storage.models import Subscription
from storage.ops import BROKEN, DROPPED, FAILING, OK, OpsState, OpsStates
from storage.store import Store

log = logging.getLogger(__name__)

Poster = Callable[[str, str], Awaitable[object]]  # (text, nonce) -> posted; raises when it was not


def source_subject(name: str) -> str:
    return f"source:{name}"


def subscription_subject(sub_id: int) -> str:
    return f"subscription:{sub_id}"


class OpsMonitor:
    """Keeps the states and posts each change to the ops channel (when one is set)."""

    def __init__(self, store: Store, config: OpsConfig) -> None:
        self.store = store
        self.config = config
        self.states = OpsStates(store.db)
        self.poster: Poster | None = None
        self._lock = asyncio.Lock()

    async def poll_failed(self, source: str, error: str) -> OpsState:
        subject = source_subject(source)
        prev = await self.states.get(subject)
        failures = (prev.failures if prev else 0) + 1
        if failures >= self.config.failures:
            state = FAILING
        else:
            state = prev.state if prev and prev.state != FAILING else OK
        detail = error if state == FAILING else (prev.detail if prev else None)
        now = await self.states.put(subject, state, detail=detail, failures=failures,
                                    last_good=prev.last_good if prev else None)
        if state == FAILING and (prev is None or prev.state != FAILING):
            log.warning("source %s failed %d polls in a row: %s", source, failures, error)
        await self.flush()
        return now

    async def poll_ok(self, source: str, papers: int | None) -> OpsState:
        """A poll that answered; ``papers`` is how many it returned (None: unchanged since the last)."""
        subject = source_subject(source)
        prev = await self.states.get(subject)
        last_good = prev.last_good if prev else None
        if papers is None:
            state = DROPPED if prev and prev.state == DROPPED else OK
            detail = prev.detail if state == DROPPED and prev else (
                f"answering again, unchanged since the last good poll ({last_good} papers)" if last_good
                else "answering again")
        elif last_good and papers < self.config.drop_ratio * last_good:
            state = DROPPED
            detail = (f"{papers} paper{'s' if papers != 1 else ''}, under {self.config.drop_ratio:.0%} of the last "
                      f"good poll's {last_good}; nothing was removed from the library")
            if not prev or prev.state != DROPPED:
                log.warning("source %s: sharp drop: %s", source, detail)
        else:
            state, last_good = OK, papers
            detail = f"{papers} paper{'s' if papers != 1 else ''} in the last poll"
        now = await self.states.put(subject, state, detail=detail, failures=0, last_good=last_good)
        await self.flush()
        return now

    async def subscription_broke(self, sub: Subscription, reason: str) -> None:
        where = f"<#{sub.channel_id}>" if sub.channel_id else "a webhook"
        target = sub.target + (f" {sub.value}" if sub.value else "")
        await self.states.put(subscription_subject(sub.id), BROKEN, detail=f"{target} in {where}: {reason}",
                              failures=0, last_good=None)
        await self.flush()

    async def _resumed(self) -> None:
        for st in await self.states.all("subscription:"):
            if st.state != BROKEN:
                continue
            sub = await self.store.outbox.get(int(st.name))
            if sub is None:
                await self.states.put(st.subject, OK, detail="removed", failures=0, last_good=None)
            elif sub.paused_reason is None:
                await self.states.put(st.subject, OK, detail="resumed", failures=0, last_good=None)

    async def flush(self) -> int:
        """Post every state that changed since it was last posted; returns how many were posted."""
        if self.poster is None:
            return 0
        async with self._lock:
            await self._resumed()
            posted = 0
            for st in await self.states.all():
                if st.state == (st.posted_state or OK):
                    continue
                nonce = hashlib.sha256(f"ops:{st.subject}:{st.state}:{st.changed_at}".encode()).hexdigest()[:25]
                try:
                    await self.poster(message(st), nonce)
                except Exception as exc:
                    log.warning("ops channel: could not post about %s (%s); tried again later", st.subject, exc)
                    return posted
                await self.states.mark_posted(st.subject, st.state)
                posted += 1
            return posted


def message(st: OpsState) -> str:
    """The sentence the ops channel gets for a state change."""
    if st.subject.startswith("source:"):
        name = f"**{st.name}**"
        if st.state == FAILING:
            return f"⚠️ Source {name} failed {st.failures} poll{'s' if st.failures != 1 else ''} in a row: {st.detail}"
        if st.state == DROPPED:
            return f"📉 Source {name}: sharp drop, the last poll returned {st.detail}"
        return f"✅ Source {name} recovered: {st.detail}"
    if st.state == BROKEN:
        return f"🔌 Subscription #{st.name} broke: {st.detail}"
    return f"🔌 Subscription #{st.name} {st.detail or 'works again'}"
