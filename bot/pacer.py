"""Pacing REST calls by Discord's rate-limit headers: each bucket to its last request, the global limit kept.

Discord answers every request with ``X-RateLimit-Limit``, ``-Remaining``,
``-Reset-After`` and ``-Bucket`` (routes that share a bucket hash share a limit,
per major parameter: the channel, or the webhook). A request is sent at once
while its bucket has requests left, and waits for the window's reset when it
has none, so a bucket is used to its end without drawing a 429 and without
sleeping while the caller holds a finished send (discord.py sleeps out the
window inside the request that empties it, before it returns the message).

The global limit (50 requests a second per bot token) is kept by counting this
process's own bot-token requests over a sliding second; a 429 that says it is
global (``X-RateLimit-Global``, ``X-RateLimit-Scope: global`` or ``"global": true``)
pauses every bucket for its ``retry_after``. Webhook requests carry no bot token
and do not count against the global limit.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

GLOBAL_RATE = (50, 1.0)  # Discord's per-bot global limit: requests per seconds
# Reset-After is given to the millisecond; a request arriving a hair early would draw a 429.
MARGIN = 0.002


@dataclass(slots=True)
class _Bucket:
    limit: int | None = None
    remaining: int | None = None  # None until Discord has told us
    reset_at: float = 0.0  # loop time at which the window refills


class Pacer:
    """Per-bucket and global pacing for the REST calls one process makes."""

    def __init__(self, *, global_rate: tuple[int, float] | None = GLOBAL_RATE) -> None:
        self.global_rate = global_rate
        self._hashes: dict[str, str] = {}  # route ("POST /channels/{channel_id}/messages") -> bucket hash
        self._buckets: dict[str, _Bucket] = {}
        self._global_until = 0.0
        self._global_sent: collections.deque[float] = collections.deque()
        self.waited = 0.0  # seconds spent waiting for windows (a figure for benchmarks)
        self.global_hits = 0  # global 429s drawn

    def limits(self) -> dict[str, int | None]:
        """Each bucket's limit as Discord last gave it (None: not heard yet), by bucket key."""
        return {key: bucket.limit for key, bucket in self._buckets.items()}

    def key(self, route: str, major: str) -> str:
        return f"{self._hashes.get(route, route)}:{major}"

    def _bucket(self, route: str, major: str) -> _Bucket:
        return self._buckets.setdefault(self.key(route, major), _Bucket())

    def delay(self, route: str, major: str, *, counts_global: bool = True) -> float:
        """How long a request on this route must wait now (0: it may go)."""
        now = asyncio.get_running_loop().time()
        bucket = self._bucket(route, major)
        if bucket.reset_at and now >= bucket.reset_at:
            bucket.remaining, bucket.reset_at = bucket.limit, 0.0
        wait = self._global_until - now
        if bucket.remaining is not None and bucket.remaining <= 0:
            wait = max(wait, bucket.reset_at - now)
        if counts_global and self.global_rate is not None:
            limit, per = self.global_rate
            sent = self._global_sent
            while sent and now - sent[0] >= per + MARGIN:
                sent.popleft()
            if len(sent) >= limit:
                wait = max(wait, sent[0] + per + MARGIN - now)
        return max(wait, 0.0)

    async def acquire(self, route: str, major: str, *, max_wait: float, counts_global: bool = True) -> float:
        """Wait for room on this route (at most ``max_wait``), then take one request of it.

        Returns 0 when the request may go, else the wait still ahead (over ``max_wait``):
        the caller gives up for now rather than hold its lane that long.
        """
        while True:
            wait = self.delay(route, major, counts_global=counts_global)
            if wait <= 0:
                break
            if wait > max_wait:
                return wait
            self.waited += wait
            await asyncio.sleep(wait)
        now = asyncio.get_running_loop().time()
        bucket = self._bucket(route, major)
        if bucket.remaining is not None:
            bucket.remaining -= 1
        if counts_global and self.global_rate is not None:
            self._global_sent.append(now)
        return 0.0

    def note(self, route: str, major: str, status: int, headers: Mapping[str, str], body: Any = None) -> bool:
        """Learn from one answer: the bucket's hash, what is left of its window, or a 429's wait.

        True when the answer was a global 429 (no fault of this route's: the request may simply go again).
        """
        now = asyncio.get_running_loop().time()
        digest = headers.get("X-RateLimit-Bucket")
        if digest and self._hashes.get(route) != digest:
            # Every channel's bucket of this route moves under the hash, not only this one's:
            # a lane whose first request went out before the hash was known kept a bucket
            # under the bare route that no answer ever filled in.
            before = f"{self._hashes.get(route, route)}:"
            self._hashes[route] = digest
            for key in [k for k in self._buckets if k.startswith(before)]:
                self._buckets.setdefault(f"{digest}:{key[len(before):]}", self._buckets.pop(key))
        bucket = self._bucket(route, major)
        if status == 429:
            after = _retry_after(headers, body)
            if _is_global(headers, body):
                self._global_until = max(self._global_until, now + after + MARGIN)
                self.global_hits += 1
                log.warning("global rate limit hit; every request waits %.2fs", after)
                return True
            bucket.remaining, bucket.reset_at = 0, now + after + MARGIN
            return False
        try:
            remaining = int(headers["X-RateLimit-Remaining"])
            reset_after = float(headers["X-RateLimit-Reset-After"])
        except (KeyError, ValueError):
            return False
        try:
            bucket.limit = int(headers.get("X-RateLimit-Limit", "")) or bucket.limit
        except ValueError:
            pass
        # Answers can arrive out of order: never believe more is left than we already counted.
        if bucket.remaining is not None and bucket.reset_at and now < bucket.reset_at:
            remaining = min(remaining, bucket.remaining)
        bucket.remaining = remaining
        # Reset-After was measured when Discord counted the request, before this answer travelled
        # back: counting from now errs late, never early.
        bucket.reset_at = now + reset_after + MARGIN
        return False


def _retry_after(headers: Mapping[str, str], body: Any) -> float:
    if isinstance(body, dict) and isinstance(body.get("retry_after"), int | float):
        return float(body["retry_after"])
    try:
        return float(headers.get("Retry-After", "1"))
    except ValueError:
        return 1.0


def _is_global(headers: Mapping[str, str], body: Any) -> bool:
    return (
        headers.get("X-RateLimit-Global", "").lower() == "true"
        or headers.get("X-RateLimit-Scope", "") == "global"
        or (isinstance(body, dict) and body.get("global") is True)
    )
