"""One paper however many sources report it: the seed listing plus an arXiv page covering some of it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.sources.arxiv import parse_arxiv
from feeds.sources.listing import parse_listing_file
from storage.merge import _JSON_FIELDS, Reported, _merge_many, merge, record_to_json, same_json
from storage.models import Link, PaperRecord
from storage.store import Store
from tests.helpers import REPO, SEED, SEED_AS_OF, needs_seed

ARXIV = REPO / "tests" / "resources" / "sources" / "arxiv_seed_overlap.xml"


@needs_seed
async def test_seed_plus_arxiv_is_one_row_per_paper_announced_once(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "m.db", announce_max_age=None)  # the seed is years old
    try:
        await store.outbox.subscribe(target="all", value=None, guild_id=1, channel_id=5)
        listing = parse_listing_file(SEED, as_of=SEED_AS_OF)
        first = await store.ingest(listing.records, source="profile", owner="Sangheum Hwang")
        assert first.new == 22 and first.queued_deliveries == 22
        page = parse_arxiv(ARXIV.read_bytes())
        assert len(page.result.records) == 5
        second = await store.ingest(page.result.records, source="arxiv", kind="arxiv")
        assert second.new == 0, "every arXiv entry is a paper the listing already had"
        assert second.updated == 5 and second.queued_deliveries == 0
        papers = await store.all_papers()
        assert len(papers) == 22
        by_arxiv = {p.arxiv_id: p for p in papers if p.arxiv_id}
        few_shot = by_arxiv["2304.00792"]
        assert few_shot.authors == ("Suho Lee", "Seungwon Seo", "Jihyo Kim", "Yejin Lee", "Sangheum Hwang")
        assert not few_shot.authors_truncated and few_shot.inferred_authors == ()
        assert few_shot.key == "few-shot-fine-tuning-is-all-you-need-for-source-free-domain-adaptation"
        assert few_shot.category == "CV"
        counts = await store.outbox.counts()
        assert counts == {"pending": 22}
        pending = await store.outbox.pending(limit=100)
        assert len({p.delivery.paper_id for p in pending}) == 22
        # The listing again, after arXiv: still nothing new, nothing re-queued.
        third = await store.ingest(listing.records, source="profile", owner="Sangheum Hwang")
        assert (third.new, third.queued_deliveries) == (0, 0)
        assert len(await store.all_papers()) == 22
    finally:
        await store.close()


_VALUES = {
    "title": st.sampled_from(["T", "U"]), "authors": st.sampled_from([("A",), ["A"], ("A", "B")]),
    "authors_truncated": st.sampled_from([False, True, 0, 1]), "abstract": st.sampled_from(["", "x"]),
    "category": st.sampled_from([None, "CV"]), "categories": st.sampled_from([(), ("CV",), ["CV"]]),
    "published": st.sampled_from([None, date(2020, 1, 2), datetime(2020, 1, 2)]),
    "has_code": st.sampled_from([False, True, 0, 1]), "code_url": st.sampled_from([None, "https://e.org"]),
    "arxiv_version": st.sampled_from([None, 2, 2.0]), "doi": st.sampled_from([None, "10.1/x"]),
    "links": st.sampled_from([(), (Link("https://e.org"),)]), "inferred_authors": st.sampled_from([(), ("C",)]),
}
_SOME = st.fixed_dictionaries({}, optional=_VALUES).map(lambda fields: PaperRecord(**{"title": "T", **fields}))


@settings(max_examples=800, deadline=None)
@given(_SOME, _SOME)
def test_same_json_says_yes_only_when_the_encodings_agree(a: PaperRecord, b: PaperRecord) -> None:
    if same_json(a, b):
        assert record_to_json(a) == record_to_json(b)


def test_same_json_knows_a_new_paper_merged_from_its_one_record() -> None:
    one = PaperRecord(title="T", authors=("A",), abstract="x", category="CV", categories=("CV",),
                      published=date(2020, 1, 2), has_code=True, code_url="https://e.org")
    assert same_json(merge([Reported("listing", "2026-01-01", one)]), one)
    assert not same_json(replace(one, has_code=1), one)  # type: ignore[arg-type]


_ODD = {
    **_VALUES,
    "title": st.sampled_from(["T", ""]), "authors": st.sampled_from([(), ("A",), ("A", "A")]),
    "category": st.sampled_from([None, "", "CV"]), "categories": st.sampled_from([(), ("CV", "CV"), ["LG", "CV"]]),
    "code_url": st.sampled_from([None, "", "https://e.org"]), "arxiv_id": st.sampled_from([None, "", "2001.00001"]),
    "doi": st.sampled_from([None, "", " https://doi.org/10.1/X "]), "journal_ref": st.sampled_from([None, "J"]),
    "links": st.sampled_from([(), (Link("https://e.org"), Link("https://e.org", "pdf"))]),
    "inferred_authors": st.sampled_from([(), ("C", "C", "D")]), "comment": st.sampled_from([None, "", "c"]),
    "line": st.sampled_from([None, 3]), "key": st.sampled_from([None, "k"]),
}
_ONE = st.fixed_dictionaries({}, optional=_ODD).map(lambda fields: PaperRecord(**{"title": "T", **fields}))


@settings(max_examples=800, deadline=None)
@given(_ONE, st.sampled_from(["listing", "arxiv"]))
def test_one_record_merges_as_the_general_merge_reads_it(one: PaperRecord, kind: str) -> None:
    reported = Reported(kind, "2026-01-01", one)
    quick, general = merge([reported]), _merge_many([reported])
    assert quick == general
    assert [type(v) for v in _JSON_FIELDS(quick)] == [type(v) for v in _JSON_FIELDS(general)]
