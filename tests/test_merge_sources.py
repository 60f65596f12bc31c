"""One paper however many sources report it: the seed listing plus an arXiv page covering some of it."""

from __future__ import annotations

from pathlib import Path

from feeds.sources.arxiv import parse_arxiv
from feeds.sources.listing import parse_listing_file
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
