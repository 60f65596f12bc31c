"""Discord titles link to the paper: its own page when it has one, else its page on the site; lists drop the key."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.announce_format import announcement
from bot.answers import paper_card, paper_line
from storage.models import Paper, Subscription

BASE = "https://papers.example.org/lab/"


def paper(**fields: object) -> Paper:
    base: dict[str, object] = {
        "id": 1, "key": "a-listing-only-paper", "title": "A Listing-only Paper", "authors": ("Jae-Hun Lee",),
        "authors_truncated": False, "abstract": "Text.", "category": "CV", "published": date(2024, 1, 2),
        "has_code": False, "code_url": None, "first_seen_at": datetime(2024, 1, 3, tzinfo=UTC),
        "updated_at": datetime(2024, 1, 3, tzinfo=UTC),
    }
    base.update(fields)
    return Paper(**base)  # type: ignore[arg-type]


def test_titles_link_to_the_paper_page_when_there_is_no_better_link() -> None:
    bare = paper()
    assert paper_card(bare, base_url=BASE).url == BASE + "papers/a-listing-only-paper"
    assert f"[A Listing-only Paper]({BASE}papers/a-listing-only-paper)" in paper_line(bare, 1, base_url=BASE)
    assert "a-listing-only-paper`" not in paper_line(bare, 1, base_url=BASE)  # no long key in lists
    arxiv = paper(key="2401.00001", arxiv_id="2401.00001")
    assert paper_card(arxiv, base_url=BASE).url == "https://arxiv.org/abs/2401.00001"
    card = paper_card(arxiv, base_url=BASE)
    links = next(f.value for f in card.fields if f.name == "Links")
    assert f"({BASE}papers/2401.00001)" in links  # the page (with its BibTeX) is one click away
    sub = Subscription(1, 10, 20, None, "all", None, datetime(2024, 1, 1, tzinfo=UTC))
    posted = announcement(bare, sub, base_url=BASE)
    assert posted["embeds"][0]["url"] == BASE + "papers/a-listing-only-paper"
