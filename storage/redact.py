"""Masking credentials in URLs and in any text that may carry one (errors, logs, health reports).

A source URL such as ``https://user:pw@host/feed?token=abc`` keeps its host and
path and loses its secrets: ``https://***@host/feed?token=***``. Query parameters
and fragment parameters whose names say they hold a secret (token, key, secret,
password, sig, auth, credential, session...) are masked, and so is a Discord
webhook URL's token.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
# Words of a parameter name (split at "_", "-", "." and camel humps) that mark a secret.
_SECRET_WORDS = frozenset(
    "token tokens key apikey secret password passwd passphrase pwd pass pw sig signature auth "
    "authorization credential credentials session sessionid cookie bearer private jwt".split()
)
_NAME_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,15}://[^\s<>\"'`]+")
_WEBHOOK = re.compile(r"(/webhooks/\d+/)[^/?#\s]+")
# "token=..." written outside a URL, e.g. in an exception's repr of request parameters.
_LOOSE_PARAM = re.compile(
    r"(?<![\w/])((?:access_|api_?|auth_?|refresh_|client_)?(?:token|key|secret|password|passwd|sig|signature)=)"
    r"[^\s&\"'<>,;]+",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """Whether a query or fragment parameter of this name holds a credential."""
    words = {w.lower() for w in _NAME_WORDS.findall(name)}
    return bool(words & _SECRET_WORDS) or name.lower().replace("-", "_") in ("api_key", "access_token")


def _mask_params(query: str) -> str:
    if not query:
        return query
    out = []
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        out.append(f"{name}={MASK}" if eq and value and is_secret_name(name) else part)
    return "&".join(out)


def mask_url(url: str) -> str:
    """The URL with its user info, secret-named parameters and webhook token masked."""
    if not url or "://" not in url:
        return _LOOSE_PARAM.sub(lambda m: m.group(1) + MASK, url) if url else url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return _LOOSE_PARAM.sub(lambda m: m.group(1) + MASK, url)
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    path = _WEBHOOK.sub(lambda m: m.group(1) + MASK, parts.path)
    query = _mask_params(parts.query)
    fragment = _mask_params(parts.fragment) if "=" in parts.fragment else parts.fragment
    masked = urlunsplit((parts.scheme, netloc, path, query, fragment))
    # urlunsplit drops a trailing "?" or "#": keep the original when nothing was masked.
    return url if (netloc, path, query, fragment) == (parts.netloc, parts.path, parts.query, parts.fragment) else masked


def mask_secrets(text: str) -> str:
    """Every URL in a free text masked with mask_url, and loose ``token=...`` pairs too."""
    if not text or ("://" not in text and "=" not in text):
        return text
    text = _URL.sub(lambda m: mask_url(m.group(0)), text)
    return _LOOSE_PARAM.sub(lambda m: m.group(1) + MASK, text)
