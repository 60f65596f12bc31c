"""Managing subscriptions through the emulator: the issue's scenario (category, filtered with a role ping,
paused author), pause/resume with its cap, test posts, edits, /why, and admin-only answers."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import pytest

from bot import answers
from bot.announcer import Announcer
from bot.senders import ChannelSender
from storage.store import Store
from tests.bot_fixtures import BASE_URL, running_bot, seeded_store
from tests.helpers import needs_seed, record
from tests.subscription_fixtures import PAPERBOY, ingest_elsewhere, paper, paperboy_stdout, titles_posted

pytestmark = needs_seed

CV_DIFFUSION = "Diffusion Priors for Open-Vocabulary Segmentation"
MEDICAL = "Medical Diffusion for Lesion Synthesis"
OLD = "Diffusion Features for Tracking"


@pytest.fixture
async def store(tmp_path: Path):
    store = await seeded_store(tmp_path / "manage.db")
    yield store
    await store.close()


async def sub_id(store: Store, channel_id: int) -> int:
    [sub] = await store.outbox.subscriptions(channel_id=channel_id)
    return sub.id


async def drain(store: Store, bot) -> int:
    return await Announcer(store, [ChannelSender(bot)], retry_base=0.0).drain()


async def test_the_issue_scenario(store: Store, tmp_path: Path) -> None:
    async with running_bot(store) as h:
        cv = h.emu.add_channel(h.guild.id, "cv")
        diffusion = h.emu.add_channel(h.guild.id, "diffusion")
        hwang = h.emu.add_channel(h.guild.id, "hwang")
        readers = h.emu.add_role(h.guild.id, "paper-readers", mentionable=True)
        for options in (
            {"target": "category", "value": "CV", "channel": cv.id},
            {"target": "all", "channel": diffusion.id, "include": "diffusion", "exclude": "medical",
             "mention": readers.id},
            {"target": "author", "value": "Sangheum Hwang", "channel": hwang.id},
        ):
            res = await h.slash("subscribe", options=options, user=h.admin)
            assert res.embeds[0]["title"] == "Subscribed", res.content
        assert "pings <@&" in (await h.slash("subscriptions", options={"channel": diffusion.id},
                                             user=h.admin)).embeds[0]["description"]
        paused = await h.slash("subscription", "pause", options={"subscription": await sub_id(store, hwang.id)},
                               user=h.admin)
        assert paused.embeds[0]["title"] == "Paused"

        await ingest_elsewhere(Path(store.path), [
            paper(CV_DIFFUSION, "Sangheum Hwang", "Mina Park", category="CV", days_old=2,
                  abstract="We adapt latent diffusion models to segment unseen classes."),
            paper(MEDICAL, "Sangheum Hwang", category="CV", days_old=1,
                  abstract="A medical imaging study: diffusion models synthesise lesions."),
            paper(OLD, "Sangheum Hwang", category="CV", published=date(2019, 3, 1),
                  abstract="Diffusion features track objects."),
        ], tmp_path / "in")
        await drain(store, h.bot)

        assert set(titles_posted(h.emu.messages(cv.id))) == {CV_DIFFUSION, MEDICAL}
        for message in h.emu.messages(cv.id):
            assert h.emu.allowed_mentions(int(message["id"])) == {"parse": []}
            assert message["mention_roles"] == []
        [ping] = h.emu.messages(diffusion.id)
        assert ping["embeds"][0]["title"] == CV_DIFFUSION
        assert ping["content"].startswith(f"<@&{readers.id}> 📄 New paper")
        allowed = h.emu.allowed_mentions(int(ping["id"]))
        # Exactly that role: nothing parsed from the text (no @everyone, @here or users), no other role.
        assert allowed is not None and set(allowed) == {"parse", "roles"} and allowed["parse"] == []
        assert [str(r) for r in allowed["roles"]] == [str(readers.id)]
        assert ping["mention_roles"] == [str(readers.id)] and not ping["mention_everyone"] and ping["mentions"] == []
        assert h.emu.messages(hwang.id) == []

        keys = {p.title: p.key for p in await store.latest(3)}

        async def why(title: str, channel) -> str:
            res = await h.slash("why", options={"paper": keys[title]}, channel_id=channel.id)
            assert res.ephemeral
            return res.embeds[0]["description"]

        said = await why(CV_DIFFUSION, diffusion)
        assert "✅ posted it ([message](https://discord.com/channels/" in said
        assert "— matched: every new paper; include word “diffusion”" in said
        assert "🚫 did not post it: excluded by the word “medical”" in await why(MEDICAL, diffusion)
        old = await why(OLD, cv)
        assert "older than max_age: published 2019-03-01, more than 30 days before it was first seen" in old
        # `paperboy ask` answers /why (and /subscriptions) exactly as Discord shows it.
        asked = await answers.ask_payload(store, f"/why paper:{keys[OLD]} channel:{cv.id}", base_url=BASE_URL)
        assert asked["embeds"][0]["description"] == old
        named = await h.slash("why", options={"paper": keys[OLD], "channel": cv.id}, channel_id=hwang.id)
        assert named.embeds[0]["description"] == old
        printed = await paperboy_stdout("--db", store.path, "ask", f"/why paper:{keys[OLD]} channel:{cv.id}")
        assert "older than max_age: published 2019-03-01" in printed and f"**#1** category CV → <#{cv.id}>" in printed
        refused = await paperboy_stdout("--db", store.path, "ask", "/subscription pause subscription:1")
        assert "/subscription pause works only in a Discord server" in refused
        listed = await answers.ask_payload(store, "/subscriptions", base_url=BASE_URL)
        assert "(3)" in listed["embeds"][0]["title"] and "pings <@&" in listed["embeds"][0]["description"]
        held = await why(CV_DIFFUSION, hwang)
        assert "⏸️ holds it: #" in held and "author Sangheum Hwang" in held

        resumed = await h.slash("subscription", "resume", options={"subscription": await sub_id(store, hwang.id)},
                                user=h.admin)
        assert "The 2 held papers will be posted now." in resumed.embeds[0]["description"]
        await drain(store, h.bot)
        assert set(titles_posted(h.emu.messages(hwang.id))) == {CV_DIFFUSION, MEDICAL}
        assert "✅ posted it" in await why(CV_DIFFUSION, hwang)

        before = await store.outbox.counts()
        test = await h.slash("subscription", "test", options={"subscription": await sub_id(store, diffusion.id)},
                             user=h.admin)
        assert test.embeds[0]["title"] == "Test posted"
        trial = h.emu.messages(diffusion.id)[-1]
        assert trial["content"].startswith(f"<@&{readers.id}> 🧪 Test post for subscription #")
        assert trial["embeds"][0]["title"] == CV_DIFFUSION  # the newest paper the filters let through
        assert trial["mention_roles"] == []  # a test shows the role but never pings it
        assert await store.outbox.counts() == before  # nothing recorded

        # A later ingest, from another process, says the CV paper was published: every post of it is
        # edited in place (the ping is not repeated) and nothing is posted a second time.
        posts = {c.id: len(h.emu.messages(c.id)) for c in (cv, diffusion, hwang)}
        published = paper(CV_DIFFUSION, "Sangheum Hwang", "Mina Park", category="CV", days_old=2,
                          abstract="We adapt latent diffusion models to segment unseen classes.")
        await ingest_elsewhere(Path(store.path), [dict(published, doi="10.5555/diffusion.2026")], tmp_path / "in")
        await drain(store, h.bot)
        assert {c.id: len(h.emu.messages(c.id)) for c in (cv, diffusion, hwang)} == posts
        for channel in (cv, diffusion, hwang):
            [edited] = [m for m in h.emu.messages(channel.id)
                        if m["embeds"] and m["embeds"][0]["title"] == CV_DIFFUSION
                        and "Test post" not in (m["content"] or "")]
            assert "📰 Published: https://doi.org/10.5555/diffusion.2026" in edited["content"], edited["content"]
            assert edited.get("edited_timestamp")


async def test_resume_posts_at_most_ten_then_one_line_with_the_rest(store: Store, tmp_path: Path) -> None:
    async with running_bot(store) as h:
        h.emu.message_rate = (50, 1.0)
        await h.slash("subscribe", options={"target": "all"}, user=h.admin)
        number = await sub_id(store, h.channel.id)
        await h.slash("subscription", "pause", options={"subscription": number}, user=h.admin)
        again = await h.slash("subscription", "pause", options={"subscription": number}, user=h.admin)
        assert again.ephemeral and "already paused" in again.content
        await ingest_elsewhere(Path(store.path), [paper(f"Held Paper {i:02d}", days_old=1) for i in range(13)],
                               tmp_path / "in")
        assert await drain(store, h.bot) == 0
        listed = await h.slash("subscriptions", user=h.admin)
        assert ", 13 papers held (/subscription resume)" in listed.embeds[0]["description"]
        res = await h.slash("subscription", "resume", options={"subscription": number}, user=h.admin)
        assert "The first 10 of 13 held papers will be posted now" in res.embeds[0]["description"]
        assert await drain(store, h.bot) == 11
        messages = h.emu.messages(h.channel.id)
        assert [m["embeds"][0]["title"] for m in messages[:10]] == [f"Held Paper {i:02d}" for i in range(10)]
        assert messages[10]["content"] == (
            f"…and 3 more papers arrived for subscription #{number} while it was paused; "
            "read them all at http://feeds.test/")
        assert messages[10]["embeds"] == [] and h.emu.allowed_mentions(int(messages[10]["id"])) == {"parse": []}
        assert await drain(store, h.bot) == 0 and await store.outbox.counts() == {"sent": 13}
        keys = {p.title: p.key for p in await store.latest(13)}
        why = await h.slash("why", options={"paper": keys["Held Paper 12"]})
        assert "counted it in the resume's summary line" in why.embeds[0]["description"]
        # A channel the bot lost access to stops the subscription by itself; resume starts it once fixed.
        h.emu.refuse_channel(h.channel.id, 403)
        await store.ingest([record("After The Lockout", "Ada Lovelace", published=date.today())], source="x")
        await drain(store, h.bot)
        assert (await store.outbox.get(number)).paused_reason is not None
        h.emu.allow_channel(h.channel.id)
        res = await h.slash("subscription", "resume", options={"subscription": number}, user=h.admin)
        assert "It had stopped by itself (the bot may not post in" in res.embeds[0]["description"]
        assert await drain(store, h.bot) == 1
        assert h.emu.messages(h.channel.id)[-1]["embeds"][0]["title"] == "After The Lockout"


async def test_edit_changes_filters_ping_and_digest(store: Store, tmp_path: Path) -> None:
    async with running_bot(store) as h:
        role = h.emu.add_role(h.guild.id, "robots", mentionable=True)
        await h.slash("subscribe", options={"target": "all"}, user=h.admin)
        number = await sub_id(store, h.channel.id)
        nothing = await h.slash("subscription", "edit", options={"subscription": number}, user=h.admin)
        assert nothing.ephemeral and nothing.content.startswith("Nothing to change")
        res = await h.slash("subscription", "edit", options={
            "subscription": number, "include": "robot", "mention": role.id}, user=h.admin)
        assert "include robot · pings <@&" in res.embeds[0]["description"]
        await ingest_elsewhere(Path(store.path), [paper("Robots That Read"), paper("Graphs That Do Not")],
                               tmp_path / "in")
        await drain(store, h.bot)
        [posted] = h.emu.messages(h.channel.id)
        assert posted["embeds"][0]["title"] == "Robots That Read" and posted["mention_roles"] == [str(role.id)]
        res = await h.slash("subscription", "edit", options={
            "subscription": number, "include": "-", "clear_mention": True, "digest": "weekly"}, user=h.admin)
        assert "No filters, no ping." in res.embeds[0]["description"]
        assert "Delivery: weekly digest" in res.embeds[0]["description"]
        sub = await store.outbox.get(number)
        assert sub is not None and (sub.include, sub.mention_role_id, sub.digest) == ("", None, 7)
        daily_channel = h.emu.add_channel(h.guild.id, "daily")
        daily = await h.slash("subscribe", options={"target": "all", "channel": daily_channel.id, "digest": "daily"},
                              user=h.admin)
        assert f"<#{daily_channel.id}> now gets every new paper in a daily digest." in daily.embeds[0]["description"]
        assert (await store.outbox.get(await sub_id(store, daily_channel.id))).digest == 1
        # Digest subscriptions get no message per paper.
        await store.ingest([record("Robots Again", "Ada Lovelace", published=date.today())], source="x")
        await drain(store, h.bot)
        assert len(h.emu.messages(h.channel.id)) == 1 and h.emu.messages(daily_channel.id) == []
        await h.slash("subscription", "edit", options={"subscription": number, "digest": "off"}, user=h.admin)
        await store.ingest([record("Graphs Again", "Ada Lovelace", published=date.today())], source="x")
        await drain(store, h.bot)
        last = h.emu.messages(h.channel.id)[-1]  # no filter, no role any more
        assert last["embeds"][0]["title"] == "Graphs Again" and last["content"] == "📄 New paper"
        assert last["mention_roles"] == [] and h.emu.allowed_mentions(int(last["id"])) == {"parse": []}
        bad = await h.slash("subscription", "edit", options={"subscription": number, "exclude": '"open'},
                            user=h.admin)
        assert bad.ephemeral and bad.content.startswith("exclude: the quote opened at character 1")


async def test_only_admins_manage_and_see_subscription_numbers(store: Store) -> None:
    async with running_bot(store) as h:
        other = h.emu.add_channel(h.guild.id, "other")
        await h.slash("subscribe", options={"target": "all"}, user=h.admin)
        await h.slash("subscribe", options={"target": "category", "value": "CV", "channel": other.id}, user=h.admin)
        number = await sub_id(store, h.channel.id)
        for sub in ("pause", "resume", "test", "edit"):
            res = await h.slash("subscription", sub, options={"subscription": number}, user=h.member)
            assert res.ephemeral and "needs the Manage Server permission" in res.content, sub
            admin_sees = await h.emu.autocomplete("subscription", sub, options={"subscription": ""},
                                                  focused="subscription", channel_id=h.channel.id,
                                                  user_id=h.admin.id)
            assert [c["value"] for c in admin_sees] == [number, number + 1]
            assert await h.emu.autocomplete("subscription", sub, options={"subscription": ""},
                                            focused="subscription", channel_id=h.channel.id,
                                            user_id=h.member.id) == []
        assert await h.emu.autocomplete("unsubscribe", options={"subscription": ""}, focused="subscription",
                                        channel_id=h.channel.id, user_id=h.member.id) == []
        assert await store.outbox.get(number) is not None and (await store.outbox.get(number)).paused_at is None
        listed = await h.slash("subscriptions", options={"channel": other.id}, user=h.admin)
        assert listed.embeds[0]["title"] == f"Subscriptions in <#{other.id}> (1)"
        assert "category CV" in listed.embeds[0]["description"]
        assert "every new paper" not in listed.embeds[0]["description"]
        elsewhere = await h.slash("subscription", "pause", options={"subscription": 999}, user=h.admin)
        assert elsewhere.ephemeral and "There is no subscription #999 in this server" in elsewhere.content


def test_paperboy_commands_json_lists_the_subscription_commands() -> None:
    out = subprocess.run([str(PAPERBOY), "commands", "--json"], capture_output=True, text=True, check=True).stdout
    by_name = {c["name"]: c for c in json.loads(out)}
    group = by_name["subscription"]
    assert int(group["default_member_permissions"]) == 1 << 5 and group["dm_permission"] is False
    assert [o["name"] for o in group["options"]] == ["pause", "resume", "test", "edit"]
    for sub in group["options"]:
        assert sub["options"][0] == sub["options"][0] | {"name": "subscription", "type": 4, "autocomplete": True}
    assert [o["name"] for o in by_name["subscribe"]["options"]] == [
        "target", "value", "channel", "backfill", "digest", "include", "exclude", "mention"]
    digest = next(o for o in by_name["subscribe"]["options"] if o["name"] == "digest")
    assert [c["value"] for c in digest["choices"]] == ["off", "daily", "weekly"]
    assert [o["name"] for o in by_name["subscriptions"]["options"]] == ["channel"]
    assert [o["name"] for o in by_name["why"]["options"]] == ["paper", "channel"]


async def test_a_role_the_bot_cannot_ping_is_flagged_and_not_pinged(store: Store, tmp_path: Path) -> None:
    async with running_bot(store) as h:
        everyone = await h.slash("subscribe", options={"target": "all", "mention": h.guild.id}, user=h.admin)
        assert everyone.ephemeral and everyone.content.startswith("mention: announcements never ping @everyone")
        assert await store.outbox.subscriptions() == []
        quiet = h.emu.add_role(h.guild.id, "quiet", mentionable=False)
        res = await h.slash("subscribe", options={"target": "all", "mention": quiet.id}, user=h.admin)
        said = res.embeds[0]["description"]
        assert f"⚠️ <@&{quiet.id}> will not actually be pinged: the role is not mentionable" in said
        await ingest_elsewhere(Path(store.path), [paper("Quiet Paper")], tmp_path / "in")
        await drain(store, h.bot)
        [message] = h.emu.messages(h.channel.id)
        assert message["content"].startswith(f"<@&{quiet.id}>") and message["mention_roles"] == []
        loud = h.emu.add_role(h.guild.id, "loud", mentionable=True)
        res = await h.slash("subscription", "edit", options={
            "subscription": await sub_id(store, h.channel.id), "mention": loud.id}, user=h.admin)
        assert "will not actually be pinged" not in res.embeds[0]["description"]


async def test_why_explains_papers_from_before_a_subscription_and_other_targets(store: Store) -> None:
    async with running_bot(store) as h:
        await h.slash("subscribe", options={"target": "author", "value": "Sangheum Hwang"}, user=h.admin)
        seed_paper = (await store.latest(1))[0]
        said = (await h.slash("why", options={"paper": seed_paper.key})).embeds[0]["description"]
        assert "it was already in the library when #" in said and "backfill: posts recent ones" in said
        assert "(the target matched: author Sangheum Hwang" in said
        elsewhere = h.emu.add_channel(h.guild.id, "quiet")
        none = await h.slash("why", options={"paper": seed_paper.key}, channel_id=elsewhere.id)
        assert none.embeds[0]["description"].startswith(f"No subscription posts in <#{elsewhere.id}>")
        await h.slash("subscribe", options={"target": "topic", "value": "SSL", "channel": elsewhere.id},
                      user=h.admin)
        other = next(p for p in await store.latest(30) if "SSL" not in p.abstract and "self-supervised" not in
                     p.abstract.lower())
        res = await h.slash("why", options={"paper": other.key}, channel_id=elsewhere.id)
        assert "➖ does not follow it: follows the topic SSL, which this paper is not linked to" in \
            res.embeds[0]["description"]
        missing = await h.slash("why", options={"paper": "no-such-paper"})
        assert missing.ephemeral and "it has not been ingested (yet)" in missing.content
