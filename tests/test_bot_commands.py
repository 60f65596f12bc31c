"""Every slash command end to end: discord.py bot <-> loopback Discord emulator <-> real SQLite store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot import answers
from bot.render import NEXT_ID, PREV_ID
from storage.store import Store
from tests.bot_fixtures import BASE_URL, hostile_records, running_bot, seeded_store
from tests.helpers import needs_seed

pytestmark = needs_seed


@pytest.fixture
async def store(tmp_path: Path):
    store = await seeded_store(tmp_path / "bot.db")
    yield store
    await store.close()


def without_type(embeds: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k != "type"} for e in embeds]


async def test_each_read_command_sends_exactly_what_ask_prints(store: Store) -> None:
    cases = [
        ("/paper search query:domain adaptation", ("paper", "search"), {"query": "domain adaptation"}),
        ("/paper latest count:7", ("paper", "latest"), {"count": 7}),
        ("/author name:Sangheum Hwang", ("author",), {"name": "Sangheum Hwang"}),
        ("/topic name:OoDD", ("topic",), {"name": "OoDD"}),
        ("/topics", ("topics",), {}),
        ("/feed", ("feed",), {}),
    ]
    async with running_bot(store) as h:
        for line, path, options in cases:
            expected = await answers.ask_payload(store, line, base_url=BASE_URL)
            res = await h.slash(path[0], *path[1:], options=options)
            assert res.type == 4, line
            assert without_type(res.embeds) == without_type(expected["embeds"]), line
            assert res.components == expected["components"], line
            assert h.emu.allowed_mentions(int(res.message["id"])) == {"parse": []}, line
        key = (await store.latest(1))[0].key
        shown = await h.slash("paper", "show", options={"key": key})
        assert shown.embeds[0]["footer"]["text"].startswith(f"key {key}")
        random = await h.slash("paper", "random")
        assert random.embeds[0]["description"].startswith("🎲 A random paper")
        stats = await h.slash("stats")
        fields = {f["name"]: f["value"] for f in stats.embeds[0]["fields"]}
        assert fields["Papers"] == "22" and "seed" in fields["Sources"]
        assert h.emu.unhandled == []


async def test_autocomplete_answers_fast_and_within_limits(store: Store) -> None:
    async with running_bot(store) as h:
        start = time.perf_counter()
        choices = await h.emu.autocomplete("author", options={"name": "hwang"}, focused="name",
                                           channel_id=h.channel.id, user_id=h.member.id)
        assert time.perf_counter() - start < 1.0
        assert {"name": "Sangheum Hwang (22 papers)", "value": "sangheum-hwang"} in choices
        blank = await h.emu.autocomplete("author", options={"name": ""}, focused="name",
                                         channel_id=h.channel.id, user_id=h.member.id)
        assert 0 < len(blank) <= 25 and blank[0]["value"] == "sangheum-hwang"
        topics = await h.emu.autocomplete("topic", options={"name": "ood"}, focused="name",
                                          channel_id=h.channel.id, user_id=h.member.id)
        assert topics[0] == {"name": "Search papers for “ood”", "value": "ood"}
        assert any(c["value"] == "oodd" for c in topics)
        keys = await h.emu.autocomplete("paper", "show", options={"key": "concept erasure"}, focused="key",
                                        channel_id=h.channel.id, user_id=h.member.id)
        assert keys and "Concept Erasure" in keys[0]["name"]
        huge = await h.emu.autocomplete("author", options={"name": "@everyone " * 600}, focused="name",
                                        channel_id=h.channel.id, user_id=h.member.id)
        assert len(huge) <= 25
        # The chosen value (an author key) resolves straight to the profile.
        res = await h.slash("author", options={"name": choices[-1]["value"]})
        assert res.embeds[0]["title"] == choices[-1]["name"].split(" (")[0]


async def test_pages_turn_for_the_invoker_only_and_disable_on_timeout(store: Store) -> None:
    async with running_bot(store, view_timeout=0.6) as h:
        res = await h.slash("author", options={"name": "Sangheum Hwang"})
        assert res.embeds[1]["footer"]["text"].startswith("1–5 of 22")
        turned = await h.emu.press_button(res, NEXT_ID, user_id=h.member.id)
        assert turned.type == 7
        message = h.emu.message(int(res.message["id"]))
        assert message["embeds"][1]["footer"]["text"].startswith("6–10 of 22")
        assert message["embeds"][0]["title"] == "Sangheum Hwang"  # the profile heads every page
        refused = await h.emu.press_button(res, PREV_ID, user_id=h.admin.id)
        assert refused.ephemeral and "belong to reader" in refused.content
        assert h.emu.message(int(res.message["id"]))["embeds"][1]["footer"]["text"].startswith("6–10")
        back = await h.emu.press_button(res, PREV_ID, user_id=h.member.id)
        assert back.message["embeds"][1]["footer"]["text"].startswith("1–5")

        def all_disabled() -> bool:
            msg = h.emu.message(int(res.message["id"]))
            return all(b["disabled"] for row in msg["components"] for b in row["components"])

        await res.wait_for(lambda _: all_disabled(), timeout=5, what="buttons disabled on timeout")
        with pytest.raises(ValueError, match="disabled"):
            await h.emu.press_button(res, NEXT_ID, user_id=h.member.id)


async def test_admin_commands_refuse_members_without_manage_server(store: Store) -> None:
    async with running_bot(store) as h:
        res = await h.slash("subscribe", options={"target": "all"}, user=h.member)
        assert res.ephemeral and "needs the Manage Server permission" in res.content
        assert await store.outbox.subscriptions() == []
        for name in ("subscriptions", "unsubscribe"):
            options = {"subscription": 1} if name == "unsubscribe" else {}
            res = await h.slash(name, options=options, user=h.member)
            assert res.ephemeral and "Manage Server" in res.content
        synced = {c["name"]: c for c in h.emu.commands()}
        assert int(synced["subscribe"]["default_member_permissions"]) == 1 << 5
        # In a DM the admin commands do not exist; the read commands work.
        dm = h.emu.dm_channel(h.member.id)
        with pytest.raises(LookupError, match="not usable in DMs"):
            await h.emu.slash("subscribe", options={"target": "all"}, channel_id=dm.id, user_id=h.member.id)
        in_dm = await h.emu.slash("paper", "search", options={"query": "diffusion"}, channel_id=dm.id,
                                  user_id=h.member.id)
        assert "diffusion" in in_dm.embeds[0]["description"].lower()


async def test_subscribe_list_and_unsubscribe_as_an_admin(store: Store) -> None:
    async with running_bot(store) as h:
        other = h.emu.add_channel(h.guild.id, "lab-news")
        values = await h.emu.autocomplete("subscribe", options={"target": "author", "value": "hwang"},
                                          focused="value", channel_id=h.channel.id, user_id=h.admin.id)
        assert "sangheum-hwang" in [v["value"] for v in values]
        res = await h.slash("subscribe", options={"target": "author", "value": "sangheum-hwang",
                                                  "channel": other.id, "backfill": 2}, user=h.admin)
        assert res.ephemeral and f"<#{other.id}> now gets papers by Sangheum Hwang" in res.embeds[0]["description"]
        assert "2 recent papers will be posted now" in res.embeds[0]["description"]
        [sub] = await store.outbox.subscriptions(guild_id=h.guild.id)
        assert (sub.channel_id, sub.target, sub.value) == (other.id, "author", "sangheum-hwang")
        assert (await store.outbox.counts()) == {"pending": 2}
        bad = await h.slash("subscribe", options={"target": "topic", "value": "not a topic at all"}, user=h.admin)
        assert bad.ephemeral and "No topic 'not a topic at all'" in bad.content
        listed = await h.slash("subscriptions", user=h.admin)
        assert f"**#{sub.id}** author sangheum-hwang → <#{other.id}>" in listed.embeds[0]["description"]
        ids = await h.emu.autocomplete("unsubscribe", options={"subscription": ""}, focused="subscription",
                                       channel_id=h.channel.id, user_id=h.admin.id)
        assert ids[0]["value"] == sub.id
        gone = await h.slash("unsubscribe", options={"subscription": sub.id}, user=h.admin)
        assert gone.ephemeral and gone.embeds[0]["title"] == "Unsubscribed"
        again = await h.slash("unsubscribe", options={"subscription": sub.id}, user=h.admin)
        assert f"there is no subscription #{sub.id} here" in again.content
        assert await store.outbox.subscriptions() == []


async def test_hostile_input_never_pings_and_never_breaks_a_limit(store: Store) -> None:
    await store.ingest(hostile_records(), source="hostile")
    async with running_bot(store) as h:
        hostile = [p for p in await store.latest(2)]
        for paper in hostile:
            res = await h.slash("paper", "show", options={"key": paper.key})
            assert res.type == 4 and not res.rejections
            msg = res.message
            assert msg["mention_everyone"] is False and msg["mentions"] == [] and msg["mention_roles"] == []
        res = await h.slash("paper", "search", options={"query": "@everyone <@123> **x** " + "q" * 6000})
        # "everyone" is a word of the hostile title: found, listed, and still inert.
        assert res.type == 4 and res.embeds[0]["title"].startswith("Papers matching “@everyone \\<@123> \\*\\*x")
        assert res.embeds[0]["title"].endswith("…”") and res.message["mention_everyone"] is False
        none = await h.slash("paper", "search", options={"query": "<@999> " + "q" * 6000})
        assert none.ephemeral and none.embeds[0]["title"].startswith("No papers match")
        listing = await h.slash("paper", "latest", options={"count": 2})
        assert listing.type == 4 and listing.message["mention_everyone"] is False
        ping = f"@everyone <@{h.admin.id}> <@&{h.guild.id}>"
        refused = await h.slash("author", options={"name": ping})
        assert refused.ephemeral and ping in refused.content  # echoed in content, where pings would fire
        assert refused.message["mention_everyone"] is False and refused.message["mentions"] == []
        assert refused.message["mention_roles"] == []
        empty = await h.slash("author", options={"name": "   "})
        assert empty.ephemeral and "The author name is empty" in empty.content
        nobody = await h.slash("topic", options={"name": "@here " + "z" * 6000})
        # No such topic; "here" is a word of the hostile abstract, so it falls back to those papers.
        assert nobody.embeds[0]["title"].startswith("No topic “@here zzz")
        assert nobody.message["mention_everyone"] is False


async def test_a_slow_answer_is_deferred_inside_the_window(store: Store) -> None:
    async with running_bot(store, defer_after=0.0) as h:
        h.emu.interaction_window = 0.5
        res = await h.slash("author", options={"name": "Sangheum Hwang"})
        assert res.type == 5 and res.complete
        assert res.embeds[0]["title"] == "Sangheum Hwang"
        turned = await h.emu.press_button(res, NEXT_ID, user_id=h.member.id)
        assert turned.message["embeds"][1]["footer"]["text"].startswith("6–10")


async def test_guild_ids_sync_commands_to_those_guilds(store: Store) -> None:
    async with running_bot(store, guild_sync=True) as h:
        names = {c["name"] for c in h.emu.commands(h.guild.id)}
        assert {"paper", "author", "subscribe"} <= names and h.emu.commands() == []
        assert h.bot.synced == [f"guild {h.guild.id}"]
        res = await h.slash("topics")
        assert res.embeds[0]["title"].startswith("Topics (")


async def test_answers_keep_coming_while_the_gateway_reconnects(store: Store) -> None:
    async with running_bot(store) as h:
        await h.emu.drop_gateway()
        await h.emu.wait_resumed()
        res = await asyncio.wait_for(h.slash("stats"), 10)
        assert res.embeds[0]["title"] == "paperboy library"
