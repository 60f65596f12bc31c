"""Discord markdown: escape untrusted text so it shows as written, and build safe links."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from bot.limits import URL_MAX, clip

# Characters that start inline formatting, masked links, spoilers, code or mentions (``<@1>``).
_INLINE = re.compile(r"([\\*_~`|\[\]<])")
# Block syntax only counts at the start of a line: headings, quotes, lists, subtext.
_BLOCK = re.compile(r"^(\s*)(#{1,3}\s|-#\s|>>?>?\s?|[-*+]\s|\d+[.)]\s)", re.MULTILINE)
_URL = re.compile(r"https?://[^\s<>\"'`]+")


def escape(text: str) -> str:
    """``text`` with every markdown character escaped; URLs are left intact so they still link."""
    out: list[str] = []
    pos = 0
    for match in _URL.finditer(text):
        out.append(_escape_plain(text[pos : match.start()]))
        url = match.group(0).rstrip(".,;:)]")
        out.append(url)
        pos = match.start() + len(url)
    out.append(_escape_plain(text[pos:]))
    escaped = "".join(out)
    return _BLOCK.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)


def _escape_plain(text: str) -> str:
    return _INLINE.sub(r"\\\1", text)


def one_line(text: str) -> str:
    """Whitespace (newlines included) folded to single spaces, for titles and names."""
    return " ".join(text.split())


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for an embed or a masked link, or None for anything else."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > URL_MAX:
        return None
    # Quote what would end a masked link early or break out of the angle brackets.
    return quote(url, safe=":/?#[]@!$&'*+,;=%-._~")


def link(label: str, url: str | None, *, limit: int = 200) -> str:
    """``[label](url)`` with the label escaped and clipped; just the label when there is no URL."""
    text = escape(clip(one_line(label), limit))
    target = safe_url(url)
    if target is None:
        return text
    return f"[{text}]({target})"


def code(text: str) -> str:
    """Inline code for a key or slug (backticks cannot appear inside)."""
    return "`" + text.replace("`", "'") + "`"
