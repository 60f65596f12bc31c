"""The site in a real headless Chromium: index → paper → author → topic → feed, at 390 and 1280 px.

Screenshots land in tests/out/ (git-ignored). Layout is measured from the page itself:
nothing wider than the viewport, no text box clipped by its container, no two pieces of
text on top of each other. Every same-site link on the pages visited must answer 200.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from feeds.publish import FeedSettings
from feeds.sources.listing import parse_listing_file
from feeds.web import make_app
from storage.models import PaperRecord
from storage.store import Store

OUT = Path(__file__).parent / "out"
DEMO = Path(__file__).parent.parent / "paperboy" / "demo" / "lab.txt"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
HOSTILE_TITLE = 'Breaking <script>window.pwned=1</script> & "Quoted" O\'Brien\'s Self-Supervised Learning (SSL)'
HOSTILE = PaperRecord(
    title=HOSTILE_TITLE,
    authors=("Jae-Hun Lee", "Maximilianus Wolfeschlegelsteinhausen-Bergerdorff", "O'Brien & <Sons>"),
    authors_truncated=True,
    abstract="We evaluate self-supervised learning (SSL) with a deliberately long unbroken token "
    "Supercalifragilisticexpialidocious_" + "x" * 80 + " and <b>markup</b> & ampersands.",
    category="CV",
    published=date(2024, 5, 1),
    doi="10.1000/hostile",
    has_code=True,
    code_url="https://github.com/example/hostile",
)
WIDTHS = (390, 1280)

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()) and not os.environ.get("CI"):
    pytest.skip(
        "Chromium is not installed here (apt-get install chromium chromium-driver; .ci/run does it in CI)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402  (after the skip: selenium is only needed with a browser)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

# Runs in the page: every visible text-bearing box, checked for overflow, clipping and overlap.
LAYOUT_JS = """
const vw = document.documentElement.clientWidth;
const problems = [];
if (document.documentElement.scrollWidth > vw + 1) {
  problems.push('page is ' + document.documentElement.scrollWidth + 'px wide in a ' + vw + 'px viewport');
}
const skip = el => el.closest('.skip, .visually-hidden');
const visible = el => {
  const s = getComputedStyle(el);
  return s.visibility !== 'hidden' && s.display !== 'none' && el.getClientRects().length > 0;
};
const boxes = [];
for (const el of document.querySelectorAll('body *')) {
  if (skip(el) || !visible(el)) continue;
  const s = getComputedStyle(el);
  const r = el.getBoundingClientRect();
  if (r.width > 0 && (r.right > vw + 1 || r.left < -1)) {
    problems.push(el.tagName + ' "' + el.textContent.trim().slice(0, 40) + '" reaches ' +
                  Math.round(r.left) + '..' + Math.round(r.right) + ' of ' + vw);
  }
  if (s.overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 1 && el.tagName !== 'HTML') {
    problems.push(el.tagName + ' "' + el.textContent.trim().slice(0, 40) + '" is cut off (' +
                  el.scrollWidth + ' > ' + el.clientWidth + ')');
  }
  const text = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (text || ['INPUT', 'BUTTON'].includes(el.tagName)) {
    boxes.push([el, [...el.getClientRects()].filter(b => b.width > 0 && b.height > 0)]);
  }
}
const hit = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
for (let i = 0; i < boxes.length; i++) {
  for (let j = i + 1; j < boxes.length; j++) {
    const [a, ra] = boxes[i], [b, rb] = boxes[j];
    if (a.contains(b) || b.contains(a)) continue;
    if (ra.some(x => rb.some(y => hit(x, y)))) {
      problems.push('"' + a.textContent.trim().slice(0, 30) + '" overlaps "' + b.textContent.trim().slice(0, 30) + '"');
    }
  }
}
return problems;
"""


# Runs in the page: WCAG contrast of every visible text element against its nearest opaque background.
CONTRAST_JS = """
const parse = c => (c.match(/[\\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => {
  const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const background = el => {
  for (let e = el; e; e = e.parentElement) {
    const c = parse(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0.99)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const low = [];
for (const el of document.querySelectorAll('body *')) {
  if (el.closest('.skip, .visually-hidden')) continue;
  const text = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!text || el.getClientRects().length === 0) continue;
  const fg = lum(parse(getComputedStyle(el).color).slice(0, 3)), bg = lum(background(el));
  const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  if (ratio < 4.5) low.push(el.tagName + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
}
return low;
"""


def _scheme(driver: webdriver.Chrome, scheme: str) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]}
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server on 127.0.0.1, in its own thread and event loop (Selenium's calls block)."""
    db = tmp_path_factory.mktemp("browser") / "site.db"
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: dict[str, Any] = {}

    async def serve() -> None:
        store = await Store.open(db)
        await store.ingest(parse_listing_file(DEMO, as_of=date(2026, 6, 1)).records, source="lab.txt")
        await store.ingest([HOSTILE], source="hostile.bib", kind="bibtex")
        runner = web.AppRunner(make_app(store, FeedSettings(title="Lab papers", base_url=url)))
        await runner.setup()
        await web.SockSite(runner, sock).start()
        stop["event"] = asyncio.Event()
        ready.set()
        await stop["event"].wait()
        await runner.cleanup()
        await store.close()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    assert ready.wait(30), "the server did not start"
    yield url
    loop.call_soon_threadsafe(stop["event"].set)
    thread.join(10)
    loop.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--no-first-run", "--no-default-browser-check",
        "--disable-features=Translate,OptimizationHints,MediaRouter", "--hide-scrollbars",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _set_width(driver: webdriver.Chrome, width: int) -> None:
    driver.set_window_size(width, 900)
    # The window includes browser chrome: widen until the page's own viewport is the width asked.
    inner = driver.execute_script("return window.innerWidth")
    if inner != width:
        driver.set_window_size(width + (width - inner), 900)


def _full_page_screenshot(driver: webdriver.Chrome, path: Path) -> None:
    """The whole page, beyond the viewport, without resizing the window (DevTools does the capture)."""
    width, height = driver.execute_script(
        "return [document.documentElement.clientWidth, document.documentElement.scrollHeight]"
    )
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 8000), "scale": 1},
    })
    path.write_bytes(base64.b64decode(shot["data"]))


def _visit(driver: webdriver.Chrome, url: str, width: int, name: str, site: str, checked: set[str]) -> None:
    driver.get(url)
    problems = driver.execute_script(LAYOUT_JS)
    OUT.mkdir(exist_ok=True)
    _full_page_screenshot(driver, OUT / f"{name}-{width}.png")
    assert not problems, f"{name} at {width}px: {problems}"
    # Text keeps WCAG AA contrast in the light and the dark scheme alike.
    for scheme in ("light", "dark"):
        _scheme(driver, scheme)
        low = driver.execute_script(CONTRAST_JS)
        assert not low, f"{name} at {width}px, {scheme}: {low}"
    if name == "paper":
        _scheme(driver, "dark")
        _full_page_screenshot(driver, OUT / f"{name}-{width}-dark.png")
    _scheme(driver, "light")
    assert driver.execute_script("return window.pwned") is None, "a title ran as script"
    for link in driver.find_elements(By.CSS_SELECTOR, "a[href]"):
        href = link.get_attribute("href").split("#")[0]
        if href.startswith(site) and href not in checked:
            checked.add(href)
            assert _status(href) == 200, f"{href} (linked from {url})"


@pytest.fixture(scope="module")
def checked() -> set[str]:
    """Same-site links already fetched: a link answers the same whatever the window width."""
    return set()


@pytest.mark.parametrize("width", WIDTHS)
def test_walk_the_site(browser: webdriver.Chrome, site: str, width: int, checked: set[str]) -> None:
    _set_width(browser, width)
    assert browser.execute_script("return window.innerWidth") == width

    _visit(browser, site, width, "index", site, checked)
    paper_link = next(a for a in browser.find_elements(By.CSS_SELECTOR, "ol.papers h3 a")
                      if a.text == HOSTILE_TITLE)
    paper_url = paper_link.get_attribute("href")
    paper_link.click()
    assert browser.current_url == paper_url

    _visit(browser, paper_url, width, "paper", site, checked)
    # The hostile title shows as the text it is, in the heading and the tab title.
    assert browser.find_element(By.TAG_NAME, "h1").text == HOSTILE_TITLE
    assert browser.title.startswith(HOSTILE_TITLE)
    assert "\\&" in browser.find_element(By.CSS_SELECTOR, "pre.cite").text  # LaTeX-escaped BibTeX
    metas = {m.get_attribute("name"): m.get_attribute("content")
             for m in browser.find_elements(By.CSS_SELECTOR, "meta[name^=citation_]")}
    assert metas["citation_title"] == HOSTILE_TITLE and metas["citation_doi"] == "10.1000/hostile"
    browser.find_element(By.LINK_TEXT, "Jae-Hun Lee").click()
    author_url = browser.current_url
    assert author_url == site + "authors/jae-hun-lee"

    _visit(browser, author_url, width, "author", site, checked)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Jae-Hun Lee"
    topic = browser.find_element(By.CSS_SELECTOR, "a.chip[href*='/topics/']")
    topic_url = topic.get_attribute("href")
    topic.click()
    assert browser.current_url == topic_url

    _visit(browser, topic_url, width, "topic", site, checked)
    feed = browser.find_element(By.LINK_TEXT, "Atom")
    feed_url = feed.get_attribute("href")
    assert feed_url == topic_url + ".atom"
    feed.click()
    assert browser.current_url == feed_url
    assert _status(feed_url) == 200
    assert len(checked) > 20
