"""Making hostile XML safe to parse: character references no text may hold, invisible characters."""

from __future__ import annotations

import re

from storage.text import strip_invisible

_CHARREF = re.compile(rb"&#(?:[xX]([0-9A-Fa-f]{1,8})|([0-9]{1,10}));")


def _allowed(code: int) -> bool:
    """Whether a code point may stand in an XML 1.0 document and in a stored title."""
    if code in (0x9, 0xA, 0xD):
        return True
    if code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        return False
    return strip_invisible(chr(code)) == chr(code)


def _charref(m: re.Match[bytes]) -> bytes:
    code = int(m.group(1), 16) if m.group(1) is not None else int(m.group(2))
    # "&#xD800;" made feedparser raise UnicodeEncodeError and end the whole ingest.
    return m.group(0) if _allowed(code) else b""


def scrub_xml(body: bytes) -> bytes:
    """The document without references to forbidden or invisible characters, and without such characters.

    Raw characters are removed only from UTF-8 documents (the common case); a
    document in another encoding keeps them and its parser judges it.
    """
    if b"&#" in body:
        body = _CHARREF.sub(_charref, body)
    if body.isascii():
        return body
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    cleaned = strip_invisible(text)
    return body if cleaned == text else cleaned.encode("utf-8")
