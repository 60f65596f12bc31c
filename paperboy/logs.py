"""Logging set-up: human-readable lines by default, JSON lines on request, never a secret."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from storage.redact import mask_secrets

# Discord bot tokens and webhook tokens must never reach a log line.
_SECRETS = re.compile(
    r"([A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,})|(/webhooks/\d+/)[A-Za-z0-9_-]+"
)


def redact(text: str) -> str:
    """The text without bot or webhook tokens and without credentials in URLs."""
    return mask_secrets(_SECRETS.sub(lambda m: (m.group(2) + "***") if m.group(2) else "***", text))


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


_MAX_DETAIL = 200


class MalformedRequestFilter(logging.Filter):
    """One line, not a traceback, for a malformed HTTP request (aiohttp logs each with its stack).

    A client that sends a broken request line or a 5 MB header is the client's problem:
    the line says who and what, cut short, without echoing the request back twice.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not type(exc).__module__.startswith("aiohttp.http_exceptions"):
            return True
        try:
            original = record.getMessage()
            message = getattr(exc, "message", "") or str(exc)
            detail = " ".join(str(message).split())
        except Exception:  # a logging filter must never turn a 400 into a 500
            return True
        if len(detail) > _MAX_DETAIL:
            detail = detail[:_MAX_DETAIL] + "…"
        code = getattr(exc, "code", 400)
        record.msg = "%s: answered %s to a malformed HTTP request (%s: %s)"
        record.args = (original, code, type(exc).__name__, detail)
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def setup(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # discord.py and aiohttp are chatty at INFO about things an admin need not see.
    for noisy in ("discord.gateway", "discord.client", "aiohttp.access", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestFilter) for f in server.filters):
        server.addFilter(MalformedRequestFilter())
