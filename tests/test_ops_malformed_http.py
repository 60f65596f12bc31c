"""A malformed HTTP request costs one log line, not a traceback, and still gets its 400."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web

from paperboy import logs

PAYLOADS = [
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Huge: " + b"a" * 5_000_000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\n\r\n",
]


async def test_each_malformed_request_logs_one_short_line(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup("INFO")
    app = web.Application()
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    answers = []
    try:
        for payload in PAYLOADS:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(payload)
            try:
                await writer.drain()
            except ConnectionError:
                pass  # the server may answer and close before reading all 5 MB
            answers.append(await reader.read(40))
            writer.close()
        await asyncio.sleep(0.1)
    finally:
        await runner.cleanup()
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "aiohttp.server" in line]
    assert all(answer.startswith(b"HTTP/1.") and b" 400 " in answer for answer in answers), answers
    assert "Traceback" not in err
    assert len(lines) == len(PAYLOADS), err
    assert all("malformed HTTP request" in line and len(line) < 500 for line in lines), lines
