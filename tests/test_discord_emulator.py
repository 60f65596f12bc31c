"""Tests of the loopback Discord emulator against the unmodified discord.py client.

A small commands.Bot defined here (not paperboy's bot) logs in over real
sockets; each test checks one thing Discord does that a bot depends on.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.discord_emulator import (
    DiscordEmulator,
    InteractionFailed,
)

TOKEN = "emulator-test-token"

@dataclass
class Notes:
    """What the test bot saw, for assertions."""

    errors: list[Exception] = field(default_factory=list)
    choice_count: int = 3
    resumed: int = 0
    nonce: int = 4242


def make_bot(guild_id: int, notes: Notes) -> commands.Bot:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.default(),
                       guild_ready_timeout=0.05, help_command=None)
    group = app_commands.Group(name="paper", description="Papers")

    class Pager(discord.ui.View):
        def __init__(self) -> None:
            super().__init__(timeout=None)
            self.page = 1

        @discord.ui.button(label="Next", custom_id="pager:next")
        async def next_page(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
            self.page += 1
            await interaction.response.edit_message(content=f"page {self.page}", view=self)

        @discord.ui.button(label="Refresh", custom_id="pager:refresh")
        async def refresh(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
            await interaction.response.defer()
            assert interaction.message is not None
            await interaction.message.edit(content=f"page {self.page} (fresh)")

        @discord.ui.select(custom_id="pager:size", options=[discord.SelectOption(label="5"),
                                                            discord.SelectOption(label="10")])
        async def size(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
            await interaction.response.send_message(f"size {select.values[0]}", ephemeral=True)

    @group.command(name="reply", description="Reply at once")
    async def reply(interaction: discord.Interaction, query: str) -> None:
        await interaction.response.send_message(f"results for {query}")

    @group.command(name="admin", description="Says whether the caller may manage the guild")
    async def admin(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(str(interaction.permissions.manage_guild))

    @group.command(name="slow", description="Defer, then follow up")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        await asyncio.sleep(0.05)
        await interaction.followup.send("slow done")

    @group.command(name="author", description="Find an author")
    async def author(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"author {name}")

    @author.autocomplete("name")
    async def author_names(interaction: discord.Interaction, current: str
                           ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f"{current}-{i}", value=f"{current}-{i}")
                for i in range(notes.choice_count)]

    @group.command(name="pages", description="A paginated answer")
    async def pages(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("page 1", view=Pager())

    @group.command(name="post", description="Post to the channel with a nonce")
    async def post(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.defer()
        assert isinstance(interaction.channel, discord.TextChannel)
        first = await interaction.channel.send(text, nonce=notes.nonce)
        again = await interaction.channel.send(text, nonce=notes.nonce)
        await interaction.followup.send(f"posted {first.id} {again.id}")

    @group.command(name="late", description="Answers too late")
    async def late(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.3)
        try:
            await interaction.response.send_message("too late")
        except discord.HTTPException as exc:
            notes.errors.append(exc)

    @group.command(name="big", description="Answers with an oversize embed")
    async def big(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message(embed=discord.Embed(description="x" * 4097))
        except discord.HTTPException as exc:
            notes.errors.append(exc)

    bot.tree.add_command(group)

    async def setup_hook() -> None:
        guild = discord.Object(guild_id)
        bot.tree.copy_global_to(guild=guild)
        await bot.tree.sync(guild=guild)
        await bot.tree.sync()

    async def on_resumed() -> None:
        notes.resumed += 1

    async def before_identify_hook(shard_id: int | None, *, initial: bool = False) -> None:
        # discord.py waits 5 s before every re-IDENTIFY (Discord's identify limit); not here.
        return None

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    bot.before_identify_hook = before_identify_hook  # type: ignore[method-assign]
    bot.add_listener(on_resumed)
    return bot


@dataclass
class Lab:
    emu: DiscordEmulator
    bot: commands.Bot
    notes: Notes
    guild_id: int
    papers: int
    alice: int
    bob: int

    def channel(self) -> discord.TextChannel:
        chan = self.bot.get_channel(self.papers)
        assert isinstance(chan, discord.TextChannel)
        return chan


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator(token=TOKEN) as emulator:
        emulator.point_discord_py()
        yield emulator


@pytest.fixture
async def lab(emu: DiscordEmulator) -> AsyncIterator[Lab]:
    guild = emu.add_guild("Lab")
    papers = emu.add_channel(guild.id, "papers")
    alice = emu.add_member(guild.id, "alice",
                           permissions=discord.Permissions(manage_guild=True).value)
    bob = emu.add_member(guild.id, "bob", permissions=0)
    notes = Notes()
    bot = make_bot(guild.id, notes)
    task = asyncio.create_task(bot.start(TOKEN))
    try:
        ready = asyncio.ensure_future(asyncio.wait_for(bot.wait_until_ready(), 10))
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():  # the bot died during login: show why instead of timing out
            ready.cancel()
            task.result()
            raise AssertionError("bot stopped before it was ready")
        await ready
        await emu.wait_ready(timeout=1)
        yield Lab(emu, bot, notes, guild.id, papers.id, alice.id, bob.id)
    finally:
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


# -- login, READY, GUILD_CREATE, command sync --------------------------------------------------


async def test_login_ready_guild_create_and_sync(lab: Lab) -> None:
    emu, bot = lab.emu, lab.bot
    assert bot.user is not None and bot.user.id == emu.bot_user_id
    assert bot.application_id == emu.application_id
    me = emu.requests_to("GET", "/users/@me")
    assert me and me[0].headers["Authorization"] == "<valid>"
    assert emu.requests_to("GET", "/oauth2/applications/@me")
    identify = [p for p in emu.gateway_received if p["op"] == 2]
    assert len(identify) == 1 and identify[0]["d"]["token"] == TOKEN
    assert identify[0]["d"]["intents"] == discord.Intents.default().value

    guild = bot.get_guild(lab.guild_id)
    assert guild is not None and guild.name == "Lab"
    assert guild.owner_id == emu.guild(lab.guild_id).owner_id
    assert [c.name for c in guild.text_channels] == ["papers"]
    assert guild.me is not None and guild.me.id == emu.bot_user_id
    # Without the privileged members intent Discord sends only the bot's own member.
    assert guild.get_member(lab.alice) is None
    assert guild.member_count == 4  # bot, owner, alice, bob

    puts = emu.requests_to("PUT", f"/applications/{emu.application_id}/guilds/{{g}}/commands")
    assert len(puts) == 1 and puts[0].status == 200
    synced = emu.commands(lab.guild_id)
    assert [c["name"] for c in synced] == ["paper"]
    subs = {o["name"] for o in synced[0]["options"]}
    assert {"reply", "slow", "author", "pages", "post", "late", "big"} <= subs
    assert [c["name"] for c in emu.commands()] == ["paper"]
    assert all(c["id"] for c in synced)


# -- interactions ------------------------------------------------------------------------------


async def test_slash_round_trip(lab: Lab) -> None:
    res = await lab.emu.slash("paper", "reply", options={"query": "domain adaptation"},
                              channel_id=lab.papers, user_id=lab.bob)
    assert res.type == 4
    assert res.content == "results for domain adaptation"
    assert not res.ephemeral
    sent = res.payload["data"]
    assert sent["guild_id"] == str(lab.guild_id)
    assert sent["options"][0]["name"] == "reply"
    assert sent["options"][0]["options"] == [{"name": "query", "type": 3,
                                               "value": "domain adaptation"}]
    posted = lab.emu.messages(lab.papers)
    assert [m["content"] for m in posted] == ["results for domain adaptation"]
    assert posted[0]["type"] == 20
    assert posted[0]["interaction_metadata"]["user"]["id"] == str(lab.bob)


async def test_member_permissions_reach_the_bot(lab: Lab) -> None:
    alice = await lab.emu.slash("paper", "admin", channel_id=lab.papers, user_id=lab.alice)
    bob = await lab.emu.slash("paper", "admin", channel_id=lab.papers, user_id=lab.bob)
    assert (alice.content, bob.content) == ("True", "False")
    owner = await lab.emu.slash("paper", "admin", channel_id=lab.papers)  # default: the owner
    assert owner.content == "True"


async def test_unknown_option_is_refused_before_dispatch(lab: Lab) -> None:
    with pytest.raises(ValueError, match="no option 'q'"):
        await lab.emu.slash("paper", "reply", options={"q": "x"}, channel_id=lab.papers)
    with pytest.raises(ValueError, match="missing required"):
        await lab.emu.slash("paper", "reply", channel_id=lab.papers)
    with pytest.raises(LookupError):
        await lab.emu.slash("nosuch", channel_id=lab.papers)


async def test_defer_then_followup(lab: Lab) -> None:
    res = await lab.emu.slash("paper", "slow", channel_id=lab.papers, user_id=lab.alice)
    assert res.type == 5
    assert res.ephemeral
    assert res.content == "slow done"
    assert len(res.followups) == 1 and res.followups[0]["id"] == res.message["id"]
    assert lab.emu.messages(lab.papers) == []  # ephemeral: nobody else sees it
    assert lab.emu.requests_to("POST", f"/webhooks/{lab.emu.application_id}/{{token}}")


async def test_autocomplete(lab: Lab) -> None:
    choices = await lab.emu.autocomplete("paper", "author", options={"name": "hwang"},
                                         focused="name", channel_id=lab.papers)
    assert choices == [{"name": f"hwang-{i}", "value": f"hwang-{i}"} for i in range(3)]
    sent = next(r for r in lab.emu.interactions() if r.kind == 4).payload["data"]
    assert sent["options"][0]["options"][0]["focused"] is True

    lab.notes.choice_count = 26
    with pytest.raises(InteractionFailed, match="50035"):
        await lab.emu.autocomplete("paper", "author", options={"name": "x"}, focused="name",
                                   channel_id=lab.papers)


async def test_button_press_updates_message(lab: Lab) -> None:
    res = await lab.emu.slash("paper", "pages", channel_id=lab.papers, user_id=lab.bob)
    assert res.content == "page 1"
    button = res.components[0]["components"][0]
    assert button["custom_id"] == "pager:next"
    pressed = await lab.emu.press_button(res, "pager:next")
    assert pressed.type == 7
    assert pressed.payload["data"] == {"custom_id": "pager:next", "component_type": 2}
    assert pressed.payload["message"]["id"] == res.message["id"]
    assert pressed.content == "page 2"
    again = await lab.emu.press_button(pressed.message, "pager:next", user_id=lab.alice)
    assert again.content == "page 3"
    assert [m["content"] for m in lab.emu.messages(lab.papers)] == ["page 3"]
    with pytest.raises(ValueError, match="no component"):
        await lab.emu.press_button(res, "pager:prev")
    fresh = await lab.emu.press_button(again, "pager:refresh")
    assert (fresh.type, fresh.content) == (6, "page 3 (fresh)")
    picked = await lab.emu.select(again, "pager:size", ["10"], user_id=lab.bob)
    assert picked.payload["data"]["values"] == ["10"]
    assert (picked.type, picked.content, picked.ephemeral) == (4, "size 10", True)


async def test_dm_interaction(lab: Lab) -> None:
    dm = lab.emu.dm_channel(lab.bob)
    res = await lab.emu.slash("paper", "reply", options={"query": "dm"}, channel_id=dm.id,
                              user_id=lab.bob)
    assert "guild_id" not in res.payload and "member" not in res.payload
    assert res.payload["user"]["id"] == str(lab.bob)
    assert res.content == "results for dm"
    assert [m["content"] for m in lab.emu.messages(dm.id)] == ["results for dm"]


# -- Discord's refusals --------------------------------------------------------------------------


async def test_oversize_payloads_get_50035(lab: Lab) -> None:
    chan = lab.channel()
    with pytest.raises(discord.HTTPException) as caught:
        await chan.send(embed=discord.Embed(description="x" * 4097))
    assert caught.value.status == 400 and caught.value.code == 50035
    assert "embeds.0.description" in caught.value.text
    with pytest.raises(discord.HTTPException) as caught:
        await chan.send("y" * 2001)
    assert caught.value.code == 50035 and "content" in caught.value.text
    fields = discord.Embed(title="t")
    for i in range(26):
        fields.add_field(name=f"f{i}", value="v")
    with pytest.raises(discord.HTTPException, match="fields"):
        await chan.send(embed=fields)
    many = [discord.Embed(description="d" * 1000) for _ in range(7)]
    with pytest.raises(discord.HTTPException, match="6000"):
        await chan.send(embeds=many)
    assert lab.emu.messages(lab.papers) == []

    with pytest.raises(InteractionFailed, match="50035"):
        await lab.emu.slash("paper", "big", channel_id=lab.papers)
    await asyncio.sleep(0.05)
    assert [getattr(e, "code", None) for e in lab.notes.errors] == [50035]


async def test_second_acknowledgement_gets_40060(lab: Lab) -> None:
    res = await lab.emu.slash("paper", "reply", options={"query": "once"}, channel_id=lab.papers)
    url = f"{lab.emu.api_base}/interactions/{res.id}/{res.token}/callback"
    async with aiohttp.ClientSession() as http, http.post(
        url, json={"type": 4, "data": {"content": "twice"}}
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["code"] == 40060
    assert res.rejections[0].body["code"] == 40060
    assert lab.emu.message_count(lab.papers) == 1


async def test_late_callback_gets_10062(lab: Lab) -> None:
    lab.emu.interaction_window = 0.1
    res = await lab.emu.slash("paper", "late", channel_id=lab.papers, wait=False)
    await res.wait_for(lambda r: r.rejections, timeout=5)
    assert (res.rejections[0].status, res.rejections[0].body["code"]) == (404, 10062)
    await asyncio.sleep(0.05)
    assert isinstance(lab.notes.errors[0], discord.NotFound)
    assert lab.notes.errors[0].code == 10062
    assert res.type is None and lab.emu.messages(lab.papers) == []


async def test_429_with_via_is_retried_and_posted_once(lab: Lab) -> None:
    fault = lab.emu.fail_next("POST", "/channels/{channel_id}/messages", status=429, count=2,
                              retry_after=0.05)
    msg = await lab.channel().send("after the storm")
    assert fault.remaining == 0
    posts = lab.emu.requests_to("POST", f"/channels/{lab.papers}/messages")
    assert [p.status for p in posts] == [429, 429, 200]
    assert [m["id"] for m in lab.emu.messages(lab.papers)] == [str(msg.id)]

    lab.emu.fail_next("POST", "/channels/*", status=429, via=False)
    with pytest.raises(discord.HTTPException) as caught:
        await lab.channel().send("banned by the proxy")
    assert caught.value.status == 429
    assert lab.emu.message_count(lab.papers) == 1

    lab.emu.fail_next("GET", "/channels/{channel_id}", status=503)
    with pytest.raises(discord.DiscordServerError):
        await lab.bot.fetch_channel(lab.papers)


async def test_channel_send_rate_limit(lab: Lab) -> None:
    # A window far longer than three requests take, however loaded the machine: the third is refused.
    lab.emu.message_rate = (2, 60.0)
    url = f"{lab.emu.api_base}/channels/{lab.papers}/messages"
    auth = {"Authorization": f"Bot {TOKEN}"}
    async with aiohttp.ClientSession() as http:
        statuses = []
        for i in range(3):
            async with http.post(url, json={"content": f"raw {i}"}, headers=auth) as resp:
                statuses.append(resp.status)
                last_headers, last_body = resp.headers, await resp.json()
    assert statuses == [200, 200, 429]
    assert last_headers["Via"] and float(last_headers["Retry-After"]) >= 1
    assert last_body["global"] is False and 0 < last_body["retry_after"] <= 60.0

    # discord.py reads the headers and waits out a short window instead of drawing a 429: the
    # third send is only accepted once the window has passed (a send too early is refused, and
    # that 429 would show below). Load can only make the gap longer, never shorter.
    lab.emu.message_rate = (2, 0.4)  # also starts the windows afresh
    for i in range(3):
        await lab.channel().send(f"bot {i}")
    bot_posts = [r for r in lab.emu.requests_to("POST", f"/channels/{lab.papers}/messages")
                 if r.json["content"].startswith("bot")]
    assert [r.status for r in bot_posts] == [200, 200, 200]
    assert bot_posts[2].time - bot_posts[0].time >= 0.4 - 0.05
    assert lab.emu.message_count(lab.papers) == 5


async def test_nonce_dedupe(lab: Lab) -> None:
    res = await lab.emu.slash("paper", "post", options={"text": "new paper"},
                              channel_id=lab.papers)
    first, again = res.content.split()[1:]
    assert first == again
    sent = lab.emu.requests_to("POST", f"/channels/{lab.papers}/messages")
    assert len(sent) == 2
    assert all(r.json["nonce"] == "4242" and r.json["enforce_nonce"] is True for r in sent)
    posts = [m for m in lab.emu.messages(lab.papers) if m["content"] == "new paper"]
    assert len(posts) == 1
    other = await lab.channel().send("new paper", nonce=4343)
    assert str(other.id) != first


async def test_refused_channel(lab: Lab) -> None:
    lab.emu.refuse_channel(lab.papers, status=403)
    with pytest.raises(discord.Forbidden) as forbidden:
        await lab.channel().send("hello")
    assert forbidden.value.code == 50013
    lab.emu.refuse_channel(lab.papers, status=404)
    with pytest.raises(discord.NotFound) as missing:
        await lab.channel().send("hello")
    assert missing.value.code == 10003
    lab.emu.allow_channel(lab.papers)
    await lab.channel().send("hello")
    assert lab.emu.message_count(lab.papers) == 1


async def test_allowed_mentions_recorded(lab: Lab) -> None:
    quiet = await lab.channel().send(f"hi <@{lab.bob}>", allowed_mentions=discord.AllowedMentions.none())
    loud = await lab.channel().send(f"hi <@{lab.bob}>")
    assert lab.emu.allowed_mentions(quiet.id)["parse"] == []
    assert lab.emu.message(quiet.id)["mentions"] == []
    assert [u["id"] for u in lab.emu.message(loud.id)["mentions"]] == [str(lab.bob)]


async def test_files_arrive_as_attachments(lab: Lab) -> None:
    sent = await lab.channel().send("see file", file=discord.File(io.BytesIO(b"abc"), "a.txt"))
    assert [(a.filename, a.size) for a in sent.attachments] == [("a.txt", 3)]
    request = lab.emu.requests_to("POST", f"/channels/{lab.papers}/messages")[-1]
    assert request.json["content"] == "see file"
    assert [(f["filename"], f["data"]) for f in request.files] == [("a.txt", b"abc")]


# -- gateway ---------------------------------------------------------------------------------------


async def test_dropped_gateway_resumes_and_replays(lab: Lab) -> None:
    emu = lab.emu
    assert await emu.drop_gateway() == 1
    # Sent while the bot is disconnected: kept in the session and replayed on RESUME.
    res = await emu.slash("paper", "reply", options={"query": "missed"}, channel_id=lab.papers,
                          wait=False)
    await emu.wait_resumed(timeout=10)
    await res.wait(timeout=10)
    assert res.content == "results for missed"
    assert emu.identify_count == 1 and emu.resume_count == 1
    assert emu.replayed_count >= 1
    resumes = [p for p in emu.gateway_received if p["op"] == 6]
    assert resumes[0]["d"]["token"] == TOKEN
    assert emu.gateway_connections[-1]["resume_url"] is True
    await asyncio.sleep(0.05)
    assert lab.notes.resumed == 1
    later = await emu.slash("paper", "reply", options={"query": "later"}, channel_id=lab.papers)
    assert later.content == "results for later"


async def test_discord_py_gets_the_stream_it_asked_for(lab: Lab) -> None:
    # discord.py 2.7 asks for zstd-stream when zstandard is importable, else zlib-stream.
    asked = discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
    first = lab.emu.gateway_connections[0]
    assert first["compress"] == asked
    assert first["binary_frames"] > 0 and first["text_frames"] == 0
    events = [f.t for f in first["frames"] if f.t]
    assert events[:2] == ["READY", "GUILD_CREATE"]


async def test_reconnect_and_invalid_session(lab: Lab) -> None:
    emu = lab.emu
    await emu.request_reconnect()
    await emu.wait_resumed(timeout=10)
    assert emu.identify_count == 1
    await emu.invalidate_session()
    await emu._notifier.wait_until(lambda: emu.identify_count == 2 and emu._gateway.connected(),
                                   10, "a fresh IDENTIFY")
    res = await emu.slash("paper", "reply", options={"query": "fresh"}, channel_id=lab.papers)
    assert res.content == "results for fresh"


async def test_world_changes_reach_a_connected_bot(lab: Lab) -> None:
    emu, bot = lab.emu, lab.bot
    joined = asyncio.ensure_future(bot.wait_for("guild_join", timeout=5))
    guild = emu.add_guild("Second")
    assert (await joined).id == guild.id
    created = asyncio.ensure_future(bot.wait_for("guild_channel_create", timeout=5))
    chan = emu.add_channel(guild.id, "news")
    assert (await created).id == chan.id
    said = asyncio.ensure_future(bot.wait_for("message", timeout=5))
    posted = await emu.user_message(lab.papers, lab.bob, "hello bot")
    message = await said
    assert message.id == int(posted["id"]) and message.author.id == lab.bob
