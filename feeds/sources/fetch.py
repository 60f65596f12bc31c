"""Fetch source documents politely: conditional GET, retries with back-off, size cap, per-host pacing.

HTTP(S) URLs go through aiohttp; ``file://`` URLs and plain paths are read
from disk. Either way the body's SHA-256 lets the caller skip a document it
has already ingested.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp

from storage.errors import FetchError

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "paperboy/0.1 (+https://github.com/paperboy-lab/paperboy)"
# arXiv's API terms ask for no more than one request every three seconds.
DEFAULT_MIN_INTERVAL: dict[str, float] = {"export.arxiv.org": 3.0, "arxiv.org": 3.0}
_RETRY_AFTER_CAP = 120.0
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one GET brought back; ``not_modified`` means "nothing new to parse"."""

    status: int
    body: bytes | None
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    not_modified: bool


class HTTPStatusError(FetchError):
    """The server answered with an error status; ``body`` keeps what it said (e.g. arXiv's error feed)."""

    def __init__(self, message: str, *, url: str, status: int, body: bytes | None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.body = body


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def is_local(url: str) -> bool:
    """True for ``file://`` URLs and plain filesystem paths."""
    scheme = urlsplit(url).scheme.lower()
    # A one-letter scheme is a Windows drive ("C:\\papers.bib"), not a URL.
    return scheme in ("", "file") or len(scheme) == 1


def local_path(url: str) -> Path:
    """The filesystem path a ``file://`` URL or plain path names."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        return Path(unquote(parts.path))
    return Path(url).expanduser()


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class Fetcher:
    """GETs documents for sources; one per service, sharing an aiohttp session.

    ``min_interval`` maps a host (or "host:port") to the least number of
    seconds between two requests to it; arXiv's hosts default to 3 s.
    ``clock``, ``sleep`` and ``rng`` are injectable so tests can check pacing
    and back-off without waiting for real time to pass.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout: float = 30,
        retries: int = 3,
        backoff: float = 1.0,
        max_bytes: int = 20_000_000,
        user_agent: str = DEFAULT_USER_AGENT,
        min_interval: dict[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.session = session
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        # Given intervals add to (or override) the defaults, so arXiv stays paced unless told.
        self.min_interval = {**DEFAULT_MIN_INTERVAL, **(min_interval or {})}
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._last_request: dict[str, float] = {}
        self._host_locks: dict[str, asyncio.Lock] = {}
        self.requests = 0  # HTTP attempts made, retries included (for tests and metrics)

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        previous_hash: str | None = None,
    ) -> FetchResult:
        """Fetch ``url``; a 304 or a body identical to ``previous_hash`` comes back not_modified.

        Raises FetchError (naming the URL) for 4xx answers, for 5xx answers,
        connection errors and timeouts that outlast the retries, and for
        bodies over ``max_bytes``.
        """
        if is_local(url):
            return await self._read_local(url, previous_hash, etag)
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError(f"cannot fetch {url}: unsupported URL scheme {scheme!r}")
        headers = {"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempt = 0
        while True:
            await self._pace(url)
            self.requests += 1
            try:
                return await self._attempt(url, headers, etag, last_modified, previous_hash)
            except _Retryable as exc:
                if attempt >= self.retries:
                    tries = attempt + 1
                    raise FetchError(
                        f"GET {url} failed after {tries} attempt{'s' if tries > 1 else ''}: {exc.message}"
                    ) from exc
                delay = self.backoff * (2**attempt) + self._rng.uniform(0, self.backoff * 0.1)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, _RETRY_AFTER_CAP))
                log.info(
                    "GET %s: %s; retry %d of %d in %.2fs",
                    url,
                    exc.message,
                    attempt + 1,
                    self.retries,
                    delay,
                )
                attempt += 1
                await self._sleep(delay)

    def _interval_for(self, url: str) -> tuple[str, float]:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        with_port = f"{host}:{parts.port}" if parts.port else host
        for key in (with_port, host):
            if key in self.min_interval:
                return key, self.min_interval[key]
        return with_port, 0.0

    async def _pace(self, url: str) -> None:
        """Wait until this host's minimum interval has passed since our last request to it."""
        key, interval = self._interval_for(url)
        if interval <= 0:
            return
        lock = self._host_locks.setdefault(key, asyncio.Lock())
        async with lock:
            last = self._last_request.get(key)
            if last is not None:
                wait = last + interval - self._clock()
                if wait > 0:
                    log.debug("pacing %s: waiting %.2fs", key, wait)
                    await self._sleep(wait)
            self._last_request[key] = self._clock()

    async def _attempt(
        self,
        url: str,
        headers: dict[str, str],
        etag: str | None,
        last_modified: str | None,
        previous_hash: str | None,
    ) -> FetchResult:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with self.session.get(url, headers=headers, timeout=timeout, allow_redirects=True) as response:
                status = response.status
                new_etag = response.headers.get("ETag") or etag
                new_modified = response.headers.get("Last-Modified") or last_modified
                if status == 304:
                    return FetchResult(
                        status=304,
                        body=None,
                        etag=new_etag,
                        last_modified=new_modified,
                        content_hash=previous_hash,
                        not_modified=True,
                    )
                if status == 429 or status >= 500:
                    raise _Retryable(
                        f"HTTP {status} {response.reason or ''}".rstrip(),
                        _retry_after(response.headers.get("Retry-After")),
                    )
                body = await self._read_capped(url, response)
                if status >= 400:
                    raise HTTPStatusError(
                        f"GET {url} failed: HTTP {status} {response.reason or ''}".rstrip(),
                        url=url,
                        status=status,
                        body=body,
                    )
        except TimeoutError as exc:
            raise _Retryable(f"timed out after {self.timeout:g}s") from exc
        except aiohttp.ClientPayloadError as exc:
            raise _Retryable(f"response cut short: {exc}") from exc
        except aiohttp.ClientConnectionError as exc:
            raise _Retryable(f"connection failed: {exc}") from exc
        except aiohttp.InvalidURL as exc:
            raise FetchError(f"cannot fetch {url}: invalid URL") from exc
        except aiohttp.ClientResponseError as exc:
            raise FetchError(f"GET {url} failed: {exc.status} {exc.message}") from exc
        digest = sha256_hex(body)
        return FetchResult(
            status=status,
            body=body,
            etag=new_etag,
            last_modified=new_modified,
            content_hash=digest,
            not_modified=previous_hash is not None and digest == previous_hash,
        )

    async def _read_capped(self, url: str, response: aiohttp.ClientResponse) -> bytes:
        declared = response.content_length
        if declared is not None and declared > self.max_bytes:
            raise FetchError(f"GET {url}: response is {declared} bytes, over the {self.max_bytes}-byte limit")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(f"GET {url}: response passed the {self.max_bytes}-byte limit; download aborted")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _read_local(self, url: str, previous_hash: str | None, validator: str | None = None) -> FetchResult:
        """Read a file, unless its size and modification time say it is the one hashed last time."""
        path = local_path(url)

        def read() -> tuple[bytes | None, float, str | None]:
            stat = path.stat()
            if path.is_dir():
                raise IsADirectoryError(str(path))
            current = stat_validator(stat)
            if previous_hash is not None and current is not None and current == validator:
                return None, stat.st_mtime, current
            if stat.st_size > self.max_bytes:
                raise FetchError(f"{path}: file is {stat.st_size} bytes, over the {self.max_bytes}-byte limit")
            return path.read_bytes(), stat.st_mtime, current

        try:
            body, mtime, current = await asyncio.to_thread(read)
        except FileNotFoundError as exc:
            raise FetchError(f"{path}: no such file") from exc
        except IsADirectoryError as exc:
            raise FetchError(f"{path}: is a directory, not a file") from exc
        except PermissionError as exc:
            raise FetchError(f"{path}: permission denied") from exc
        except OSError as exc:
            raise FetchError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        if body is None:
            # Same size and modification time as when it was last hashed: not read at all.
            return FetchResult(status=304, body=None, etag=current, last_modified=formatdate(mtime, usegmt=True),
                               content_hash=previous_hash, not_modified=True)
        digest = sha256_hex(body)
        return FetchResult(
            status=200,
            body=body,
            etag=current,
            last_modified=formatdate(mtime, usegmt=True),
            content_hash=digest,
            not_modified=previous_hash is not None and digest == previous_hash,
        )


# A file modified this recently may change again within the clock's resolution without its
# modification time moving, so its size and time are not trusted as a validator yet.
RACY_SECONDS = 2.0


def stat_validator(stat: os.stat_result, suffix: str = "") -> str | None:
    """What stands in for an ETag of a local file: its size and modification time (ns).

    None while the file is younger than RACY_SECONDS: then only its hash decides.
    """
    if time.time() - stat.st_mtime < RACY_SECONDS:
        return None
    return f"file-stat:{stat.st_size}:{stat.st_mtime_ns}{suffix}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date; our own back-off is good enough then
