"""Author look-up for the store: the author index held per data version, rebuilt off the event loop.

A big store's index is built in a worker process and mapped back (storage/author_build.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage import author_build, heap
from storage.author_index import AuthorIndex, AuthorRows
from storage.models import AuthorMatch

if TYPE_CHECKING:
    from storage.db import Database


@dataclass(frozen=True)
class LastBuild:
    """How the author index was last built: in a worker process or here, how long, the worker's peak."""

    in_worker: bool
    seconds: float
    worker_peak_mb: float | None


class AuthorLookup:
    """Answers ``Store.match_authors`` from an AuthorIndex of the store as of its data version."""

    def __init__(self, db: Database, data_version: Callable[[], Awaitable[int]]) -> None:
        self.db = db
        self._version = data_version  # the store's own reading of its data version
        self._held: tuple[int, AuthorIndex] | None = None
        self._lock = asyncio.Lock()
        self.last_build: LastBuild | None = None

    def forget(self) -> None:
        """Drop the index (an ingest changed the authors); the next look-up builds it again."""
        self._held = None

    async def _index(self, version: int | None = None) -> tuple[int, AuthorIndex]:
        """The author index as of the store's ``version`` (read when not given), built when it is not."""
        if version is None:
            version = await self._version()
        async with self._lock:  # one build at a time: two would hold two indexes at once
            if self._held is None or self._held[0] != version:
                self._held = None  # the old index goes before the new one is built
                start = time.perf_counter()
                built = await self._in_worker()
                if built is not None:
                    self._held = (built.version, built.index)
                else:
                    self._held = (version, await self._here())
                self.last_build = LastBuild(
                    built is not None, time.perf_counter() - start, built.worker_peak_mb if built else None
                )
            return self._held

    async def _in_worker(self) -> author_build.Built | None:
        """A big store's index, built in a worker process (storage/author_build.py); None when not."""
        if self.db.path == ":memory:":
            return None
        row = await self.db.fetchone("SELECT COALESCE(max(id), 0) FROM authors")
        if row[0] < author_build.WORKER_AUTHORS:
            return None
        return await asyncio.to_thread(author_build.build_in_worker, self.db.path)

    async def _here(self) -> AuthorIndex:
        rows = AuthorRows()
        # Streamed a chunk at a time in key order, straight off the key's index: neither a
        # list of every author here nor a sort of them in SQLite is held.
        async with self.db.conn.execute(author_build.AUTHORS_SQL) as cursor:
            while chunk := await cursor.fetchmany(20_000):
                rows.add(chunk)
        index = await asyncio.to_thread(rows.build)
        await asyncio.to_thread(heap.trim)  # the build's scaffolding, freed, goes back
        return index

    async def match(self, query: str, limit: int = 25) -> list[AuthorMatch]:
        """Authors ranked by closeness to ``query``, then by paper count."""
        held = self._held or await self._index()
        while True:
            version, index = held
            found = index.candidates(query[:200], max(0, min(limit, 100)))
            keys = [index.key(c.index) for c in found]
            # The store's version comes back with the names, in one round trip; an index that an
            # ingest (here or in another process) has outdated is rebuilt and asked again.
            rows = await self.db.fetchall(
                "SELECT NULL, value FROM meta WHERE key = 'data_version'"
                f" UNION ALL SELECT key, name FROM authors WHERE key IN ({','.join('?' * len(keys))})", keys
            )
            current = next((int(value) for key, value in rows if key is None), 0)
            if current == version:
                break
            held = await self._index(current)
        names = {key: name for key, name in rows if key is not None}
        return [
            AuthorMatch(key, names.get(key, key), index.counts[c.index], round(min(c.score, 100.0), 1))
            for key, c in zip(keys, found, strict=True)
        ]
