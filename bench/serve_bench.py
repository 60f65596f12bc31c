"""A small keep-alive HTTP/1.1 load client for loopback, the same for the feed app and the bare handler."""

from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger(__name__)


async def _connection(port: int, path: str, deadline: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"GET {path}: {head[:40]!r}")
            await reader.readexactly(length)
            counts[0] += 1
    finally:
        writer.close()


async def requests_per_second(port: int, path: str, seconds: float, connections: int = 8) -> float:
    """Completed requests per second over ``connections`` keep-alive connections."""
    counts = [0]
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(_connection(port, path, deadline, counts) for _ in range(connections)))
    return counts[0] / (time.perf_counter() - start)


async def compare(port: int, bare_port: int, path: str, seconds: float, rounds: int = 3) -> tuple[float, float]:
    """Median requests/s of the app and of the bare handler, measured alternately."""
    app, bare = [], []
    for _ in range(rounds):
        bare.append(await requests_per_second(bare_port, path, seconds))
        app.append(await requests_per_second(port, path, seconds))
    return sorted(app)[len(app) // 2], sorted(bare)[len(bare) // 2]


__all__ = ["compare", "requests_per_second"]
