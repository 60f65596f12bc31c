"""include/exclude filters: words as search matches them, acronyms, phrases, RE2 expressions, and refusals."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.announcer import Announcer
from bot.senders import ChannelSender
from storage.errors import InvalidInputError
from storage.models import Subscription
from storage.store import Store
from storage.subscriptions import (
    REGEX_MAX_CHARS,
    PaperFacts,
    Rules,
    parse_filters,
)
from tests.bot_fixtures import running_bot, seeded_store
from tests.helpers import needs_seed
from tests.subscription_fixtures import ingest_elsewhere, paper, titles_posted

NOW = datetime(2026, 12, 1, tzinfo=UTC)


_ids = itertools.count(1)


def facts(title: str, abstract: str = "") -> PaperFacts:
    return PaperFacts(next(_ids), "k", title, abstract, "CV", date(2026, 11, 30), NOW, {}, frozenset())


def rules() -> Rules:
    rows = [("ssl", "SSL", "acronym", "self supervised learning"), ("cv", "CV", "category", None)]
    return Rules.from_topic_rows(rows, None)


def sub(include: str = "", exclude: str = "") -> Subscription:
    return Subscription(1, 1, 2, None, "all", None, NOW, include=include, exclude=exclude)


def test_words_match_as_search_does_and_acronyms_expand() -> None:
    r = rules()
    plural = facts("Diffusion Models for Segmentation")
    assert r.evaluate(sub(include="model"), plural).included == "word “model”"  # stemmed, case-folded
    expanded = r.evaluate(sub(include="SSL"), facts("Pretraining", "We use self-supervised learning here."))
    assert expanded.included == "word “SSL” (as self supervised learning)"
    assert r.evaluate(sub(include="ssl"), facts("Plain supervised learning")).include_missed == "“ssl”"
    accents = r.evaluate(sub(include="resume"), facts("A Résumé of Methods"))
    assert accents.included == "word “resume”"


def test_phrases_regexes_and_exclude_win() -> None:
    r = rules()
    text = facts("Medical Image Diffusion", "Denoising for medical imaging of lungs.")
    assert r.evaluate(sub(include='"medical imaging"'), text).included == "phrase “medical imaging”"
    assert r.evaluate(sub(include='"imaging medical"'), text).include_missed
    hit = r.evaluate(sub(include="/lung(s)?/"), text)
    assert hit.included == "expression /lung(s)?/ (“lungs”)"
    assert r.evaluate(sub(include="/LUNGS/"), text).include_missed  # case-sensitive unless /i
    assert r.evaluate(sub(include="/LUNGS/i"), text).included
    both = r.evaluate(sub(include="diffusion", exclude="medical"), text)
    assert both.excluded == "word “medical”" and not both.wanted
    assert r.evaluate(sub(include="diffusion, robotics"), text).wanted  # any include


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('diffusion "medical imaging', "the quote opened at character 11 is never closed"),
        ("/seg(ment/", "is not a regular expression RE2 accepts (missing ): seg(ment)"),
        ("/abc/g", "the only flag is i"),
        ("/unclosed", "has no closing /"),
        ("+++", "has no letters or digits"),
        ("/" + "a" * (REGEX_MAX_CHARS + 1) + "/", f"at most {REGEX_MAX_CHARS} are allowed"),
        ("/a{999}b{999}c{999}/", "too large to run on every paper"),
    ],
)
def test_bad_filters_are_refused_with_where_and_why(text: str, says: str) -> None:
    with pytest.raises(InvalidInputError, match=r"^include: ") as caught:
        parse_filters(text, "include")
    assert says in str(caught.value)


@needs_seed
async def test_subscribe_filters_end_to_end_from_another_process(tmp_path: Path) -> None:
    store: Store = await seeded_store(tmp_path / "filters.db")
    try:
        async with running_bot(store) as h:
            bad = await h.slash("subscribe", options={"target": "all", "include": "/(unclosed/"}, user=h.admin)
            assert bad.ephemeral and bad.content.startswith("include: /(unclosed/ is not a regular expression")
            assert await store.outbox.subscriptions() == []
            res = await h.slash("subscribe", options={
                "target": "all", "include": 'SSL "domain adaptation" /Dif+usion/', "exclude": "medical"},
                user=h.admin)
            said = res.embeds[0]["description"]
            assert 'Only those matching any of: SSL "domain adaptation" /Dif+usion/.' in said
            assert "Never those matching: medical." in said
            await ingest_elsewhere(Path(store.path), [
                paper("Pretext Tasks Revisited", abstract="Our self-supervised learning recipe."),
                paper("Source-Free Domain Adaptation at Scale"),
                paper("Diffusion for Everything"),
                paper("Medical Diffusion Models"),
                paper("Graph Networks", abstract="Nothing the filters ask for."),
            ], tmp_path / "in")
            await Announcer(store, [ChannelSender(h.bot)], retry_base=0.0).drain()
            assert set(titles_posted(h.emu.messages(h.channel.id))) == {
                "Pretext Tasks Revisited", "Source-Free Domain Adaptation at Scale", "Diffusion for Everything"}
    finally:
        await store.close()


def test_a_long_form_matches_its_acronym_and_says_so() -> None:
    r = rules()
    hit = r.evaluate(sub(include='"self-supervised learning"'), facts("SSL at Scale", "We scale SSL."))
    assert hit.included == "phrase “self-supervised learning” (as SSL)"
    plural = r.evaluate(sub(include="SSLs"), facts("Many Methods", "Several self-supervised learning methods."))
    assert plural.included == "word “SSLs” (as self supervised learning)"
