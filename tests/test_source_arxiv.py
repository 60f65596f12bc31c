"""Tests for the arXiv API Atom parser, against hand-written responses in arXiv's wire format."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from feeds.sources.arxiv import build_arxiv_url, find_code_url, parse_arxiv, split_arxiv_id
from storage.errors import SourceFormatError

RESOURCES = Path(__file__).parent / "resources" / "sources"


def load(name: str) -> bytes:
    return (RESOURCES / name).read_bytes()


def by_id(page):
    return {record.arxiv_id: record for record in page.result.records}


def test_seed_overlap_gives_full_author_lists_and_versions() -> None:
    page = parse_arxiv(load("arxiv_seed_overlap.xml"))
    assert (page.total_results, page.start_index, page.items_per_page) == (5, 0, 100)
    assert page.result.problems == []
    records = by_id(page)
    assert set(records) == {"2304.00792", "2304.03456", "2410.14975", "2401.02656", "2007.01458"}
    few_shot = records["2304.00792"]
    assert few_shot.title == (
        "Few-shot Fine-tuning is All You Need for Source-free Domain Adaptation"
    )
    # The listing cut this list at three names with "et al."; arXiv has all five.
    assert few_shot.authors == (
        "Suho Lee", "Seungwon Seo", "Jihyo Kim", "Yejin Lee", "Sangheum Hwang",
    )
    assert few_shot.authors_truncated is False
    assert few_shot.arxiv_version == 2
    assert few_shot.published == date(2023, 4, 3)
    assert few_shot.category == "cs.CV"
    assert few_shot.has_code and few_shot.code_url == "https://github.com/daintlab/fewshot-SFDA"
    assert "\n" not in few_shot.abstract and "  " not in few_shot.abstract
    assert few_shot.abstract.startswith("We argue that source-free unsupervised domain adaptation")
    assert records["2304.03456"].authors[2] == "ByeongMoon Ji"
    assert len(records["2401.02656"].authors) == 5
    assert records["2401.02656"].categories == ("cs.CV", "cs.LG")
    confidence = records["2007.01458"]
    assert confidence.arxiv_version == 3
    assert confidence.category == "cs.LG"
    assert confidence.categories == ("cs.LG", "stat.ML")
    assert confidence.comment == "ICML 2020"
    assert confidence.has_code is False and confidence.code_url is None
    assert confidence.doi is None


def test_links_are_classified() -> None:
    records = by_id(parse_arxiv(load("arxiv_seed_overlap.xml")))
    links = {link.rel: link for link in records["2304.00792"].links}
    assert links["alternate"].href == "http://arxiv.org/abs/2304.00792v2"
    assert links["pdf"].href == "http://arxiv.org/pdf/2304.00792v2"
    assert links["pdf"].type == "application/pdf"
    assert links["code"].href == "https://github.com/daintlab/fewshot-SFDA"


def test_page_with_accents_latex_and_a_bad_entry() -> None:
    page = parse_arxiv(load("arxiv_page1.xml"))
    assert (page.total_results, page.start_index, page.items_per_page) == (7, 0, 3)
    records = by_id(page)
    assert set(records) == {"2405.01234", "2405.00987"}
    sparse = records["2405.01234"]
    assert sparse.title == r"Sparse $\mathcal{O}(n \log n)$ Attention for Long-Document Understanding"
    assert sparse.authors == ("José Álvarez-Muñiz", "Zoë Weiß", "Nguyễn Văn Anh")
    assert sparse.arxiv_version == 3
    assert sparse.comment == "14 pages, 5 figures; v3: fixed Table 2"
    # The sentence's full stop is not part of the URL.
    assert sparse.code_url == "https://github.com/example-lab/sparse-attn"
    assert sparse.categories == ("cs.CV", "cs.CL")
    plain = records["2405.00987"]
    assert plain.comment is None and plain.doi is None and plain.journal_ref is None
    assert plain.has_code is False
    assert plain.authors == ("Åsa Lindqvist", "François Dupont")
    [problem] = page.result.problems
    assert problem.field == "title"
    assert "2405.00555" in problem.message
    # The problem points at the <entry> element's line in the response.
    lines = load("arxiv_page1.xml").decode().splitlines()
    assert lines[problem.line - 1].strip() == "<entry>"
    assert "2405.00555" in lines[problem.line]


def test_old_style_ids_doi_and_journal_ref() -> None:
    records = by_id(parse_arxiv(load("arxiv_page2.xml")))
    maldacena = records["hep-th/9711200"]
    assert maldacena.arxiv_version == 3
    assert maldacena.doi == "10.1023/A:1026654312961"
    assert maldacena.journal_ref == "Adv.Theor.Math.Phys.2:231-252,1998"
    assert maldacena.published == date(1997, 11, 27)
    assert maldacena.comment == "20 pages, harvmac, v2: section on open strings in AdS added"
    assert any(
        link.rel == "doi" and link.href.endswith("10.1023/A:1026654312961")
        for link in maldacena.links
    )
    perelman = records["math/0211159"]
    assert perelman.arxiv_version == 1
    assert perelman.category == "math.DG"
    assert perelman.categories == ("math.DG", "math.MG", "53C44")
    adapters = records["2404.11111"]
    assert adapters.category == "eess.IV"
    assert adapters.journal_ref == "Medical Image Analysis 95 (2024) 103187"
    assert adapters.code_url == "https://gitlab.com/med-lab/xattn-adapters"
    assert adapters.authors == ("Hyo-Eun Park", "Jan van der Berg")


def test_error_feed_is_a_format_error_with_arxivs_message() -> None:
    with pytest.raises(SourceFormatError, match=r"incorrect id format for 2304\.0079"):
        parse_arxiv(load("arxiv_error.xml"))


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not XML"),
        (b"<!DOCTYPE html><html><body><p>Service unavailable</p></body></html>", "<html>"),
        (b"<html><body><p>Maintenance</p></body></html>", "root element is <html>"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "root element is <rss>"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'><entry>", "not XML"),
    ],
)
def test_documents_that_are_not_arxiv_atom(body: bytes, needle: str) -> None:
    with pytest.raises(SourceFormatError, match=needle):
        parse_arxiv(body)


def test_empty_result_page_is_fine() -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<feed xmlns="http://www.w3.org/2005/Atom">'
        b"<title>ArXiv Query: search_query=au:nobody</title>"
        b'<opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0'
        b"</opensearch:totalResults></feed>"
    )
    page = parse_arxiv(body)
    assert page.total_results == 0
    assert page.result.records == [] and page.result.problems == []


def test_build_arxiv_url_sorts_newest_first_and_encodes_the_query() -> None:
    url = build_arxiv_url("http://export.arxiv.org/api/query", 'au:"Hwang, S" AND cat:cs.CV', 200, 100)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "export.arxiv.org", "/api/query")
    query = parse_qs(parts.query)
    assert query == {
        "search_query": ['au:"Hwang, S" AND cat:cs.CV'],
        "start": ["200"],
        "max_results": ["100"],
        "sortBy": ["submittedDate"],
        "sortOrder": ["descending"],
    }
    assert " " not in url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://arxiv.org/abs/2304.01234v2", ("2304.01234", 2)),
        ("https://arxiv.org/pdf/2304.00792", ("2304.00792", None)),
        ("http://arxiv.org/abs/hep-th/9901001v1", ("hep-th/9901001", 1)),
        ("http://arxiv.org/abs/math.GT/0309136v3", ("math.GT/0309136", 3)),
        ("arXiv preprint arXiv:2410.14975", ("2410.14975", None)),
        ("10.48550/arXiv.1611.01268", ("1611.01268", None)),
        ("0704.0001", ("0704.0001", None)),
        ("https://example.org/abs/2304.01234", (None, None)),
        ("", (None, None)),
    ],
)
def test_split_arxiv_id(text: str, expected: tuple[str | None, int | None]) -> None:
    assert split_arxiv_id(text) == expected


def test_find_code_url_trims_sentence_punctuation() -> None:
    assert find_code_url("see https://github.com/a/b).") == "https://github.com/a/b"
    assert find_code_url(None, "code: https://gitlab.com/g/p, thanks") == "https://gitlab.com/g/p"
    assert find_code_url("https://example.org/repo") is None
