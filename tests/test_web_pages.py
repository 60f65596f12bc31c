"""The site's pages over real HTTP: paper, .bib, author, topic, category, directories, filters, redirects, 404s."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path

import aiohttp
import pytest
from lxml import etree
from lxml import html as lxml_html

from storage import cite
from storage.store import Store
from tests.test_web import RECORDS, start

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[str, Store, aiohttp.ClientSession]]:
    store = await Store.open(tmp_path / "pages.db")
    await store.ingest(RECORDS, source="seed")
    runner, url, _, _ = await start(store)
    async with aiohttp.ClientSession() as session:
        yield url, store, session
    await runner.cleanup()
    await store.close()


async def fetch(session: aiohttp.ClientSession, url: str, **kw: object) -> tuple[int, Mapping[str, str], str]:
    async with session.get(url, allow_redirects=False, **kw) as response:
        return response.status, response.headers.copy(), await response.text()


async def test_paper_page_has_everything_a_reader_and_a_scholar_tool_need(site) -> None:
    url, store, session = site
    paper = next(p for p in await store.latest(10) if p.arxiv_id == "2304.03456")
    status, headers, text = await fetch(session, f"{url}papers/{paper.key}")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Last-Modified" in headers and "ETag" in headers
    page = lxml_html.fromstring(text)
    assert page.findtext(".//h1") == paper.title
    meta = [(m.get("name"), m.get("content")) for m in page.iter("meta") if m.get("name")]
    assert ("citation_title", paper.title) in meta
    assert [v for k, v in meta if k == "citation_author"] == ["Jae-Hun Lee", "Doyoung Yoon", "ByeongMoon Ji"]
    assert ("citation_publication_date", "2023/04/07") in meta
    assert ("citation_arxiv_id", "2304.03456") in meta
    assert ("citation_pdf_url", "https://arxiv.org/pdf/2304.03456") in meta
    og = dict((m.get("property"), m.get("content")) for m in page.iter("meta") if m.get("property"))
    assert og["og:title"] == paper.title and og["og:url"] == f"{url}papers/{paper.key}"
    assert og["og:description"].startswith("Jae-Hun Lee, Doyoung Yoon, ByeongMoon Ji et al.")
    hrefs = {a.get("href") for a in page.iter("a")}
    assert {f"{url}authors/jae-hun-lee", f"{url}topics/ssl", f"{url}categories/cv",
            "https://arxiv.org/abs/2304.03456", "https://arxiv.org/pdf/2304.03456",
            f"{url}papers/{paper.key}.bib", f"{url}authors/jae-hun-lee.atom"} <= hrefs
    alternates = [link.get("href") for link in page.iter("link") if link.get("rel") == "alternate"]
    assert f"{url}authors/jae-hun-lee.atom" in alternates and f"{url}topics/ssl.atom" in alternates
    bibtex = page.find(".//pre").text_content()
    assert bibtex == cite.bibtex(paper, url=f"{url}papers/{paper.key}")
    # Landmarks and heading order for screen readers.
    assert page.find(".//main") is not None and page.find(".//header") is not None
    assert page.find(".//label[@for='q']") is not None
    levels = [int(h.tag[1]) for h in page.iter("h1", "h2", "h3")]
    assert levels[0] == 1 and all(b - a <= 1 for a, b in itertools.pairwise(levels))


async def test_bib_download_and_aliases(site) -> None:
    url, store, session = site
    paper = next(p for p in await store.latest(10) if p.arxiv_id == "2304.03456")
    status, headers, text = await fetch(session, f"{url}papers/{paper.key}.bib")
    assert status == 200 and headers["Content-Type"] == "application/x-bibtex; charset=utf-8"
    assert headers["Content-Disposition"] == f'inline; filename="{paper.key}.bib"'
    assert text.startswith(f"@misc{{{cite.citation_key(paper)},")
    # A DOI key keeps its slash in the path.
    hostile = next(p for p in await store.latest(10) if p.doi == "10.1000/hostile")
    status, _, text = await fetch(session, f"{url}papers/{hostile.key}")
    assert status == 200 and "Attack &lt;script&gt;" in text and "<script>" not in text
    # An arXiv id with a version is an alias: it redirects to the page under the key.
    if paper.key != "2304.03456v2":
        status, headers, _ = await fetch(session, f"{url}papers/2304.03456v2")
        assert status == 301 and headers["Location"] == f"{url}papers/{paper.key}"
        status, headers, _ = await fetch(session, f"{url}papers/2304.03456v2.bib")
        assert status == 301 and headers["Location"] == f"{url}papers/{paper.key}.bib"
    status, headers, text = await fetch(session, f"{url}papers/rethinking-evaluation")
    assert status == 404 and headers["Cache-Control"] == "no-cache"
    assert "No such paper" in text and f"{url}papers/{paper.key}" in text  # a suggestion


async def test_author_topic_and_category_pages(site) -> None:
    url, _, session = site
    status, _, text = await fetch(session, f"{url}authors/jae-hun-lee")
    page = lxml_html.fromstring(text)
    assert status == 200 and page.findtext(".//h1") == "Jae-Hun Lee"
    assert "2 papers, 2023–2023." in text
    hrefs = {a.get("href") for a in page.iter("a")}
    assert {f"{url}authors/jae-hun-lee.atom", f"{url}authors/doyoung-yoon", f"{url}topics/ssl",
            f"{url}authors/jae-hun-lee?year=2023"} <= hrefs
    status, _, text = await fetch(session, f"{url}authors/jae-hun-lee?year=2022")
    assert status == 200 and "No papers in this year." in text
    status, headers, _ = await fetch(session, f"{url}authors/Jae-Hun-Lee")
    assert status == 301 and headers["Location"] == f"{url}authors/jae-hun-lee"
    status, _, text = await fetch(session, f"{url}authors/jae-hun-le")
    assert status == 404 and f"{url}authors/jae-hun-lee" in text
    status, _, text = await fetch(session, f"{url}topics/ssl")
    assert status == 200 and "Topic: SSL" in text and f"{url}topics/ssl.rss" in text
    assert len(re.findall(r"<h3>", text)) == 2
    status, headers, _ = await fetch(session, f"{url}topics/SSL")
    assert status == 301 and headers["Location"] == f"{url}topics/ssl"
    status, _, text = await fetch(session, f"{url}categories/cv")
    assert status == 200 and "Category: CV" in text and len(re.findall(r"<h3>", text)) == 2
    status, headers, _ = await fetch(session, f"{url}categories/CV")
    assert status == 301 and headers["Location"] == f"{url}categories/cv"
    for path in ("authors/", "topics/"):
        status, _, text = await fetch(session, url + path)
        assert status == 200 and (f"{url}authors/jae-hun-lee" in text or f"{url}topics/ssl" in text)


async def test_index_filters_are_plain_links_that_combine(site) -> None:
    url, _, session = site
    status, _, text = await fetch(session, url, params={"category": "CV", "year": "2023"})
    assert status == 200 and "Papers: category CV, 2023" in text
    titles = [h.text_content() for h in lxml_html.fromstring(text).iter("h3")]
    assert len(titles) == 2 and all("Attack" not in t for t in titles)
    # The current filter links to its removal; others keep it.
    assert f'href="{url}?category=CV"' in text  # year chip toggles off, category stays
    assert f'href="{url}?year=2023"' in text  # category chip toggles off, year stays
    status, _, text = await fetch(session, url, params={"topic": "ssl"})
    assert len(lxml_html.fromstring(text).findall(".//h3")) == 2
    status, _, text = await fetch(session, url, params={"year": "1999"})
    assert status == 200 and "No papers match these filters." in text


async def test_atom_updated_moves_only_with_a_visible_change(site) -> None:
    url, store, session = site
    paper = next(p for p in await store.latest(10) if p.arxiv_id == "2304.03456")

    async def updated() -> str:
        async with session.get(f"{url}authors/jae-hun-lee.atom") as response:
            root = etree.fromstring(await response.read())
        entry = next(e for e in root.iter(f"{ATOM}entry") if e.findtext(f"{ATOM}title") == paper.title)
        return entry.findtext(f"{ATOM}updated")

    first = await updated()
    assert first.startswith("2023-04-07T")  # the paper's own date, not the ingest time
    await store.ingest(RECORDS, source="seed")  # the same records again: nothing visible changed
    assert await updated() == first
    record = next(r for r in RECORDS if r.arxiv_id == "2304.03456")
    await store.ingest([replace(record, doi="10.5555/published")], source="journal", kind="bibtex")
    after = await updated()
    assert after > first and date.fromisoformat(after[:10]) >= date.today().replace(day=1)


async def test_search_text_is_escaped_exactly_once(site) -> None:
    url, _, session = site
    status, _, text = await fetch(session, url, params={"q": "OoD & CLIP"})
    assert status == 200
    assert "<title>Results for “OoD &amp; CLIP” — Lab feed</title>" in text
    assert "<h1>Results for “OoD &amp; CLIP”</h1>" in text and 'value="OoD &amp; CLIP"' in text
    assert "&amp;amp;" not in text
