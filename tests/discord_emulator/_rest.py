"""The emulated REST API (v10): middleware, users, application, commands, channels, messages.

Every request is recorded, may be answered by an injected fault, is
authenticated and rate limited like Discord, and gets Discord's headers and
``Content-Type: application/json`` (exactly; discord.py compares it verbatim).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ._faults import Faults, RateInfo, RateLimiter, rate_limited_body, rate_limited_headers
from ._gateway import Gateway
from ._interactions import InteractionResult
from ._limits import DiscordError, check_commands
from ._messages import attachments_from, edit_message, find_message, new_message
from ._state import DM, Notifier, RecordedRequest, World

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
RECORD = web.RequestKey("discord_emulator_record", RecordedRequest)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    return web.Response(body=json.dumps(data).encode(), status=status, headers=all_headers)


@dataclass
class Settings:
    token: str
    message_rate: tuple[int, float]
    webhook_rate: tuple[int, float]
    default_rate: tuple[int, float]
    interaction_window: float
    token_ttl: float
    # Requests per seconds for everything sent with the bot's token (Discord's is 50 per 1 s);
    # None: not enforced. Webhook and interaction-callback requests do not count, as on Discord.
    global_rate: tuple[int, float] | None = None


class Rest:
    """Route handlers over one World; interaction routes live in ``_webhooks``."""

    def __init__(self, world: World, notifier: Notifier, gateway: Gateway, settings: Settings,
                 api_base: Callable[[], str], gateway_url: Callable[[], str]) -> None:
        self.world = world
        self.notifier = notifier
        self.gateway = gateway
        self.settings = settings
        self._api_base = api_base
        self._gateway_url = gateway_url
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[RecordedRequest] = []
        self.limiter = RateLimiter()
        self.faults = Faults()
        self.refused: dict[int, int] = {}
        self.interactions: dict[int, InteractionResult] = {}
        self.by_token: dict[str, InteractionResult] = {}
        self.allowed_mentions: dict[int, Any] = {}
        # False emulates a resend after Discord's nonce window (minutes): enforce_nonce is ignored.
        self.honour_nonce = True
        # Seconds between storing a posted message and answering: widens the window in which a
        # killed client has been posted to but has not heard so (the kill sweep aims there).
        self.post_delay = 0.0
        # How many more message creates (channel or webhook) are stored and then answered by a
        # dropped connection: the client cannot know whether its message was posted.
        self.drop_after_post = 0

    # -- app and middleware -------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        p = API_PREFIX
        return [
            web.get(p + "/users/@me", self.get_me),
            web.post(p + "/users/@me/channels", self.create_dm),
            web.get(p + "/users/{user_id}", self.get_user),
            web.get(p + "/oauth2/applications/@me", self.get_application),
            web.get(p + "/applications/@me", self.get_application),
            web.get(p + "/gateway", self.get_gateway),
            web.get(p + "/gateway/bot", self.get_gateway_bot),
            web.get(p + "/applications/{application_id}/commands", self.get_commands),
            web.put(p + "/applications/{application_id}/commands", self.put_commands),
            web.get(p + "/applications/{application_id}/guilds/{guild_id}/commands",
                    self.get_commands),
            web.put(p + "/applications/{application_id}/guilds/{guild_id}/commands",
                    self.put_commands),
            web.get(p + "/guilds/{guild_id}", self.get_guild),
            web.get(p + "/guilds/{guild_id}/channels", self.get_guild_channels),
            web.get(p + "/guilds/{guild_id}/members/{user_id}", self.get_member),
            web.get(p + "/channels/{channel_id}", self.get_channel),
            web.get(p + "/channels/{channel_id}/messages", self.list_messages),
            web.post(p + "/channels/{channel_id}/messages", self.create_message),
            web.get(p + "/channels/{channel_id}/messages/{message_id}", self.get_message),
            web.patch(p + "/channels/{channel_id}/messages/{message_id}", self.patch_message),
            web.delete(p + "/channels/{channel_id}/messages/{message_id}", self.delete_message),
            web.post(p + "/channels/{channel_id}/typing", self.typing),
        ]

    def _needs_auth(self, rel: str) -> bool:
        return not rel.startswith(("/webhooks/", "/interactions/", "/gateway"))

    def _bucket(self, request: web.Request, rel: str) -> tuple[str, str, int, float]:
        info = request.match_info
        template = info.route.resource.canonical if info.route.resource else rel
        major = info.get("channel_id") or info.get("guild_id") or ""
        if "webhook_id" in info:
            major = f"{info['webhook_id']}/{info.get('webhook_token', '')}"
        if "interaction_id" in info:
            major = info["interaction_id"]
        limit, per = self.settings.default_rate
        if request.method == "POST" and template.endswith("/channels/{channel_id}/messages"):
            limit, per = self.settings.message_rate
        elif (
            request.method == "POST"
            and template.endswith("/webhooks/{webhook_id}/{webhook_token}")
            and int(info.get("webhook_id", "0") or 0) in self.world.webhooks
        ):
            limit, per = self.settings.webhook_rate
        return template, major, limit, per

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        rel = request.path[len(API_PREFIX):]
        body, files = await self._read_body(request)
        rec = RecordedRequest(
            method=request.method, path=rel, query=dict(request.query), json=body,
            headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"},
            time=time.time(), files=files,
        )
        rec.headers["Authorization"] = (
            "<valid>" if request.headers.get("Authorization") == f"Bot {self.settings.token}"
            else "<missing>" if "Authorization" not in request.headers else "<invalid>"
        )
        self.requests.append(rec)
        request[RECORD] = rec
        try:
            response = await self._answer(request, handler, rel)
        finally:
            self.notifier.notify()
        rec.status = response.status
        if isinstance(response, web.Response) and response.body is not None:
            try:
                rec.response = json.loads(response.body)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                rec.response = None
        return response

    async def _answer(self, request: web.Request, handler: Handler, rel: str) -> web.StreamResponse:
        fault = self.faults.take(request.method, rel)
        if fault is not None:
            body, headers = fault.response()
            log.info("discord emulator: injected %s for %s %s", fault.status, request.method, rel)
            return json_response(body, fault.status, headers)
        if self._needs_auth(rel) and request.headers.get("Authorization") != (
            f"Bot {self.settings.token}"
        ):
            return json_response({"message": "401: Unauthorized", "code": 0}, 401)
        glimit = self.settings.global_rate
        if glimit is not None and self._needs_auth(rel):
            ginfo = self.limiter.hit("global", "", *glimit)
            if ginfo.limited:
                headers = rate_limited_headers(ginfo.reset_after, scope="global") | {"X-RateLimit-Global": "true"}
                return json_response(rate_limited_body(ginfo.reset_after, is_global=True), 429, headers)
        template, major, limit, per = self._bucket(request, rel)
        info = self.limiter.hit(template, major, limit, per)
        if info.limited:
            headers = info.headers() | rate_limited_headers(info.reset_after)
            return json_response(rate_limited_body(info.reset_after), 429, headers)
        try:
            response = await handler(request)
        except DiscordError as exc:
            response = json_response(exc.body(), exc.status, exc.headers)
        except web.HTTPNotFound:
            self.unhandled.append(request[RECORD])
            log.warning("discord emulator: no route for %s %s", request.method, rel)
            response = json_response({"message": "404: Not Found", "code": 0}, 404)
        except web.HTTPMethodNotAllowed:
            self.unhandled.append(request[RECORD])
            log.warning("discord emulator: method not emulated: %s %s", request.method, rel)
            response = json_response({"message": "405: Method Not Allowed", "code": 0}, 405)
        self._add_rate_headers(response, info)
        return response

    @staticmethod
    def _add_rate_headers(response: web.StreamResponse, info: RateInfo) -> None:
        for key, value in info.headers().items():
            response.headers[key] = value

    async def _read_body(self, request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
        if not request.can_read_body:
            return None, []
        ctype = request.content_type
        if ctype.startswith("multipart/"):
            body: Any = None
            files: list[dict[str, Any]] = []
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":
                    body = json.loads(await part.text())  # type: ignore[union-attr]
                elif part.filename:
                    data = await part.read()  # type: ignore[union-attr]
                    files.append({"field": part.name, "filename": part.filename, "size": len(data),
                                  "content_type": part.headers.get("Content-Type"), "data": data})
            return body, files
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw), []
        except ValueError:
            raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None

    # -- helpers ------------------------------------------------------------------
    @staticmethod
    def body(request: web.Request) -> dict[str, Any]:
        body = request[RECORD].json
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise DiscordError(400, 50035, "Invalid Form Body",
                               {"_errors": [{"code": "DICT_TYPE_CONVERT",
                                             "message": "Only dictionaries may be used in a DictType"}]})
        return body

    @staticmethod
    def snowflake(request: web.Request, key: str, code: int, what: str) -> int:
        try:
            return int(request.match_info[key])
        except ValueError:
            raise DiscordError(404, code, f"Unknown {what}") from None

    def channel_for(self, request: web.Request) -> int:
        cid = self.snowflake(request, "channel_id", 10003, "Channel")
        if cid not in self.world.channels:
            raise DiscordError(404, 10003, "Unknown Channel")
        refused = self.refused.get(cid)
        if refused == 403:
            raise DiscordError(403, 50013, "Missing Permissions")
        if refused == 404:
            raise DiscordError(404, 10003, "Unknown Channel")
        return cid

    def attachments(self, request: web.Request, channel_id: int) -> list[dict[str, Any]]:
        return attachments_from(request[RECORD].files, self.world, self._api_base(), channel_id)

    async def announce(self, event: str, message: dict[str, Any]) -> None:
        """Send MESSAGE_CREATE/UPDATE for a visible message, with the author's member data."""
        data = copy.deepcopy(message)
        guild_id = data.get("guild_id")
        if guild_id is not None:
            guild = self.world.guilds.get(int(guild_id))
            member = guild.members.get(int(data["author"]["id"])) if guild else None
            if member is not None:
                data["member"] = member.payload(with_user=False)
        await self.gateway.dispatch(event, data)

    # -- users, application, gateway ---------------------------------------------
    async def get_me(self, request: web.Request) -> web.Response:
        return json_response(self.world.bot_user.payload() | {"verified": True, "mfa_enabled": False})

    async def get_user(self, request: web.Request) -> web.Response:
        uid = self.snowflake(request, "user_id", 10013, "User")
        user = self.world.users.get(uid)
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        return json_response(user.payload())

    async def create_dm(self, request: web.Request) -> web.Response:
        uid = int(self.body(request).get("recipient_id", 0))
        if uid not in self.world.users:
            raise DiscordError(400, 50035, "Invalid Form Body",
                               {"recipient_id": {"_errors": [{"code": "NUMBER_TYPE_COERCE",
                                                              "message": "Unknown user"}]}})
        return json_response(self.world.dm_channel(uid).payload(self.world))

    async def get_application(self, request: web.Request) -> web.Response:
        world = self.world
        return json_response({
            "id": str(world.application_id),
            "name": world.bot_user.name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": world.bot_user.payload(),
            "owner": world.app_owner.payload(),
            "team": None,
            "verify_key": "0" * 64,
            "flags": 1 << 23,
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(world.guilds),
            "integration_types_config": {"0": {}},
        })

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self._gateway_url().rstrip("/")})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response({
            "url": self._gateway_url().rstrip("/"),
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 86_400_000,
                                    "max_concurrency": 1},
        })

    # -- application commands ------------------------------------------------------
    def _command_store(self, request: web.Request) -> tuple[dict[str, dict[str, Any]], int | None]:
        if int(request.match_info["application_id"]) != self.world.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        if "guild_id" not in request.match_info:
            return self.world.global_commands, None
        gid = self.snowflake(request, "guild_id", 10004, "Guild")
        if gid not in self.world.guilds:
            raise DiscordError(404, 10004, "Unknown Guild")
        return self.world.guild_commands.setdefault(gid, {}), gid

    async def get_commands(self, request: web.Request) -> web.Response:
        store, _ = self._command_store(request)
        return json_response(list(store.values()))

    async def put_commands(self, request: web.Request) -> web.Response:
        store, guild_id = self._command_store(request)
        commands = request[RECORD].json or []
        check_commands(commands)
        self.world.command_versions += 1
        fresh: dict[str, dict[str, Any]] = {}
        for cmd in commands:
            ctype = cmd.get("type", 1)
            key = f"{ctype}:{cmd['name']}"
            old = store.get(key)
            stored = {
                "id": old["id"] if old else str(self.world.ids.next()),
                "application_id": str(self.world.application_id),
                "version": str(self.world.ids.next()),
                "type": ctype,
                "name": cmd["name"],
                "name_localizations": cmd.get("name_localizations"),
                "description": cmd.get("description", ""),
                "description_localizations": cmd.get("description_localizations"),
                "options": copy.deepcopy(cmd.get("options") or []),
                "default_member_permissions": cmd.get("default_member_permissions"),
                "nsfw": bool(cmd.get("nsfw", False)),
                "contexts": cmd.get("contexts"),
                "integration_types": cmd.get("integration_types") or [0],
            }
            if guild_id is not None:
                stored["guild_id"] = str(guild_id)
            else:
                stored["dm_permission"] = cmd.get("dm_permission", True)
            fresh[key] = stored
        store.clear()
        store.update(fresh)
        return json_response(list(store.values()))

    # -- guilds and channels -------------------------------------------------------
    def _guild_for(self, request: web.Request) -> int:
        gid = self.snowflake(request, "guild_id", 10004, "Guild")
        if gid not in self.world.guilds:
            raise DiscordError(404, 10004, "Unknown Guild")
        return gid

    async def get_guild(self, request: web.Request) -> web.Response:
        data = self.world.guild_create_payload(self.world.guilds[self._guild_for(request)])
        for key in ("members", "channels", "threads", "presences", "voice_states", "joined_at"):
            data.pop(key, None)
        return json_response(data)

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        guild = self.world.guilds[self._guild_for(request)]
        return json_response([self.world.channels[c].payload(self.world) for c in guild.channel_ids])

    async def get_member(self, request: web.Request) -> web.Response:
        guild = self.world.guilds[self._guild_for(request)]
        member = guild.members.get(self.snowflake(request, "user_id", 10007, "Member"))
        if member is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return json_response(member.payload())

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self.world.channels[self.channel_for(request)].payload(self.world))

    async def typing(self, request: web.Request) -> web.Response:
        self.channel_for(request)
        return web.Response(status=204)

    # -- channel messages ------------------------------------------------------------
    async def list_messages(self, request: web.Request) -> web.Response:
        cid = self.channel_for(request)
        history = self.world.channel_history(cid)
        limit = max(1, min(100, int(request.query.get("limit", 50))))
        if "before" in request.query:
            history = [m for m in history if int(m["id"]) < int(request.query["before"])]
        if "after" in request.query:
            history = [m for m in history if int(m["id"]) > int(request.query["after"])]
            return json_response(list(reversed(history[:limit])))
        return json_response(list(reversed(history))[:limit])

    async def get_message(self, request: web.Request) -> web.Response:
        cid = self.channel_for(request)
        mid = self.snowflake(request, "message_id", 10008, "Message")
        return json_response(find_message(self.world, cid, mid))

    async def create_message(self, request: web.Request) -> web.Response:
        cid = self.channel_for(request)
        body = self.body(request)
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce") and self.honour_nonce:
            earlier = self.world.nonces.get((cid, str(nonce)))
            if earlier is not None and earlier not in self.world.deleted_messages:
                return json_response(self.world.messages_by_id[earlier])
        body = self._resolve_reference(cid, body)
        message = new_message(
            self.world, channel_id=cid, author=self.world.bot_user.payload(), body=body,
            attachments=self.attachments(request, cid),
        )
        message["flags"] &= ~(1 << 6)  # channel messages cannot be ephemeral
        self.world.store_message(message)
        self.allowed_mentions[int(message["id"])] = body.get("allowed_mentions")
        if nonce is not None and body.get("enforce_nonce"):
            self.world.nonces[(cid, str(nonce))] = int(message["id"])
        await self.announce("MESSAGE_CREATE", message)
        await self.after_post(request)
        return json_response(message)

    async def after_post(self, request: web.Request) -> None:
        """The injected delay, or a dropped connection, between posting a message and answering."""
        if self.post_delay:
            await asyncio.sleep(self.post_delay)
        if self.drop_after_post > 0:
            self.drop_after_post -= 1
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError

    def _resolve_reference(self, cid: int, body: dict[str, Any]) -> dict[str, Any]:
        """A reply to a missing message fails (400), or with fail_if_not_exists false posts as no reply."""
        ref = body.get("message_reference")
        if not ref:
            return body
        mid = int(ref.get("message_id") or 0)
        target = self.world.messages_by_id.get(mid)
        if target is not None and mid not in self.world.deleted_messages and int(target["channel_id"]) == cid:
            return body | {"message_reference": {**ref, "message_id": str(mid)}}
        if ref.get("fail_if_not_exists", True):
            raise DiscordError(400, 50035, "Invalid Form Body: message_reference: Unknown message")
        return {k: v for k, v in body.items() if k != "message_reference"}

    async def patch_message(self, request: web.Request) -> web.Response:
        cid = self.channel_for(request)
        message = find_message(self.world, cid, self.snowflake(request, "message_id", 10008,
                                                                 "Message"))
        if message["author"]["id"] != str(self.world.bot_user.id):
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        body = self.body(request)
        edit_message(self.world, message, body, attachments=self.attachments(request, cid))
        if "allowed_mentions" in body:
            self.allowed_mentions[int(message["id"])] = body["allowed_mentions"]
        await self.announce("MESSAGE_UPDATE", message)
        return json_response(message)

    async def delete_message(self, request: web.Request) -> web.Response:
        cid = self.channel_for(request)
        message = find_message(self.world, cid, self.snowflake(request, "message_id", 10008,
                                                                 "Message"))
        self.world.delete_message(int(message["id"]))
        event = {"id": message["id"], "channel_id": message["channel_id"]}
        if "guild_id" in message:
            event["guild_id"] = message["guild_id"]
        await self.gateway.dispatch("MESSAGE_DELETE", event)
        return web.Response(status=204)

    def is_dm(self, channel_id: int) -> bool:
        return self.world.channels[channel_id].type == DM
