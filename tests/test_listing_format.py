"""The listing format around the boundary: line ends, headers, dates, code links, errors, files, rendering."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from feeds.sources.listing import parse_listing, parse_listing_file, render_listing
from storage.errors import InvalidInputError, NotAListingError
from storage.models import PaperRecord

AS_OF = date(2026, 1, 1)

CLEAN = (
    "CVApr 3, 2023Code\n"
    "First Paper on SSLAna Lima, Bo Chen et al.\n"
    "We study SSL; code at https://github.com/lab/first.\n"
    "LGMar 9, 2021\n"
    "Second Paper?Bo Chen\n"
    "A second abstract.\n"
)
EXPECTED = [
    ("CV", date(2023, 4, 3), True, "https://github.com/lab/first", "First Paper on SSL",
     ("Ana Lima", "Bo Chen"), True, "We study SSL; code at https://github.com/lab/first.", 1),
    ("LG", date(2021, 3, 9), False, None, "Second Paper?", ("Bo Chen",), False,
     "A second abstract.", 4),
]  # fmt: skip


def fields(text: str) -> list[tuple[object, ...]]:
    result = parse_listing(text, as_of=AS_OF)
    assert result.problems == []
    return [
        (r.category, r.published, r.has_code, r.code_url, r.title, r.authors,
         r.authors_truncated, r.abstract, r.line)
        for r in result.records
    ]  # fmt: skip


def test_clean_listing() -> None:
    assert fields(CLEAN) == EXPECTED


@pytest.mark.parametrize(
    "variant",
    [
        "\ufeff" + CLEAN,
        CLEAN.replace("\n", "\r\n"),
        CLEAN.replace("\n", "\r"),
        CLEAN.replace("\n", "  \t\n"),
        CLEAN.replace(" ", "\u00a0"),
        CLEAN.replace(" ", "\t"),
    ],
    ids=["bom", "crlf", "lone-cr", "trailing-space", "nbsp", "tabs"],
)
def test_tolerated_encodings_of_the_same_listing(variant: str) -> None:
    assert fields(variant) == EXPECTED


def test_blank_lines_anywhere_between_entries_keep_line_numbers() -> None:
    lines = CLEAN.splitlines()
    text = "\n\n" + "\n".join([*lines[:3], "", "   ", *lines[3:5], "", *lines[5:]]) + "\n\n"
    records = parse_listing(text, as_of=AS_OF).records
    assert [r.line for r in records] == [3, 8]
    assert [r.abstract for r in records] == [EXPECTED[0][7], "A second abstract."]


def test_entry_without_abstract_is_kept_with_empty_abstract() -> None:
    text = "CVApr 3, 2023Code\nFirst PaperAna Lima\nLGMar 9, 2021\nSecond PaperBo Chen\nText.\n"
    records = parse_listing(text, as_of=AS_OF).records
    assert [(r.title, r.abstract, r.code_url, r.line) for r in records] == [
        ("First Paper", "", None, 1),
        ("Second Paper", "Text.", None, 3),
    ]


def test_wrapped_abstract_lines_stay_with_their_entry() -> None:
    text = "CVApr 3, 2023\nA PaperAna Lima\nFirst half of the\n  abstract, second half.\n"
    [record] = parse_listing(text, as_of=AS_OF).records
    assert record.abstract == "First half of the abstract, second half."


@pytest.mark.parametrize(
    ("header", "category", "published", "has_code"),
    [
        ("CVApr 3, 2023Code", "CV", date(2023, 4, 3), True),
        ("cs.CVApr 3, 2023", "cs.CV", date(2023, 4, 3), False),
        ("ROSept 30, 2019Code", "RO", date(2019, 9, 30), True),
        ("AIJanuary 2, 2020", "AI", date(2020, 1, 2), False),
        ("CLDec 03, 2022 Code", "CL", date(2022, 12, 3), True),
        ("STATMay 5 2024", "STAT", date(2024, 5, 5), False),
    ],
)
def test_header_shapes(header: str, category: str, published: date, has_code: bool) -> None:
    [record] = parse_listing(f"{header}\nA PaperAna Lima\nText.\n", as_of=AS_OF).records
    assert (record.category, record.published, record.has_code) == (category, published, has_code)


@pytest.mark.parametrize(
    ("as_of", "header", "expected"),
    [
        (date(2026, 11, 25), "Feb 23", date(2026, 2, 23)),
        (date(2026, 2, 20), "Feb 23", date(2025, 2, 23)),
        (date(2026, 2, 23), "Feb 23", date(2026, 2, 23)),
        (date(2025, 3, 1), "Feb 29", date(2024, 2, 29)),
        (date(2024, 2, 28), "Feb 29", date(2020, 2, 29)),
        (date(2024, 1, 1), "Dec 31", date(2023, 12, 31)),
    ],
)
def test_year_less_dates_take_the_latest_year_not_after_as_of(
    as_of: date, header: str, expected: date
) -> None:
    [record] = parse_listing(f"CV{header}\nA PaperAna Lima\n", as_of=as_of).records
    assert record.published == expected


def test_as_of_defaults_to_today_utc() -> None:
    today = datetime.now(UTC).date()
    header = f"CV{today.strftime('%b')} {today.day}"
    [record] = parse_listing(f"{header}\nA PaperAna Lima\n").records
    assert record.published == today


@pytest.mark.parametrize(
    ("abstract", "url"),
    [
        ("Code: https://github.com/daintlab/ReGuide.", "https://github.com/daintlab/ReGuide"),
        ("(see https://github.com/a/b), then", "https://github.com/a/b"),
        ("at https://github.com/a/b; and http://x.org/c", "https://github.com/a/b"),
        ("see https://en.wiki.org/A_(b) now", "https://en.wiki.org/A_(b)"),
        ("code is https://github.com/a/b-c_d,", "https://github.com/a/b-c_d"),
        ("no link here", None),
    ],
)
def test_code_url_is_the_first_link_without_trailing_punctuation(
    abstract: str, url: str | None
) -> None:
    [with_flag] = parse_listing(f"CVApr 3, 2023Code\nA PaperAna Lima\n{abstract}\n").records
    [without] = parse_listing(f"CVApr 3, 2023\nA PaperAna Lima\n{abstract}\n").records
    assert (with_flag.has_code, with_flag.code_url) == (True, url)
    assert (without.has_code, without.code_url) == (False, None)


MALFORMED = """\
CVApr 3, 2023
Good OneAna Lima
Abstract one.
CVApx 3, 2023
Bad MonthAna Lima
Abstract.
Feb 30, 2023
No CategoryAna Lima
CVFeb 30, 2023
Impossible DayAna Lima
CVMar 3, 2023Slides
Unknown FlagAna Lima
CVMar 4, 2023
CVMar 5, 2023
no authors here at all
Abstract.
CVMar 6, 2023
Good TwoBo Chen
Abstract two.
CVMar 7, 23
Short YearBo Chen
"""


def test_malformed_entries_are_reported_with_lines_and_the_rest_kept() -> None:
    result = parse_listing(MALFORMED, as_of=AS_OF, source="lab.txt")
    assert [(r.title, r.line) for r in result.records] == [("Good One", 1), ("Good Two", 17)]
    got = [(p.line, p.field, p.source) for p in result.problems]
    assert got == [
        (4, "date", "lab.txt"),
        (7, "category", "lab.txt"),
        (9, "date", "lab.txt"),
        (11, "flag", "lab.txt"),
        (13, "title", "lab.txt"),
        (15, "authors", "lab.txt"),
        (20, "date", "lab.txt"),
    ]
    messages = [p.message for p in result.problems]
    assert "Apx" in messages[0]
    assert "Feb 30, 2023" in messages[2]
    assert "Slides" in messages[3]
    assert "no authors here" in messages[5]
    assert str(result.problems[0]).startswith("lab.txt:4: date: ")


def test_text_before_the_first_header_is_reported() -> None:
    result = parse_listing("Publications\n\nCVApr 3, 2023\nA PaperAna Lima\n", as_of=AS_OF)
    assert [r.title for r in result.records] == ["A Paper"]
    assert [(p.line, p.field) for p in result.problems] == [(1, "entry")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("  \n\t\n", "whitespace"),
        ("CVApr 3, 2023\x00\x01\x02", "binary"),
        ("CVApr 3, 2023\nA PaperAna Lima\x00\x00\n", "binary"),
        ("title,authors,year\nA Paper,Ana Lima,2023\nB Paper,Bo Chen,2021\n", "CSV"),
        ("title\tauthors\nA Paper\tAna Lima\n", "TSV"),
        ('{"papers": []}', "JSON"),
        ("<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'></feed>", "feed"),
        ("@article{key, title={A}}", "BibTeX"),
        ("It was a bright cold day in April, and the clocks were striking thirteen.\n"
         "Winston Smith slipped quickly through the glass doors.\n", "prose"),
    ],
)  # fmt: skip
def test_not_a_listing(text: str, expected: str) -> None:
    with pytest.raises(NotAListingError, match=expected) as info:
        parse_listing(text, source="upload.txt")
    assert "upload.txt" in str(info.value)


def test_file_bom_crlf_and_mtime_as_of(tmp_path: Path) -> None:
    path = tmp_path / "lab.txt"
    path.write_bytes(("\ufeffCVFeb 23\r\nA PaperAna Lima\r\nText.\r\n").encode())
    stamp = datetime(2026, 2, 20, 12, tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))
    [record] = parse_listing_file(path).records
    assert (record.published, record.title, record.abstract) == (date(2025, 2, 23), "A Paper", "Text.")
    assert parse_listing_file(path, as_of=date(2026, 3, 1)).records[0].published == date(
        2026, 2, 23
    )


def test_file_in_utf16_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "lab16.txt"
    path.write_bytes("CVApr 3, 2023\nÉtude on SSLŁukasz Kaiser\n".encode("utf-16"))
    [record] = parse_listing_file(path, as_of=AS_OF).records
    assert (record.title, record.authors) == ("Étude on SSL", ("Łukasz Kaiser",))


def test_problems_from_a_file_name_it(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("CVApx 3, 2023\nBad MonthAna Lima\nCVApr 3, 2023\nOkAna Lima\n")
    result = parse_listing_file(path, as_of=AS_OF)
    assert [r.title for r in result.records] == ["Ok"]
    assert [(p.source, p.line) for p in result.problems] == [("mine.txt", 1)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"CVApr 3, 2023\nA Paper\xff\xfeAna\n", "not UTF-8"),
        (b"a,b,c\n1,2,3\n4,5,6\n", "CSV"),
    ],
)
def test_not_a_listing_file(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "odd.bin"
    path.write_bytes(data)
    with pytest.raises(NotAListingError, match=expected) as info:
        parse_listing_file(path, as_of=AS_OF)
    assert "odd.bin" in str(info.value)


def test_render_writes_the_three_line_format() -> None:
    records = [
        PaperRecord(
            title="A  Paper on SSL",
            authors=("Ana Lima", "Bo  Chen"),
            authors_truncated=True,
            abstract="Code: https://github.com/a/b.",
            category="CV",
            published=date(2023, 4, 3),
            has_code=True,
        ),
        PaperRecord(title="Quiet?", authors=("OpenAI",), category="LG", published=date(2020, 12, 31)),
    ]
    text = render_listing(records)
    assert text == (
        "CVApr 3, 2023Code\nA Paper on SSLAna Lima, Bo Chen et al.\nCode: https://github.com/a/b.\n"
        "LGDec 31, 2020\nQuiet?OpenAI\n"
    )
    back = parse_listing(text, as_of=AS_OF).records
    assert [(r.title, r.authors, r.code_url) for r in back] == [
        ("A Paper on SSL", ("Ana Lima", "Bo Chen"), "https://github.com/a/b"),
        ("Quiet?", ("OpenAI",), None),
    ]
    assert render_listing([]) == ""


@pytest.mark.parametrize(
    ("record", "missing"),
    [
        (PaperRecord(title="T", authors=("A B",), published=date(2020, 1, 1)), "category"),
        (PaperRecord(title="T", authors=("A B",), category="CV"), "date"),
        (PaperRecord(title="T", category="CV", published=date(2020, 1, 1)), "authors"),
    ],
)
def test_render_refuses_records_the_format_cannot_hold(record: PaperRecord, missing: str) -> None:
    with pytest.raises(InvalidInputError, match=missing):
        render_listing([record])


@pytest.mark.parametrize("broken", ["CVNotADate, 2023", "CV2023-04-03Code", "2023-04-03"])
def test_unreadable_header_is_reported_and_does_not_leak_into_its_neighbours(broken: str) -> None:
    text = (
        "CVApr 3, 2023\nFirst PaperAna Lima\nFirst abstract.\n"
        f"{broken}\nLost PaperBo Chen\nLost abstract.\n"
        "LGMar 9, 2021\nThird PaperBo Chen\n"
    )
    result = parse_listing(text, as_of=AS_OF)
    assert [(r.title, r.abstract, r.line) for r in result.records] == [
        ("First Paper", "First abstract.", 1),
        ("Third Paper", "", 7),
    ]
    assert [(p.line, p.field) for p in result.problems] == [(4, "date")]
    assert broken in result.problems[0].message
