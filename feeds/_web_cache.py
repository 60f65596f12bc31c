"""Built documents kept per store data version, and the HTTP validators (ETag, dates, gzip) on them."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Generic, TypeVar

from feeds._web_site import Document

log = logging.getLogger(__name__)

T = TypeVar("T")


def document_size(value: object) -> int:
    """Bytes a cached value holds: a Document's two bodies, a feed's three documents, else a small constant."""
    if isinstance(value, Document):
        return len(value.body) + len(value.gzipped) + 256
    if isinstance(value, dict):
        return sum(document_size(v) for v in value.values()) + 64
    document = getattr(value, "document", None)
    if isinstance(document, Document):
        return document_size(document)
    return 256


class VersionedCache(Generic[T]):
    """Values built once per store data version, within a byte budget (least recently used go first).

    The store's data_version is read at most once per ``check_interval`` seconds,
    so a burst of requests costs one cheap query; ``invalidate()`` forces the next
    request to look again (the composition root calls it after an ingest).
    """

    def __init__(
        self,
        version: Callable[[], Awaitable[int]],
        *,
        check_interval: float = 1.0,
        max_entries: int = 512,
        max_bytes: int | None = None,
        size: Callable[[T], int] = lambda value: 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read_version = version
        self._interval = check_interval
        self._max = max_entries
        self._max_bytes = max_bytes
        self._size = size
        self._sizes: dict[Hashable, int] = {}
        self.bytes = 0  # what the kept values hold, by ``size``; tests and metrics read it
        self._clock = clock
        self._version: int | None = None
        self._checked_at = -math.inf
        self._entries: OrderedDict[Hashable, T] = OrderedDict()
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self.builds = 0  # how many values were built; tests and metrics read it

    def __len__(self) -> int:
        return len(self._entries)

    def _clear(self) -> None:
        self._entries.clear()
        self._sizes.clear()
        self.bytes = 0

    def _evict_oldest(self) -> None:
        key, _ = self._entries.popitem(last=False)
        self.bytes -= self._sizes.pop(key, 0)

    def invalidate(self) -> None:
        """Drop every built value and re-read the data version on the next request."""
        self._clear()
        self._checked_at = -math.inf

    async def version(self) -> int:
        now = self._clock()
        if self._version is None or now - self._checked_at >= self._interval:
            current = await self._read_version()
            self._checked_at = now
            if current != self._version:
                if self._version is not None:
                    log.debug("data version %s -> %s: dropping built feeds", self._version, current)
                self._clear()
                self._version = current
        assert self._version is not None
        return self._version

    async def get(
        self,
        key: Hashable,
        build: Callable[[], Awaitable[T]],
        *,
        keep: Callable[[T], bool] | None = None,
    ) -> T:
        """The value for ``key`` at the current data version, built by ``build`` if missing.

        ``keep`` says whether a built value is worth storing (not-found pages are not:
        a scan of made-up names would push real feeds out).
        """
        version = await self.version()
        full_key = (version, key)
        if full_key in self._entries:
            self._entries.move_to_end(full_key)
            return self._entries[full_key]
        lock = self._locks.setdefault(full_key, asyncio.Lock())
        try:
            async with lock:
                # Another request may have built it while this one waited.
                if full_key in self._entries:
                    return self._entries[full_key]
                value = await build()
                self.builds += 1
                if self._version == version and (keep is None or keep(value)):
                    self._store(full_key, value)
                return value
        finally:
            if not lock.locked():
                self._locks.pop(full_key, None)


    def _store(self, key: Hashable, value: T) -> None:
        size = self._size(value)
        if self._max_bytes is not None and size > self._max_bytes // 4:
            return  # one value may not take over the budget; it is served, not kept
        self._entries[key] = value
        self._sizes[key] = size
        self.bytes += size
        while len(self._entries) > self._max or (self._max_bytes is not None and self.bytes > self._max_bytes):
            self._evict_oldest()


def wants_gzip(accept_encoding: str) -> bool:
    """Whether the client accepts gzip, honouring q=0 refusals and the * wildcard."""
    accepted: dict[str, float] = {}
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        accepted[coding] = quality
    for name in ("gzip", "x-gzip"):
        if name in accepted:
            return accepted[name] > 0
    return accepted.get("*", 0.0) > 0


def _etag_matches(header: str, document: Document) -> bool:
    """If-None-Match uses weak comparison: W/ prefixes are ignored, lists and * accepted."""
    if header.strip() == "*":
        return True
    ours = {document.etag, document.gzip_etag}
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag in ours:
            return True
    return False


def not_modified(headers: Mapping[str, str], document: Document) -> bool:
    """True when the request's validators show the client already has this document."""
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        # RFC 9110 13.1.3: If-Modified-Since is ignored when If-None-Match is present.
        return _etag_matches(if_none_match, document)
    if_modified_since = headers.get("If-Modified-Since")
    if if_modified_since and document.last_modified is not None:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since is None:
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return document.last_modified.replace(microsecond=0) <= since
    return False
