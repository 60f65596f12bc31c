"""Set-based batch ingest gives the answers one-by-one storing gave, and keeps plain records as "same as the paper"."""

from __future__ import annotations

from pathlib import Path

from storage.merge import record_from_json
from storage.paper_writes import SAME_AS_PAPER
from storage.store import Store
from tests.helpers import record, rows


async def test_one_batch_holding_a_paper_twice_and_one_person_spelt_twice(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    first = record("Sparse Probes for Dense Models", "Jae-Hun Lee", "Mina Park", abstract="first words")
    again = record("Sparse probes for dense models", "Jae-Hun Lee", "Mina Park", abstract="second words")
    other = record("A Different Paper Entirely", "jae hun lee", "Ola Berg")
    async with await Store.open(db) as store:
        report = await store.ingest([first, again, other], source="lab", kind="listing")
        # The second report of a paper new in this batch counts as neither updated nor unchanged.
        assert (report.new, report.updated, report.unchanged) == (2, 0, 0)
        assert len(set(report.new_keys)) == 2
    # The later report of the same paper by the same source wins, as it would stored one by one.
    assert rows(db, "SELECT abstract FROM papers WHERE key = 'sparse-probes-for-dense-models'") == [
        ("second words",)]
    # Both spellings meet in one author, named as first met.
    assert rows(db, "SELECT name FROM authors WHERE name LIKE '%lee%' COLLATE NOCASE") == [("Jae-Hun Lee",)]


async def test_same_as_paper_record_is_spelt_out_before_another_source_changes_the_paper(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    listed = record("Quiet Gradients", "Ada Lovelace", "Alan Turing", abstract="the listing's words")
    async with await Store.open(db) as store:
        await store.ingest([listed], source="lab", kind="listing")
        assert rows(db, "SELECT record FROM paper_sources") == [(SAME_AS_PAPER,)]
        arxiv = record("Quiet Gradients", "Ada Lovelace", "Alan Turing", abstract="arXiv's newer words",
                       arxiv_id="2401.00001", category=None)
        report = await store.ingest([arxiv], source="arxiv", kind="arxiv")
        assert report.updated == 1
        paper = await store.get_paper("quiet-gradients")
        assert paper is not None and paper.abstract == "arXiv's newer words" and paper.category == "CV"
        (kept,) = rows(db, "SELECT ps.record FROM paper_sources ps JOIN sources s ON s.id = ps.source_id"
                            " WHERE s.name = 'lab'")
        assert kept[0] != SAME_AS_PAPER
        back = record_from_json(kept[0])
        assert (back.title, back.authors, back.abstract, back.category) == (
            listed.title, listed.authors, listed.abstract, listed.category)
        # The listing, read again, is recognised as unchanged against what was spelt out.
        again = await store.ingest([listed], source="lab", kind="listing")
        assert (again.new, again.updated, again.unchanged) == (0, 0, 1)
