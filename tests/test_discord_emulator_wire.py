"""Wire-level tests of the Discord emulator: headers, frames, limits and callbacks seen by a
bare HTTP/websocket client (no discord.py in between), plus webhooks through discord.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest

from tests.discord_emulator import DiscordEmulator, point_discord_py_at

TOKEN = "emulator-test-token"


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator(token=TOKEN) as emulator:
        emulator.point_discord_py()
        yield emulator


async def test_rest_answers_like_discord(emu: DiscordEmulator) -> None:
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bot {TOKEN}"}
        async with http.get(f"{emu.api_base}/users/@me", headers=auth) as resp:
            assert resp.headers["Content-Type"] == "application/json"
            for header in ("Limit", "Remaining", "Reset", "Reset-After", "Bucket"):
                assert f"X-RateLimit-{header}" in resp.headers
            assert (await resp.json())["id"] == str(emu.bot_user_id)
        async with http.get(f"{emu.api_base}/users/@me",
                            headers={"Authorization": "Bot wrong"}) as resp:
            assert resp.status == 401
        async with http.get(f"{emu.api_base}/gateway/bot", headers=auth) as resp:
            assert (await resp.json())["url"].startswith("ws://127.0.0.1:")
        async with http.get(f"{emu.api_base}/no/such/route", headers=auth) as resp:
            assert resp.status == 404
    assert [r.path for r in emu.unhandled] == ["/no/such/route"]

    client = discord.Client(intents=discord.Intents.default())
    try:
        with pytest.raises(discord.LoginFailure):
            await client.login("not-the-token")
    finally:
        await client.close()


async def test_point_discord_py_at_restores() -> None:
    before = discord.http.Route.BASE
    restore = point_discord_py_at("http://127.0.0.1:1/api/v10", "ws://127.0.0.1:1/")
    try:
        assert discord.http.Route.BASE == "http://127.0.0.1:1/api/v10"
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:1/"
    finally:
        restore()
    assert discord.http.Route.BASE == before


async def test_component_limits_get_50035(emu: DiscordEmulator) -> None:
    guild = emu.add_guild("Lab")
    chan = emu.add_channel(guild.id, "papers")
    button = {"type": 2, "style": 1, "label": "b"}
    row = {"type": 1, "components": [button | {"custom_id": f"b{i}"} for i in range(6)]}
    url = f"{emu.api_base}/channels/{chan.id}/messages"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {TOKEN}"}) as http:
        async with http.post(url, json={"content": "x", "components": [row]}) as resp:
            body = await resp.json()
        assert resp.status == 400 and body["code"] == 50035
        assert "_errors" in body["errors"]["components"]["0"]["components"]
        rows = [{"type": 1, "components": [button | {"custom_id": f"r{i}"}]} for i in range(6)]
        async with http.post(url, json={"content": "x", "components": rows}) as resp:
            assert (await resp.json())["errors"]["components"]["_errors"][0]["code"] == (
                "BASE_TYPE_MAX_LENGTH")
        async with http.post(url, json={"content": ""}) as resp:
            assert (await resp.json())["code"] == 50006
    assert emu.messages(chan.id) == []


@pytest.mark.parametrize("split", [False, True])
async def test_zlib_stream_frames_on_the_wire(split: bool) -> None:
    async with DiscordEmulator(token=TOKEN, split_compressed_frames=split) as emu, \
            aiohttp.ClientSession() as http:
        emu.add_guild("Wire")
        url = f"{emu.gateway_url}?v=10&encoding=json&compress=zlib-stream"
        async with http.ws_connect(url) as ws:
            inflate = zlib.decompressobj()
            buffer = bytearray()
            frames = 0

            async def receive() -> dict[str, Any]:
                nonlocal buffer, frames
                while True:
                    msg = await ws.receive(timeout=5)
                    assert msg.type == aiohttp.WSMsgType.BINARY
                    frames += 1
                    buffer.extend(msg.data)
                    if buffer[-4:] == b"\x00\x00\xff\xff":
                        text = inflate.decompress(bytes(buffer))
                        buffer = bytearray()
                        return json.loads(text)

            hello = await receive()
            assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
            await ws.send_json({"op": 2, "d": {"token": TOKEN, "intents": 1,
                                               "properties": {}}})
            ready = await receive()
            assert (ready["t"], ready["s"]) == ("READY", 1)
            assert ready["d"]["application"]["id"] == str(emu.application_id)
            assert ready["d"]["resume_gateway_url"].startswith("ws://127.0.0.1:")
            guild = await receive()
            assert guild["t"] == "GUILD_CREATE" and guild["d"]["name"] == "Wire"
            await ws.send_json({"op": 1, "d": 2})
            assert (await receive())["op"] == 11
            assert frames == (8 if split else 4)


async def test_plain_text_gateway_and_bad_token() -> None:
    async with DiscordEmulator(token=TOKEN) as emu, aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{emu.gateway_url}?v=10&encoding=json") as ws:
            hello = await ws.receive(timeout=5)
            assert hello.type == aiohttp.WSMsgType.TEXT and json.loads(hello.data)["op"] == 10
            await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 1, "properties": {}}})
            closed = await ws.receive(timeout=5)
            assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4004


async def test_plain_webhook_execute(emu: DiscordEmulator) -> None:
    guild = emu.add_guild("Lab")
    news = emu.add_channel(guild.id, "news")
    hook = emu.add_webhook(news.id, name="announcer")
    async with aiohttp.ClientSession() as http:
        webhook = discord.Webhook.from_url(hook.url, session=http)
        fetched = await webhook.fetch()
        assert fetched.channel_id == news.id
        sent = await webhook.send("new papers", embed=discord.Embed(title="Paper"), wait=True)
        assert sent.webhook_id == hook.id
        edited = await webhook.edit_message(sent.id, content="new papers (2)")
        assert edited.content == "new papers (2)"
        async with http.post(hook.local_url, json={"content": "no wait"}) as resp:
            assert resp.status == 204
        async with http.post(f"{emu.api_base}/webhooks/{hook.id}/wrong-token",
                             json={"content": "x"}) as resp:
            assert resp.status == 401 and (await resp.json())["code"] == 50027
    posted = emu.messages(news.id)
    assert [m["content"] for m in posted] == ["new papers (2)", "no wait"]
    assert posted[0]["author"]["username"] == "announcer"
    assert posted[0]["embeds"][0]["title"] == "Paper"
    assert emu.requests_to("POST", "/webhooks/{id}/{token}")[0].query["wait"] == "1"


@contextlib.asynccontextmanager
async def raw_bot(emu: DiscordEmulator, http: aiohttp.ClientSession
                  ) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """IDENTIFY over a plain-text gateway socket; yields a queue of DISPATCH payloads."""
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with http.ws_connect(f"{emu.gateway_url}?v=10&encoding=json") as ws:
        await ws.receive_json(timeout=5)  # HELLO
        await ws.send_json({"op": 2, "d": {"token": TOKEN, "intents": 1, "properties": {}}})

        async def pump() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await events.put(json.loads(msg.data))

        task = asyncio.create_task(pump())
        try:
            await emu.wait_ready()
            yield events
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _next_interaction(events: asyncio.Queue[dict[str, Any]]) -> dict[str, Any]:
    while True:
        event = await asyncio.wait_for(events.get(), 5)
        if event.get("t") == "INTERACTION_CREATE":
            return event["d"]


async def test_callback_variants_from_a_bare_client(emu: DiscordEmulator) -> None:
    guild = emu.add_guild("Lab")
    chan = emu.add_channel(guild.id, "papers")
    commands_body = [{"name": "ask", "description": "Ask", "type": 1,
                      "options": [{"name": "q", "description": "Q", "type": 3,
                                   "required": True}]}]
    async with aiohttp.ClientSession() as http, raw_bot(emu, http) as events:
        base = emu.api_base
        async with http.put(f"{base}/applications/{emu.application_id}/commands",
                            json=commands_body, headers={"Authorization": f"Bot {TOKEN}"}) as r:
            assert r.status == 200 and (await r.json())[0]["id"]

        # Without with_response Discord answers 204 No Content.
        res = await emu.slash("ask", options={"q": "a"}, channel_id=chan.id, wait=False)
        got = await _next_interaction(events)
        assert got["data"]["options"] == [{"name": "q", "type": 3, "value": "a"}]
        assert "guild_id" not in got["data"]  # a global command
        hook = f"{base}/webhooks/{emu.application_id}/{got['token']}"
        async with http.post(hook, json={"content": "too early"}) as r:
            assert r.status == 404 and (await r.json())["code"] == 10015
        callback = f"{base}/interactions/{got['id']}/{got['token']}/callback"
        async with http.post(callback, json={"type": 8, "data": {"choices": []}}) as r:
            assert r.status == 400 and (await r.json())["code"] == 50035
        async with http.post(callback, json={"type": 4, "data": {"content": "hi"}}) as r:
            assert r.status == 204
        await res.wait()
        assert res.content == "hi" and [e.status for e in res.rejections] == [404, 400]

        # A followup and an edit of it through the interaction token.
        async with http.post(hook, json={"content": "more", "flags": 64}) as r:
            followup = await r.json()
        assert followup["flags"] & 64 and followup["id"] != res.message["id"]
        async with http.patch(f"{hook}/messages/{followup['id']}", json={"content": "edited"}) as r:
            assert (await r.json())["edited_timestamp"]
        assert [m["content"] for m in res.followups] == ["edited"]
        async with http.patch(f"{hook}/messages/@original", json={"content": "hi!"}) as r:
            assert r.status == 200
        assert res.edits == [{"content": "hi!"}]
        assert [m["content"] for m in emu.messages(chan.id)] == ["hi!"]  # followup is ephemeral

        # A modal answer.
        res = await emu.slash("ask", options={"q": "b"}, channel_id=chan.id, wait=False)
        got = await _next_interaction(events)
        modal = {"custom_id": "m", "title": "T", "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "t", "label": "L", "style": 1}]}]}
        async with http.post(f"{base}/interactions/{got['id']}/{got['token']}/callback",
                             params={"with_response": "true"},
                             json={"type": 9, "data": modal}) as r:
            assert (await r.json())["resource"]["type"] == 9
        await res.wait()
        assert res.modal is not None and res.modal["custom_id"] == "m"
