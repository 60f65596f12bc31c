"""[http] public_url: every absolute link the running service serves starts with it; a bad one is refused."""

from __future__ import annotations

import asyncio
import io
import socket
from pathlib import Path

import aiohttp
import feedparser
import pytest

from paperboy.config import load
from paperboy.service import Running, serve
from storage.errors import ConfigError

DEMO = Path(__file__).parent.parent / "paperboy" / "demo" / "lab.txt"
PUBLIC = "https://papers.example.org/lab/"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_links_start_with_the_public_url(tmp_path: Path) -> None:
    port = _free_port()
    path = tmp_path / "config.toml"
    path.write_text(
        f'[store]\npath = "{tmp_path / "pub.db"}"\n[http]\nport = {port}\npublic_url = "{PUBLIC}"\n'
        f'[[sources]]\nname = "lab"\nkind = "listing"\nurl = "{DEMO}"\ninterval = "1h"\n',
        encoding="utf-8",
    )
    config = load(path, env={})
    stop = asyncio.Event()
    out = io.StringIO()
    ready: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(config, stop=stop, out=out, started=ready.set_result))
    try:
        running = await asyncio.wait_for(ready, 10)
        assert running.base_url == PUBLIC
        assert f"feeds at {PUBLIC}" in out.getvalue()
        local = f"http://127.0.0.1:{port}/"
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                async with http.get(local + "feed.atom") as response:
                    parsed = feedparser.parse(await response.read())
                if parsed.entries:
                    break
                await asyncio.sleep(0.1)
            assert parsed.entries
            assert all(e.link.startswith(PUBLIC + "papers/") for e in parsed.entries)
            async with http.get(local) as response:
                page = await response.text()
            assert f'href="{PUBLIC}papers/' in page and f'href="{local}' not in page
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_a_public_url_that_is_not_an_address_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[http]\npublic_url = "papers.example.org"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[http\] public_url must be an absolute http\(s\) address"):
        load(path, env={})
