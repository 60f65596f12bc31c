"""check_record: a clean record comes back as it is; anything else comes back cleaned, field by field."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.sources import listing
from storage.models import PaperRecord, ParseResult
from storage.records import RecordProblem, _already_clean, _check_fully, check_record, check_result
from tests.helpers import record


def test_a_clean_record_is_handed_back_unchanged() -> None:
    clean = record("Sparse Graph Kernels", "Ada Lovelace", "Alan Turing", abstract="We study kernels.",
                   categories=("CV",))
    assert check_record(clean) is clean


@pytest.mark.parametrize(("field", "dirty", "cleaned"), [
    ("title", "Sparse  Graph Kernels", "Sparse Graph Kernels"),
    ("title", " Sparse Graph Kernels", "Sparse Graph Kernels"),
    ("title", "Sparse\tGraph\u00a0Kernels", "Sparse Graph Kernels"),
    ("title", "Sparse Graph\u200b Kernels", "Sparse Graph Kernels"),
    ("title", "Réseaux  de graphes", "Réseaux de graphes"),
    ("authors", ["Ada  Lovelace", "Alan\u200bTuring "], ("Ada Lovelace", "AlanTuring")),
    ("categories", ["CV", " LG", "CV"], ("CV", "LG")),
    ("abstract", "  We study kernels.\u202e ", "We study kernels."),
    ("doi", "10.1/x ", "10.1/x"),
    ("first_seen_at", datetime(2024, 1, 1), datetime(2024, 1, 1, tzinfo=UTC)),
])
def test_each_field_that_needs_it_is_cleaned(field: str, dirty: object, cleaned: object) -> None:
    base = record("Sparse Graph Kernels", "Ada Lovelace", abstract="We study kernels.", categories=("CV",))
    fields = {name: getattr(base, name) for name in PaperRecord.__dataclass_fields__}
    fields[field] = dirty
    checked = check_record(PaperRecord(**fields))
    assert getattr(checked, field) == cleaned
    assert type(getattr(checked, field)) is type(cleaned)
    assert checked.title == "Sparse Graph Kernels" or field == "title"


def test_an_empty_name_is_still_a_problem() -> None:
    with pytest.raises(RecordProblem) as caught:
        check_record(record("Sparse Graph Kernels", "Ada Lovelace", "\u200b"))
    assert caught.value.field == "authors"


# Text near every edge the check cares about: stray, doubled and odd spaces, controls,
# invisible and non-ASCII characters, and lengths around each field's limit.
_PIECES = st.sampled_from(["a", "Ab", " ", "  ", "\t", "\n", "\x01", "\x7f", "\u00a0", "\u200b", "\u202e", "é", "-"])
_TEXT = st.one_of(
    st.lists(_PIECES, max_size=6).map("".join),
    st.lists(st.sampled_from(["a", "Ab", " "]), min_size=1, max_size=4).map("".join),
    st.sampled_from([199, 200, 201, 299, 300, 301, 1_999, 2_000, 2_001, 3_999, 4_000, 4_001]).map("x".__mul__),
)
_NAMES = st.one_of(st.lists(_TEXT, max_size=3).map(tuple), st.lists(_TEXT, max_size=2), st.just(("Ada", "Ada")))
# Each example changes one to three fields of a clean record, so most of the record
# stays clean and the one odd field decides.
_CHANGES = {
    "title": _TEXT, "authors": _NAMES, "authors_truncated": st.sampled_from([True, 1]),
    "abstract": st.one_of(_TEXT, st.sampled_from([100_000 * "x", 100_001 * "x"])),
    "category": st.one_of(st.none(), _TEXT), "categories": _NAMES,
    "published": st.one_of(st.none(), st.dates(), st.sampled_from([datetime(2024, 1, 1), date(999, 12, 31)])),
    "has_code": st.sampled_from([False, 0]), "code_url": st.one_of(st.none(), _TEXT),
    "arxiv_id": _TEXT, "arxiv_version": st.just(2), "links": st.just([]), "inferred_authors": _NAMES,
    "first_seen_at": st.just(datetime(2024, 1, 1)),
}
_CLEAN = record("Sparse Graph Kernels", "Ada Lovelace", "Alan Turing", abstract="We study kernels.",
                categories=("CV", "LG"), has_code=True, code_url="https://example.org/x")
_RECORDS = st.lists(st.sampled_from(sorted(_CHANGES)), min_size=1, max_size=3, unique=True).flatmap(
    lambda names: st.fixed_dictionaries({name: _CHANGES[name] for name in names})
).map(lambda changes: replace(_CLEAN, **changes))


@settings(max_examples=1_500, deadline=None)
@given(_RECORDS)
def test_the_quick_check_passes_only_records_the_full_check_hands_back(rec: PaperRecord) -> None:
    now = datetime.now(UTC)
    if _already_clean(rec, now.date()):
        assert _check_fully(rec, now) is rec


def test_a_parsed_listing_record_takes_the_quick_check() -> None:
    assert _already_clean(_CLEAN, date(2026, 1, 1))
    assert not _already_clean(replace(_CLEAN, title="Sparse  Graph Kernels"), date(2026, 1, 1))


def _texts(rec: PaperRecord) -> list[object]:
    return [rec.title, *rec.authors, rec.abstract, rec.category, *rec.categories, rec.code_url, rec.arxiv_id,
            rec.doi, rec.comment, rec.journal_ref, rec.key, *rec.inferred_authors, *rec.restore_sources]


@settings(max_examples=1_500, deadline=None)
@given(_RECORDS)
def test_a_record_vouched_printable_is_judged_as_without_the_vouch(rec: PaperRecord) -> None:
    today = date(2026, 1, 1)
    if all(not isinstance(t, str) or (t.isascii() and t.isprintable()) for t in _texts(rec)):
        assert _already_clean(rec, today, printable=True) == _already_clean(rec, today)


def test_the_listing_parser_vouches_only_for_entries_read_as_printable_ascii(monkeypatch: pytest.MonkeyPatch) -> None:
    flags: list[list[bool]] = []

    def watched(result: ParseResult, **kwargs: object) -> ParseResult:
        flags.append(list(kwargs["printable"]))  # type: ignore[call-overload]
        return check_result(result, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(listing, "check_result", watched)
    text = ("CVApr 3, 2023\nSparse KernelsAda Lovelace, Alan Turing\nWe study kernels.\n"
            "LGMay 4, 2023\nDense KernelsJosé Núñez\nWe study dense kernels.\n"
            "LGMay 5, 2023\nWide KernelsGrace Hopper\nWe study\twide kernels\u200b.\n"
            "LGMay 6, 2023\nLast KernelsAlan Kay\nWe study the last kernels.\n")
    result = listing.parse_listing(text, as_of=date(2024, 1, 1))
    assert [(r.title, r.authors, r.abstract) for r in result.records] == [
        ("Sparse Kernels", ("Ada Lovelace", "Alan Turing"), "We study kernels."),
        ("Dense Kernels", ("José Núñez",), "We study dense kernels."),
        ("Wide Kernels", ("Grace Hopper",), "We study wide kernels."),
        ("Last Kernels", ("Alan Kay",), "We study the last kernels."),
    ]
    assert flags == [[True, False, False, True]]


def test_the_flags_must_match_the_records() -> None:
    with pytest.raises(ValueError, match="1 printable flags for 2 records"):
        check_result(ParseResult(records=[_CLEAN, _CLEAN]), printable=[True])
