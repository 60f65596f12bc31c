"""Telling a listing from other input: decoding file bytes and naming what a non-listing looks like."""

from __future__ import annotations

import csv
import logging
import re

from storage.errors import NotAListingError

log = logging.getLogger(__name__)

_EXAMPLE = "a header line such as 'CVApr 3, 2023Code' starting each entry"


def _named(source: str | None) -> str:
    return f"{source} is not a paper listing" if source else "the input is not a paper listing"


def binary_data_error(source: str | None, offset: int) -> NotAListingError:
    return NotAListingError(f"{_named(source)}: it is binary data (NUL byte at offset {offset})")


def decode_listing_bytes(data: bytes, source: str | None, *, offset: int = 0) -> str:
    """Decode a listing file's bytes (UTF-8 with or without BOM, or BOM-marked UTF-16).

    ``offset`` is where ``data`` starts in its file, so an error names the file's byte.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise NotAListingError(
                f"{_named(source)}: it starts with a UTF-16 byte-order mark but does not "
                f"decode as UTF-16 ({exc.reason} at byte {offset + exc.start})"
            ) from exc
    if b"\x00" in data:
        raise binary_data_error(source, offset + data.index(0))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotAListingError(
            f"{_named(source)}: it is binary or not UTF-8 text "
            f"(byte 0x{data[exc.start]:02x} at offset {offset + exc.start} does not decode)"
        ) from exc


def _looks_like_table(lines: list[str]) -> str | None:
    sample = lines[:20]
    if len(sample) < 2:
        return None
    for delimiter, name in ((",", "CSV (comma-separated values)"), ("\t", "TSV (tab-separated)"),
                            (";", "semicolon-separated values")):
        try:
            widths = {len(row) for row in csv.reader(sample, delimiter=delimiter)}
        except csv.Error:
            continue
        if len(widths) == 1 and widths.pop() >= 2:
            return name
    return None


def describe_non_listing(text: str, source: str | None) -> str:
    """The NotAListingError message for a text with no entry header: what it looks like instead."""
    stripped = text.lstrip("\ufeff").strip()
    lines = [line for line in re.split(r"\r\n|\r|\n", stripped) if line.strip()]
    if not stripped:
        what = "it is empty" if not text else "it holds only whitespace"
        return f"{_named(source)}: {what}"
    if "\x00" in text:
        return f"{_named(source)}: it is binary data (NUL characters)"
    head = stripped[:400].lower()
    if head.startswith(("{", "[")):
        what = "JSON"
    elif "<feed" in head or "<rss" in head:
        what = "an RSS/Atom feed (add it as a source of kind 'feed')"
    elif head.startswith("<"):
        what = "HTML or XML"
    elif re.match(r"@\w+\s*\{", stripped):
        what = "BibTeX (add it as a source of kind 'bibtex')"
    else:
        what = _looks_like_table(lines) or "plain prose"
    return f"{_named(source)}: it looks like {what}, and lacks {_EXAMPLE}"
