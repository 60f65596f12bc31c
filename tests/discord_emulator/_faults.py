"""Rate-limit buckets and injected faults for the emulated REST API.

Buckets follow Discord's header contract (``X-RateLimit-Limit``, ``-Remaining``,
``-Reset``, ``-Reset-After``, ``-Bucket``) so discord.py's pre-emptive limiter
behaves as in production. A 429 carries ``Via`` and a JSON ``retry_after``,
the two things discord.py needs before it retries instead of raising.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

VIA = "1.1 google"


@dataclass
class RateInfo:
    limit: int
    remaining: int
    reset_after: float
    bucket: str
    limited: bool

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": f"{time.time() + self.reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{_ms_up(self.reset_after):.3f}",
            "X-RateLimit-Bucket": self.bucket,
        }


@dataclass
class _Window:
    start: float
    count: int = 0


class RateLimiter:
    """Fixed-window buckets keyed by (route template, major parameter)."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], _Window] = {}

    @staticmethod
    def bucket_hash(template: str) -> str:
        return hashlib.md5(template.encode(), usedforsecurity=False).hexdigest()

    def hit(self, template: str, major: str, limit: int, per: float) -> RateInfo:
        """Count one request; ``limited`` is True (and nothing counted) when the bucket is empty."""
        now = time.monotonic()
        key = (template, major)
        window = self._windows.get(key)
        if window is None or now - window.start >= per:
            window = self._windows[key] = _Window(start=now)
        reset_after = max(0.0, per - (now - window.start))
        bucket = self.bucket_hash(template)
        if window.count >= limit:
            return RateInfo(limit, 0, reset_after, bucket, limited=True)
        window.count += 1
        return RateInfo(limit, limit - window.count, reset_after, bucket, limited=False)

    def reset(self) -> None:
        self._windows.clear()


def _ms_up(seconds: float) -> float:
    """Milliseconds rounded up: a client that waits exactly what it is told is never early."""
    return math.ceil(seconds * 1000) / 1000


def rate_limited_body(retry_after: float, *, is_global: bool = False) -> dict[str, Any]:
    return {"message": "You are being rate limited.", "retry_after": _ms_up(retry_after),
            "global": is_global}


def rate_limited_headers(retry_after: float, scope: str = "user") -> dict[str, str]:
    # Retry-After is whole seconds on Discord; the JSON body carries the precise value.
    return {"Retry-After": str(max(1, int(retry_after + 0.999))), "Via": VIA,
            "X-RateLimit-Scope": scope}


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """``/channels/{channel_id}/messages`` -> one path segment per ``{..}``; ``*`` -> anything."""
    out = []
    for piece in re.split(r"(\{[^}]*\}|\*)", pattern):
        if piece == "*":
            out.append(".*")
        elif piece.startswith("{") and piece.endswith("}"):
            out.append("[^/]+")
        else:
            out.append(re.escape(piece))
    return re.compile("".join(out) + "/?")


@dataclass
class Fault:
    """Answer the next ``count`` requests matching ``method`` + ``pattern`` with ``status``."""

    method: str
    pattern: str
    status: int
    count: int
    retry_after: float = 0.05
    code: int = 0
    message: str | None = None
    via: bool = True
    hits: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._regex = _pattern_regex(self.pattern)

    @property
    def remaining(self) -> int:
        return self.count - len(self.hits)

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and self.method in ("*", method.upper())
            and self._regex.fullmatch(path) is not None
        )

    def response(self) -> tuple[dict[str, Any], dict[str, str]]:
        if self.status == 429:
            headers = rate_limited_headers(self.retry_after)
            if not self.via:
                del headers["Via"]
            return rate_limited_body(self.retry_after), headers
        text = self.message or {
            500: "500: Internal Server Error",
            502: "502: Bad Gateway",
            503: "503: Service Unavailable",
            504: "504: Gateway Timeout",
        }.get(self.status, f"{self.status}: injected fault")
        return {"message": text, "code": self.code}, {}


class Faults:
    def __init__(self) -> None:
        self.pending: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.pending.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.pending:
            if fault.matches(method, path):
                fault.hits.append(f"{method} {path}")
                return fault
        return None

    def clear(self) -> None:
        self.pending.clear()


def path_matches(pattern: str, path: str) -> bool:
    return _pattern_regex(pattern).fullmatch(path) is not None
