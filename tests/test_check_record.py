"""check_record: a clean record comes back as it is; anything else comes back cleaned, field by field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage.models import PaperRecord
from storage.records import RecordProblem, check_record
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
