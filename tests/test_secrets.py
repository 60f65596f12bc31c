"""Credentials in source URLs stay secret: errors, logs, `sources`, `config check` and /healthz mask them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from paperboy.cli import main
from paperboy.config import SourceConfig
from paperboy.health import Health
from storage.errors import FetchError
from storage.redact import mask_secrets, mask_url
from storage.store import Store

SECRETS = ("hunter2", "TOPSECRET", "SIGVALUE", "alice")


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("http://alice:hunter2@host/feed?token=abc&page=2", "http://***@host/feed?token=***&page=2"),
        ("https://h/a?api_key=K&X-Amz-Signature=S&keyword=vision#access_token=T",
         "https://h/a?api_key=***&X-Amz-Signature=***&keyword=vision#access_token=***"),
        ("https://discord.com/api/webhooks/123/abc-DEF?wait=true", "https://discord.com/api/webhooks/123/***?wait=true"),
        ("https://h/p?secret=1&password=2&sig=3&key=4", "https://h/p?secret=***&password=***&sig=***&key=***"),
        ("https://example.org/feed.xml", "https://example.org/feed.xml"),
        ("/var/lib/lab.txt", "/var/lib/lab.txt"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_errors_and_free_text_are_masked() -> None:
    error = FetchError("GET http://alice:hunter2@h/f?token=TOPSECRET failed: HTTP 401")
    assert str(error) == "GET http://***@h/f?token=*** failed: HTTP 401"
    assert mask_secrets("retry with password=hunter2, then") == "retry with password=***, then"


class _Refuse(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"who are you?")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, (secret, text)


def test_credentials_never_reach_the_cli_or_logs(
    tmp_path: Path, refusing_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://alice:hunter2@{refusing_server}/feed.rss?token=TOPSECRET&sig=SIGVALUE&page=1"
    config = tmp_path / "paperboy.toml"
    config.write_text(f'[[sources]]\nname = "lab"\nkind = "feed"\nurl = "{url}"\ninterval = "1h"\n')
    db = str(tmp_path / "p.db")
    base = ["--config", str(config), "--db", db, "--log-level", "INFO"]
    assert main([*base, "sources", "poll"]) == 1
    polled = capsys.readouterr()
    assert "lab: failed:" in polled.out and "401" in polled.out
    assert main([*base, "sources", "--json"]) == 0
    listed = capsys.readouterr()
    [row] = json.loads(listed.out)
    assert row["location"].startswith("http://***@127.0.0.1") and "token=***" in row["location"]
    assert "401" in row["last_error"]
    assert main([*base, "config", "check"]) == 0
    checked = capsys.readouterr()
    assert "token=***" in checked.out
    for text in (polled.out, polled.err, listed.out, listed.err, checked.out, checked.err):
        _assert_clean(text)


async def test_healthz_masks_last_error_even_from_an_old_row(tmp_path: Path) -> None:
    url = "http://alice:hunter2@lab.example/feed?token=TOPSECRET"
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    try:
        async with await Store.open(tmp_path / "h.db") as store:
            for name in ("new", "old"):
                await store.register_source(name, "feed", url, None)
            await store.record_poll("new", error=f"GET {url} failed: HTTP 401")
            # A row written before masking existed still holds the raw sentence.
            async with store.db.transaction() as conn:
                await conn.execute("UPDATE sources SET last_error = ? WHERE name = 'old'", (f"GET {url} failed",))
            sources = [SourceConfig(name=n, kind="feed", url=url, interval=600.0) for n in ("new", "old")]
            report = await Health(store, scheduler, sources)()
    finally:
        scheduler.shutdown(wait=False)
    text = json.dumps(report)
    _assert_clean(text)
    assert report["sources"]["new"]["last_error"] == "GET http://***@lab.example/feed?token=*** failed: HTTP 401"
    assert report["sources"]["old"]["last_error"] == "GET http://***@lab.example/feed?token=*** failed"
