"""Static export: every feed, the index, each paper/author/topic/category page and the OPML list, as served."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path

from feeds._web_pages import Pages
from feeds._web_site import FORMATS, FeedStore, Missing, Moved, Site, feed_path
from feeds.publish import FeedSettings
from storage.pages import Filters

log = logging.getLogger(__name__)


async def build_static(store: FeedStore, settings: FeedSettings, out_dir: Path) -> list[Path]:
    """Render the whole site into ``out_dir`` and return the files written.

    The bytes are the ones the HTTP server sends for the same store, so the folder can
    be served by any static web server under ``settings.base_url``. Each file is
    replaced atomically: a reader never sees a half-written feed.
    """
    site = Site(store, settings)
    catalogue = await site.catalogue()
    files: dict[str, bytes] = {}
    feeds: list[tuple[str | None, str | None]] = [(None, None)]
    feeds += [("authors", link.slug) for link in catalogue.authors]
    feeds += [("topics", link.slug) for link in catalogue.topics]
    feeds += [("categories", link.slug) for link in catalogue.categories]
    for kind, slug in feeds:
        result = await site.feed(kind, slug)
        if isinstance(result, Missing | Moved):
            # The catalogue and the feed look-ups read the same store; a miss here means
            # the store changed under the export. Skip rather than write a wrong file.
            log.warning("static export: %s/%s vanished during the export; skipped", kind, slug)
            continue
        for fmt in FORMATS:
            files[feed_path(kind, slug, fmt)] = result[fmt].body
    pages = Pages(store, settings, site.renderer)  # type: ignore[arg-type]
    files["index.html"] = (await pages.index(query=None, filters=Filters(), page=1)).body
    files["static/style.css"] = pages.stylesheet().body
    # Each page as a folder's index.html, so a static server answers the same URL the app does
    # (filters and later pages take a query string and are served by the app alone).
    files["authors/index.html"] = (await pages.authors(1)).body
    files["topics/index.html"] = (await pages.topics(1)).body
    for (key,) in await store.db.fetchall("SELECT key FROM papers ORDER BY id"):
        page = await pages.paper(key)
        bib = await pages.paper_bib(key)
        if isinstance(page, Missing | Moved) or isinstance(bib, Missing | Moved):
            continue
        files[f"papers/{key}/index.html"] = page.body
        files[f"papers/{key}.bib"] = bib.body
    for kind, links, build in (
        ("authors", catalogue.authors, pages.author),
        ("topics", catalogue.topics, pages.topic),
        ("categories", catalogue.categories, pages.category),
    ):
        for link in links:
            result = await build(link.slug, year=None, page=1)
            if not isinstance(result, Missing | Moved):
                files[f"{kind}/{link.slug}/index.html"] = result.body
    files["feeds.opml"] = (await site.opml()).body
    return await asyncio.to_thread(_write_all, Path(out_dir), files)


def _write_all(out_dir: Path, files: dict[str, bytes]) -> list[Path]:
    root = out_dir.resolve()
    written: list[Path] = []
    for relative, body in files.items():
        target = (root / relative).resolve()
        # Slugs are validated upstream; this guards the file system all the same.
        if root not in target.parents:
            raise ValueError(f"refusing to write {relative!r} outside {root}")
        _write_atomic(target, body)
        written.append(target)
    log.info("static export: wrote %d files to %s", len(written), root)
    return written


def _write_atomic(target: Path, body: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
