"""Tests for the RSS/Atom/RDF feed parser, against hand-written lab-website style feeds."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import feedparser
import pytest

from feeds.sources.rss import html_to_text, parse_feed, split_author_string
from storage.errors import SourceFormatError

RESOURCES = Path(__file__).parent / "resources" / "sources"


def load(name: str) -> bytes:
    return (RESOURCES / name).read_bytes()


def by_title(result):
    return {record.title: record for record in result.records}


def test_rss_lab_feed() -> None:
    result = parse_feed(load("lab_news.rss"), base_url="https://daintlab.example.org/feed.xml")
    records = by_title(result)
    assert len(records) == 3
    stoch = records[
        "StochCA: A Novel Approach for Exploiting Pretrained Models with Cross-Attention"
    ]
    # dc:creator "A, B and C" becomes three ordered names.
    assert stoch.authors == ("Seungwon Seo", "Suho Lee", "Sangheum Hwang")
    assert stoch.published == date(2024, 2, 25)
    assert stoch.arxiv_id == "2402.16092"
    assert stoch.categories == ("Transfer Learning", "Domain Generalization")
    assert stoch.abstract.startswith("We introduce stochastic cross-attention (StochCA), a fine")
    assert "<" not in stoch.abstract and "  " not in stoch.abstract
    assert stoch.code_url == "https://github.com/daintlab/stochastic_cross_attention"
    pdfs = [link for link in stoch.links if link.rel == "pdf"]
    assert [p.href for p in pdfs] == ["https://daintlab.example.org/papers/stochca.pdf"]

    active = records[
        "Deep Active Learning with Contrastive Learning Under Realistic Data Pool Assumptions"
    ]
    # RSS <author> "email (Names)" keeps only the names.
    assert active.authors == ("Jihyo Kim", "Jeonghyeon Kim", "Sangheum Hwang")
    assert active.published is None
    # Entities decoded once by XML and once more as HTML, as feed readers do.
    assert "next & we test" in active.abstract
    # The DOI is only in a link inside the HTML description.
    assert active.doi == "10.5555/daintlab.2023.0325"
    assert active.arxiv_id is None

    slides = records["Lab seminar slides (no date given)"]
    assert slides.authors == ("Jihyo Kim",)
    assert slides.authors_truncated is True
    assert slides.published is None
    zips = [link for link in slides.links if link.href.endswith(".zip")]
    assert zips and zips[0].rel == "related" and zips[0].type == "application/zip"

    [problem] = result.problems
    assert problem.field == "title"
    assert problem.line == 4
    assert "untitled-item-4" in problem.message


def test_atom_lab_feed() -> None:
    records = by_title(parse_feed(load("lab_pubs.atom")))
    enhanced = records[
        "Enhanced OoD Detection through Cross-Modal Alignment of Multi-Modal Representations"
    ]
    assert enhanced.arxiv_id == "2503.18817" and enhanced.arxiv_version == 1
    assert enhanced.authors == ("Jeonghyeon Kim", "Sangheum Hwang")
    assert enhanced.published == date(2025, 3, 24)
    assert enhanced.category == "cs.CV"
    assert enhanced.abstract == (
        "Our study of out-of-distribution detection (OoDD) looks beyond "
        "single-modality models. A new loss pulls image and text embeddings closer together."
    )
    rels = {link.rel: link.href for link in enhanced.links}
    assert rels["pdf"] == "https://arxiv.org/pdf/2503.18817v1"
    assert rels["alternate"] == "https://arxiv.org/abs/2503.18817v1"

    noise = records["Semantic Noise Modeling for Better Representation Learning"]
    # The arXiv id comes from the entry id, an arXiv DOI.
    assert noise.arxiv_id == "1611.01268"
    assert noise.doi == "10.48550/arXiv.1611.01268"
    assert noise.published is None
    assert noise.abstract.startswith("We perturb latent representations with semantic noise")

    lung = records[
        "Accurate Lung Segmentation via Network-Wise Training of Convolutional Networks"
    ]
    assert lung.doi == "10.5555/dlmia.2017.0011"
    assert lung.published == date(2017, 9, 9)  # only <updated> is given
    assert any(link.rel == "doi" for link in lung.links)


def test_rdf_feed_and_relative_links() -> None:
    body = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://journal.example.org/rss">
    <title>Journal of Examples</title>
    <link>https://journal.example.org/</link>
    <description>Latest articles</description>
  </channel>
  <item rdf:about="https://journal.example.org/articles/42">
    <title>R\xe9seaux de neurones pour l'\xe9t\xe9</title>
    <link>https://journal.example.org/articles/42</link>
    <dc:creator>Ren\xe9e Fran\xe7ois; Lee, Jae-Hun</dc:creator>
    <dc:date>2023-06-30</dc:date>
    <dc:identifier>doi:10.5555/joe.2023.42</dc:identifier>
    <description>An article.</description>
  </item>
</rdf:RDF>"""
    [record] = parse_feed(body).records
    assert record.title == "Réseaux de neurones pour l'été"
    assert record.published == date(2023, 6, 30)
    assert record.doi == "10.5555/joe.2023.42"
    assert record.authors == ("Renée François", "Jae-Hun Lee")

    atom = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>t</title><id>urn:x</id><updated>2024-01-01T00:00:00Z</updated>
  <entry><title>Relative</title><id>urn:y</id><updated>2024-01-02T00:00:00Z</updated>
    <link rel="alternate" href="papers/relative.html"/></entry>
</feed>"""
    [record] = parse_feed(atom, base_url="https://lab.example.org/news/feed.atom").records
    assert record.links[0].href == "https://lab.example.org/news/papers/relative.html"


def test_ill_formed_but_usable_feed_is_parsed() -> None:
    whole = load("lab_news.rss").decode()
    # Cut the document off after the second item, as a dropped connection would.
    cut = whole[: whole.index("<item>", whole.index("<item>") + 1) + 60]
    assert feedparser.parse(cut.encode()).bozo  # really ill-formed
    result = parse_feed(cut.encode())
    assert len(result.records) >= 1
    assert result.records[0].title.startswith("StochCA")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "not"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)), "not"),
        (b"name,year\nfoo,2020\n", "not"),
    ],
)
def test_documents_that_are_not_feeds(body: bytes, needle: str) -> None:
    with pytest.raises(SourceFormatError, match=needle):
        parse_feed(body, base_url="https://lab.example.org/feed")


def test_html_page_is_a_format_error_naming_the_url() -> None:
    with pytest.raises(SourceFormatError, match=r"https://lab\.example\.org/feed"):
        parse_feed(load("not_a_feed.html"), base_url="https://lab.example.org/feed")


def test_feed_without_entries_is_empty_not_an_error() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet lab</title>'
        b"<link>https://lab.example.org/</link><description>nothing yet</description>"
        b"</channel></rss>"
    )
    result = parse_feed(body)
    assert result.records == [] and result.problems == []


def test_html_to_text_keeps_words_apart() -> None:
    assert html_to_text("<p>One</p><p>two<br/>three</p><script>x()</script>") == "One two three"
    assert html_to_text("a &amp; b &lt;c&gt;") == "a & b <c>"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A One, B Two and C Three", ("A One", "B Two", "C Three")),
        ("A One, B Two, and C Three", ("A One", "B Two", "C Three")),
        ("A One & B Two", ("A One", "B Two")),
        ("x@example.org (Solo Author)", ("Solo Author",)),
        ("Alexander Andersen", ("Alexander Andersen",)),
        ("Lee, Jae-Hun; Hwang, Sangheum", ("Jae-Hun Lee", "Sangheum Hwang")),
    ],
)
def test_split_author_string(raw: str, expected: tuple[str, ...]) -> None:
    assert split_author_string(raw) == expected
