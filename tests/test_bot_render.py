"""The answer layer and its renderers without Discord: limits, escaping, `ask` parsing, command JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import answers
from bot.ask import SPECS, parse
from bot.commands_payload import application_commands
from bot.limits import EMBED_TOTAL_MAX, clip, embed_size, fit_choices
from bot.markdown import escape, link, safe_url
from bot.model import Answer, Card, Field, Page
from bot.render import EPHEMERAL, NEXT_ID, PREV_ID, payload_text, render
from storage.errors import InvalidInputError
from storage.store import Store
from tests.bot_fixtures import BASE_URL, hostile_records, seeded_store
from tests.discord_emulator import DiscordError
from tests.discord_emulator._limits import check_choices, check_commands, check_message
from tests.helpers import needs_seed


def accepted_by_discord(payload: dict) -> None:
    """The emulator's independent copy of Discord's validation (raises DiscordError 400 if refused)."""
    check_message({k: v for k, v in payload.items() if k != "flags"})


# -- limits -------------------------------------------------------------------------------


def test_clip_marks_the_cut_and_never_leaves_a_dangling_escape() -> None:
    assert clip("short", 10) == "short"
    assert clip("abcdefghij", 5) == "abcd…"
    assert len(clip("x" * 5000, 4096)) == 4096
    cut = clip("abc\\*def", 5)  # the cut would end on the escaping backslash
    assert cut == "abc…" and not cut.rstrip("…").endswith("\\")


def test_every_limit_is_kept_whatever_the_answer_holds() -> None:
    huge = "@everyone " + "y" * 9000
    answer = Answer.single(
        *[Card(title=huge, description=huge, footer=huge,
               fields=tuple(Field(huge, huge) for _ in range(40))) for _ in range(14)],
        content=huge,
    )
    payload = render(answer)
    accepted_by_discord(payload)
    assert len(payload["embeds"]) == 10
    assert sum(embed_size(e) for e in payload["embeds"]) <= EMBED_TOTAL_MAX
    assert payload["content"].endswith("…") and len(payload["content"]) == 2000
    assert payload["allowed_mentions"] == {"parse": []}


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.text(min_size=0, max_size=7000), min_size=1, max_size=6),
    fields=st.integers(min_value=0, max_value=30),
)
def test_random_cards_always_fit(texts: list[str], fields: int) -> None:
    cards = [
        Card(title=t or None, description=t or None, footer=t or None,
             fields=tuple(Field(t or "n", t or "v") for _ in range(fields)))
        for t in texts
    ]
    accepted_by_discord(render(Answer.single(*cards, content=texts[0])))


def test_choices_are_cut_to_what_autocomplete_accepts() -> None:
    raw = [("n" * 300, f"value-{i}") for i in range(40)] + [("too long", "v" * 101), ("dup", "value-1")]
    choices = fit_choices(raw)
    check_choices(choices)
    assert len(choices) == 25 and all(len(c["name"]) <= 100 for c in choices)
    assert {c["value"] for c in choices} == {f"value-{i}" for i in range(25)}


# -- markdown -------------------------------------------------------------------------------


def test_escape_neutralises_markdown_and_mentions_but_keeps_urls() -> None:
    text = escape("**bold** _it_ ~~x~~ `c` ||s|| <@123> [a](http://evil) https://github.com/a_b/c_d\n# h\n> q")
    assert "\\*\\*bold\\*\\*" in text and "\\_it\\_" in text and "\\|\\|s\\|\\|" in text
    assert "\\<@123>" in text and "\\[a\\]" in text
    assert "https://github.com/a_b/c_d" in text  # a URL is not mangled by escapes
    assert "\n\\# h" in text and "\n\\> q" in text


def test_links_only_for_http_and_with_safe_targets() -> None:
    assert safe_url("javascript:alert(1)") is None and safe_url("ftp://x") is None
    assert link("t", "https://x.test/a b)") == "[t](https://x.test/a%20b%29)"
    assert link("[t]", None) == "\\[t\\]"


# -- answers on real data ---------------------------------------------------------------------


@pytest.fixture
async def seed_store(tmp_path: Path):
    store = await seeded_store(tmp_path / "seed.db")
    yield store
    await store.close()


@needs_seed
async def test_author_answer_on_the_seed(seed_store: Store) -> None:
    payload = await answers.ask_payload(seed_store, "/author name:Sangheum Hwang", base_url=BASE_URL)
    accepted_by_discord(payload)
    profile, papers = payload["embeds"]
    assert profile["title"] == "Sangheum Hwang"
    assert profile["description"].startswith("**22 papers** · active 2016–2026")
    feeds = next(f for f in profile["fields"] if f["name"] == "Feeds")["value"]
    assert f"({BASE_URL}authors/sangheum-hwang.atom)" in feeds and "sangheum-hwang.rss" in feeds
    coauthors = next(f for f in profile["fields"] if f["name"] == "Co-authors")["value"]
    assert coauthors.startswith("Jihyo Kim (5)")
    assert papers["footer"]["text"].startswith("1–5 of 22")
    # newest first
    years = [int(y) for y in re.findall(r" · (\d{4})-\d\d-\d\d\b", papers["description"])]
    assert years == sorted(years, reverse=True) and len(years) == 5
    # Every title links (to the paper's page here when it has no arXiv or DOI link); no long keys.
    assert len(re.findall(r"\*\*\d+\.\*\* \[", papers["description"])) == 5
    assert f"]({BASE_URL}papers/" in papers["description"]
    assert "`" not in papers["description"]
    buttons = payload["components"][0]["components"]
    assert [b["custom_id"] for b in buttons][::2] == [PREV_ID, NEXT_ID]
    assert buttons[0]["disabled"] and not buttons[2]["disabled"] and buttons[1]["label"] == "1 / 5"
    text = payload_text(payload)
    assert "== Sangheum Hwang ==" in text and "[Next ▶]" in text


@needs_seed
async def test_fuzzy_and_reordered_names_find_the_author(seed_store: Store) -> None:
    for typed in ("hwang sangheum", "Sangheum Hwnag", "sangheum-hwang"):
        payload = await answers.ask_payload(seed_store, f"/author name:{typed}", base_url=BASE_URL)
        assert payload["embeds"][0]["title"] == "Sangheum Hwang", typed


@needs_seed
async def test_search_show_topic_and_empty_results(seed_store: Store) -> None:
    found = await answers.ask_payload(seed_store, "/paper search query:domain adaptation", base_url=BASE_URL)
    assert "Source-free Domain Adaptation" in found["embeds"][0]["description"]
    # List lines no longer show the key; the title links to the paper's page, whose path is the key.
    key = re.search(rf"\]\({re.escape(BASE_URL)}papers/([^)]+)\)", found["embeds"][0]["description"]).group(1)
    shown = await answers.ask_payload(seed_store, f"/paper show key:{key}", base_url=BASE_URL)
    names = [f["name"] for f in shown["embeds"][0]["fields"]]
    assert names[:2] == ["Authors", "Published"] and "Code" in names
    assert shown["embeds"][0]["footer"]["text"].startswith(f"key {key}")
    none = await answers.ask_payload(seed_store, "/paper search query:zzzqqq xyzzy", base_url=BASE_URL)
    assert none["flags"] == EPHEMERAL and none["embeds"][0]["title"].startswith("No papers match")
    topic = await answers.ask_payload(seed_store, "/topic name:ood detection", base_url=BASE_URL)
    missing = await answers.ask_payload(seed_store, "/topic name:OoDD", base_url=BASE_URL)
    assert missing["embeds"][0]["title"] == "OoDD = out of distribution detection"
    assert topic["embeds"][0]["title"] != missing["embeds"][0]["title"]  # free words fall back to search
    unknown = await answers.ask_payload(seed_store, "/paper show key:no-such-paper", base_url=BASE_URL)
    assert unknown["flags"] == EPHEMERAL and "No paper has the key 'no-such-paper'" in unknown["content"]


@needs_seed
async def test_hostile_papers_render_inert_and_within_limits(seed_store: Store) -> None:
    await seed_store.ingest(hostile_records(), source="hostile")
    latest = await answers.ask_payload(seed_store, "/paper latest count:2", base_url=BASE_URL)
    accepted_by_discord(latest)
    for paper in await seed_store.latest(2):
        payload = await answers.ask_payload(seed_store, f"/paper show key:{paper.key}", base_url=BASE_URL)
        accepted_by_discord(payload)
        embed = payload["embeds"][0]
        assert embed["title"].endswith("…")
        if "Bold" in embed["title"]:
            assert "\\*\\*Bold\\*\\*" in embed["title"] and "\\<@123>" in embed["title"]
            assert not re.search(r"(?<!\\)[*<|`\[]", embed["title"])
        authors = next(f for f in embed["fields"] if f["name"] == "Authors")["value"]
        assert len(authors) <= 1024
    three_hundred = next(p for p in await seed_store.latest(2) if len(p.authors) == 300)
    payload = await answers.ask_payload(seed_store, f"/paper show key:{three_hundred.key}", base_url=BASE_URL)
    authors = next(f for f in payload["embeds"][0]["fields"] if f["name"] == "Authors")["value"]
    assert authors.startswith("Author0 Surname0, Author1 Surname1") and authors.endswith("more")
    long_query = "@everyone " + "q" * 6000
    payload = await answers.ask_payload(seed_store, f"/paper search query:{long_query}", base_url=BASE_URL)
    accepted_by_discord(payload)


async def test_empty_library_answers_say_what_to_do(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "empty.db") as store:
        for line in ("/paper latest", "/paper random", "/topics"):
            payload = await answers.ask_payload(store, line, base_url=BASE_URL)
            assert payload["flags"] == EPHEMERAL and payload["embeds"][0]["color"] is not None, line
        stats = await answers.ask_payload(store, "/stats", base_url=BASE_URL)
        assert stats["embeds"][0]["fields"][0] == {"name": "Papers", "value": "0", "inline": True}
        author = await answers.ask_payload(store, "/author name:Nobody", base_url=BASE_URL)
        assert "No author resembles 'Nobody'" in author["content"]


# -- parsing `ask` command lines -----------------------------------------------------------------


def test_parse_reads_subcommands_and_values_with_spaces_and_colons() -> None:
    spec, options = parse("/paper search query:domain adaptation: a survey")
    assert spec.path == ("paper", "search") and options == {"query": "domain adaptation: a survey"}
    spec, options = parse("subscribe target:author value:Jae-Hun Lee backfill:3")
    assert options == {"target": "author", "value": "Jae-Hun Lee", "backfill": "3"}
    assert parse("/topics")[1] == {}
    with pytest.raises(InvalidInputError, match="unknown command"):
        parse("/nope")
    with pytest.raises(InvalidInputError, match="name:value"):
        parse("/author Sangheum")


async def test_admin_commands_refuse_outside_a_server(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "a.db") as store:
        payload = await answers.ask_payload(store, "/subscribe target:all", base_url=BASE_URL)
        assert payload["flags"] == EPHEMERAL and "works only in a Discord server" in payload["content"]
        assert await store.outbox.subscriptions() == []


# -- the command JSON -------------------------------------------------------------------------------


def test_command_payload_is_valid_and_matches_the_ask_table() -> None:
    commands = application_commands()
    check_commands(commands)
    by_name = {c["name"]: c for c in commands}
    for spec in SPECS:
        node = by_name[spec.path[0]]
        for part in spec.path[1:]:
            node = next(o for o in node["options"] if o["name"] == part)
        assert tuple(o["name"] for o in node.get("options") or []) == spec.options, spec.path
    for admin in ("subscribe", "unsubscribe", "subscriptions"):
        assert int(by_name[admin]["default_member_permissions"]) == 1 << 5  # Manage Server
        assert by_name[admin]["dm_permission"] is False
    assert by_name["author"]["options"][0]["autocomplete"] is True
    assert by_name["author"]["dm_permission"] is True
    json.dumps(commands)


def test_render_pages_and_disabled_buttons() -> None:
    answer = Answer(pages=tuple(Page(cards=(Card(title=f"p{i}"),)) for i in range(3)))
    last = render(answer, 2)
    assert last["embeds"][0]["title"] == "p2"
    prev, at, nxt = last["components"][0]["components"]
    assert not prev["disabled"] and nxt["disabled"] and at["label"] == "3 / 3"
    off = render(answer, 1, disabled=True)
    assert all(b["disabled"] for b in off["components"][0]["components"])
    assert render(Answer.single(Card(title="one")))["components"] == []


def test_a_refused_payload_would_be_caught_by_the_checker() -> None:
    # Guards the guard: the validator used above does reject an oversize embed.
    with pytest.raises(DiscordError):
        accepted_by_discord({"content": "", "embeds": [{"description": "x" * 4097}]})

