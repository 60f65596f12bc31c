"""The server under the site: malformed HTTP requests get one log line and a short 400, never an echo."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

log = logging.getLogger(__name__)

MAX_REASON = 120


def short_reason(exc: BaseException) -> str:
    """The first line of a parser error, printable and cut short: the offending bytes stay out."""
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()
    first = (text[0] if text else type(exc).__name__).rstrip(":")
    first = "".join(c if c.isprintable() else "?" for c in first)
    return first[:MAX_REASON]


class _QuietHandler(RequestHandler):
    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        # A client's mistake, not ours: one line, no traceback, none of the request's bytes.
        reason = short_reason(exc)
        log.info("bad HTTP request from %s: %s (%d)", request.remote, reason, status)
        response = web.Response(status=status, text=f"{status} Bad Request: {reason}\n")
        response.force_close()
        return response


class _QuietServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _QuietHandler(self, loop=self._loop, **self._kwargs)


class SiteRunner(web.AppRunner):
    """An AppRunner whose connections answer malformed requests quietly."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The app builds its Server with its own request factory and settings; keep all of
        # that and change only which handler each connection gets.
        server.__class__ = _QuietServer
        return server


def runner(app: web.Application, **kwargs: Any) -> SiteRunner:
    return SiteRunner(app, **kwargs)
