"""Hostile files for every parser: the issue's cases, plus Hypothesis strategies per parser.

Every parser must either refuse a whole document with a SourceFormatError /
NotAListingError sentence, or return records that are clean (no invisible or
bidi control characters, no lone surrogates, right types) beside problems that
say what was skipped. Nothing else may escape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.sources.arxiv import parse_arxiv
from feeds.sources.bibtex import parse_bibtex
from feeds.sources.listing import parse_listing
from feeds.sources.rss import parse_feed
from paperboy.cli import main
from paperboy.inputs import parse_export
from storage.errors import NotAListingError, SourceFormatError
from storage.models import ParseResult
from storage.records import check_record
from tests.fault_figures import Figures, report, scale

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:feedparser.*")
FIGURES = Figures("hostile files")
EXAMPLES = scale(30, 1_000)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
BAD_CHARS = "\u202e\u2066\u2069\u200b\u200f\u00ad\ufeff\x0b\x1f\x85"
_BAD_RE = re.compile("[\u202a-\u202e\u2066-\u2069\u200b-\u200f\u00ad\ufeff\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.fixture(scope="module", autouse=True)
def _print_figures(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report(request, FIGURES)


def assert_clean(result: ParseResult) -> None:
    for record in result.records:
        for text in (record.title, *record.authors, record.abstract, record.category or "", *record.categories):
            assert not _BAD_RE.search(text), (text, record)
        assert record.title.strip()
        assert all(isinstance(a, str) and a.strip() for a in record.authors)
        assert check_record(record) == record  # already as clean as the store wants
    for problem in result.problems:
        assert problem.message and problem.field


# --- the cases, through `paperboy ingest` --------------------------------------

RSS_SURROGATE = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Lab</title><link>http://lab.example/</link><description>d</description>
<item><title>Broken &#xD800; reference</title><link>http://lab.example/a</link>
<author>x@lab.example (Jane Doe)</author><pubDate>Mon, 03 Apr 2023 10:00:00 GMT</pubDate></item>
<item><title>Reversed \xe2\x80\xaeeltit&#x202E; and isolated &#x2066;text&#x2069;</title>
<link>http://lab.example/b</link><author>x@lab.example.org (John&#x200B; Roe, Ada\xe2\x80\xae Lovelace)</author>
<pubDate>Mon, 03 Apr 2023 10:00:00 GMT</pubDate></item>
</channel></rss>"""


def _ingest(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, data: bytes | str) -> tuple[int, str, list]:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    db = tmp_path / "p.db"
    code = main(["--db", str(db), "ingest", str(path)])
    out = capsys.readouterr()
    main(["--db", str(db), "export", "--json"])
    papers = json.loads(capsys.readouterr().out)
    FIGURES.add("issue cases")
    return code, out.out + out.err, papers


def test_rss_with_a_lone_surrogate_reference_is_ingested(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, papers = _ingest(tmp_path, capsys, "news.rss", RSS_SURROGATE)
    assert code == 0, out
    assert "Traceback" not in out and "UnicodeEncodeError" not in out
    by_title = {p["title"]: p for p in papers}
    assert "Broken reference" in by_title
    reversed_one = by_title["Reversed eltit and isolated text"]
    assert reversed_one["authors"] == ["John Roe", "Ada Lovelace"]


EXPORT = [
    {"title": "Dict DOI", "authors": ["Jane Doe"], "doi": {"x": 1}},
    {"title": "String categories", "authors": ["Jane Doe"], "category": "CV", "categories": "CVLG"},
    {"title": "From the future", "authors": ["Jane Doe"], "first_seen_at": "2099-01-01T00:00:00+00:00"},
    {"title": "Hidden\u202e controls\u2066", "authors": ["Ja\u200bne Doe", "\u2067John Roe\u2069"]},
    {"title": "Number title", "authors": ["Jane Doe"], "published": 2023},
    {"title": "Kept", "authors": ["Jane Doe"], "categories": ["CV", "LG"], "doi": "10.1/x"},
    "not an object",
]


def test_export_json_with_wrong_types_keeps_the_good_entries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, papers = _ingest(tmp_path, capsys, "restore.json", json.dumps(EXPORT))
    assert code == 0, out
    assert "Traceback" not in out and "AttributeError" not in out
    assert sorted(p["title"] for p in papers) == ["Hidden controls", "Kept"]
    kept = next(p for p in papers if p["title"] == "Kept")
    assert kept["categories"] == ["CV", "LG"]
    hidden = next(p for p in papers if p["title"] == "Hidden controls")
    assert hidden["authors"] == ["Jane Doe", "John Roe"]
    assert "restore.json:1: doi: entry 1 skipped: doi must be text, not an object" in out
    assert "categories must be a list such as" in out and "'CVLG'" in out
    assert "first_seen_at 2099-01-01" in out and "in the future" in out
    assert "restore.json:5: published" in out
    assert "entry 7 is a string, not an object" in out


def test_listing_with_bidi_controls_splits_names_as_seen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        "CVApr 3, 2023\n"
        "Robust \u202eThings\u202c for \u2066Vision\u2069Jane\u200b Doe, Jo\u00adhn Roe\n"
        "An abstract.\n"
    )
    code, out, papers = _ingest(tmp_path, capsys, "lab.txt", text)
    assert code == 0, out
    [paper] = papers
    assert paper["title"] == "Robust Things for Vision"
    assert paper["authors"] == ["Jane Doe", "John Roe"]


def test_bibtex_with_bidi_controls_splits_names_as_seen() -> None:
    result = parse_bibtex(
        "@article{a, title={Hidden \u202eSecrets}, author={Doe, Jane \u2066and\u2069 Roe,\u200b John}, year=2023}\n"
    )
    [record] = result.records
    assert record.title == "Hidden Secrets"
    assert record.authors == ("Jane Doe", "John Roe")


def test_arxiv_with_forbidden_references_keeps_the_entry() -> None:
    body = _atom([("A &#xD800;title &#x202E;reversed", ["Jane &#x2066;Doe"], "abs &#1;")])
    result = parse_arxiv(body).result
    [record] = result.records
    assert record.title == "A title reversed" and record.authors == ("Jane Doe",)


# --- Hypothesis strategies, one per parser ----------------------------------------------

# Text with the characters hostile files carry: controls, bidi, surrogates, astral.
hostile_text = st.lists(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from([*BAD_CHARS, "\ud800", "\udfff", "&", "<", ",", " and ", "et al.", "Jane Doe"]),
    ),
    max_size=30,
).map("".join)
name_text = st.one_of(hostile_text, st.sampled_from(["Jane Doe", "Jae-Hun Lee", "Ada Lovelace", ""]))
# Character references, including ones no XML text may hold.
charref = st.integers(min_value=0, max_value=0x11FFFF).map(lambda c: f"&#x{c:X};")


def _xml_text(parts: list[str]) -> str:
    return "".join(p if p.startswith("&#x") else escape(p.encode("utf-8", "replace").decode("utf-8")) for p in parts)


xml_text = st.lists(st.one_of(hostile_text, charref), max_size=4).map(_xml_text)


def _atom(entries: list[tuple[str, list[str], str]]) -> bytes:
    items = "".join(
        f"<entry><id>http://arxiv.org/abs/2401.{i:05d}v1</id><published>2024-01-02T00:00:00Z</published>"
        f"<title>{title}</title><summary>{summary}</summary>"
        + "".join(f"<author><name>{a}</name></author>" for a in authors)
        + "</entry>"
        for i, (title, authors, summary) in enumerate(entries)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>q</title><id>http://arxiv.org/api/x</id>" + items + "</feed>"
    ).encode("utf-8", "surrogatepass")


@FUZZ
@given(st.lists(st.tuples(xml_text, st.lists(xml_text, max_size=3), xml_text), max_size=4))
def test_fuzz_arxiv(entries: list[tuple[str, list[str], str]]) -> None:
    FIGURES.add("fuzz examples: arxiv")
    try:
        result = parse_arxiv(_atom(entries)).result
    except SourceFormatError as exc:
        assert str(exc)
        return
    assert_clean(result)


@FUZZ
@given(st.lists(st.tuples(xml_text, xml_text, xml_text, st.sampled_from(["", "2023-04-03", "nonsense"])), max_size=4))
def test_fuzz_rss(items: list[tuple[str, str, str, str]]) -> None:
    FIGURES.add("fuzz examples: rss")
    body = "".join(
        f"<item><title>{t}</title><link>http://lab.example/{i}</link><author>x@y ({a})</author>"
        f"<description>{d}</description><pubDate>{when}</pubDate></item>"
        for i, (t, a, d, when) in enumerate(items)
    )
    doc = f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>L</title>{body}</channel></rss>'
    try:
        result = parse_feed(doc.encode("utf-8", "surrogatepass"))
    except SourceFormatError as exc:
        assert str(exc)
        return
    assert_clean(result)


@FUZZ
@given(st.lists(st.tuples(hostile_text, st.lists(name_text, max_size=3), st.sampled_from(["2023", "x", "99999"])),
                max_size=4))
def test_fuzz_bibtex(entries: list[tuple[str, list[str], str]]) -> None:
    FIGURES.add("fuzz examples: bibtex")
    text = "".join(
        f"@article{{k{i}, title={{{t}}}, author={{{' and '.join(authors)}}}, year={year}}}\n"
        for i, (t, authors, year) in enumerate(entries)
    )
    try:
        result = parse_bibtex(text.encode("utf-8", "replace").decode("utf-8"))
    except SourceFormatError as exc:
        assert str(exc)
        return
    assert_clean(result)


header = st.one_of(
    st.builds(lambda c, m, d, y, f: f"{c}{m} {d}, {y}{f}", st.sampled_from(["CV", "LG", "cs.AI", ""]),
              st.sampled_from(["Apr", "Feb", "Foo"]), st.integers(0, 40), st.integers(0, 3000),
              st.sampled_from(["", "Code", "Junk"])),
    hostile_text,
)


@FUZZ
@given(st.lists(st.tuples(header, st.tuples(hostile_text, st.lists(name_text, max_size=3)), hostile_text), max_size=5))
def test_fuzz_listing(entries: list[tuple[str, tuple[str, list[str]], str]]) -> None:
    FIGURES.add("fuzz examples: listing")
    text = "\n".join(f"{h}\n{title}{', '.join(names)}\n{abstract}" for h, (title, names), abstract in entries)
    try:
        result = parse_listing(text, as_of=date(2024, 6, 1), source="fuzz.txt")
    except NotAListingError as exc:
        assert str(exc)
        return
    assert_clean(result)


json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), hostile_text)
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=5), inner, max_size=3), max_leaves=6)
FIELDS = ["title", "authors", "abstract", "category", "categories", "published", "has_code", "code_url",
          "arxiv_id", "doi", "links", "key", "first_seen_at", "inferred_authors", "sources", "authors_truncated"]
good_entry = st.fixed_dictionaries({"title": hostile_text, "authors": st.lists(name_text, max_size=3)})
export_entry = st.one_of(
    json_value,
    st.builds(lambda base, extra: {**base, **extra}, good_entry, st.dictionaries(st.sampled_from(FIELDS), json_value)),
    st.builds(
        lambda base, when: {**base, "first_seen_at": when.isoformat(), "published": when.date().isoformat()},
        good_entry, st.datetimes(min_value=datetime(1, 1, 2), timezones=st.just(UTC)),
    ),
)


@FUZZ
@given(st.lists(export_entry, max_size=5))
def test_fuzz_export_json(entries: list) -> None:
    FIGURES.add("fuzz examples: export json")
    data = json.dumps(entries).encode()
    try:
        result = parse_export(Path("fuzz.json"), data)
    except SourceFormatError as exc:
        assert str(exc)
        return
    assert_clean(result)
    assert len(result.records) + len(result.problems) == len(entries)
    now = datetime.now(UTC)
    assert all(r.first_seen_at is None or r.first_seen_at <= now for r in result.records)
