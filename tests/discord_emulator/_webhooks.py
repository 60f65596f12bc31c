"""Interaction callbacks, interaction followups/edits, and plain incoming webhooks.

Interaction rules emulated from Discord: one acknowledgement per interaction
(a second gets 400 code 40060), the acknowledgement must arrive within the
window after dispatch (else 404 code 10062), followups and ``@original`` edits
use the interaction token for 15 minutes, and the first followup after a
deferred (type 5) answer fills in the "thinking" message instead of posting
a new one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from ._interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE,
    MODAL,
    UPDATE_MESSAGE,
    InteractionResult,
    Rejection,
    valid_callback,
)
from ._limits import DiscordError, FormErrors, check_choices
from ._messages import EPHEMERAL, LOADING, edit_message, new_message
from ._rest import API_PREFIX, Rest, json_response

log = logging.getLogger(__name__)

_TRUE = {"true", "1", "True", "yes"}


class Webhooks:
    """Handlers for ``/interactions/...`` and ``/webhooks/...`` on top of ``Rest``."""

    def __init__(self, rest: Rest) -> None:
        self.rest = rest
        self.world = rest.world

    def routes(self) -> list[web.RouteDef]:
        p = API_PREFIX
        hook = p + "/webhooks/{webhook_id}/{webhook_token}"
        return [
            web.post(p + "/interactions/{interaction_id}/{interaction_token}/callback",
                     self._tracked(self.callback)),
            web.post(hook, self._tracked(self.execute)),
            web.get(hook, self.get_webhook),
            web.get(hook + "/messages/{message_id}", self._tracked(self.get_hook_message)),
            web.patch(hook + "/messages/{message_id}", self._tracked(self.patch_hook_message)),
            web.delete(hook + "/messages/{message_id}", self._tracked(self.delete_hook_message)),
        ]

    def _tracked(self, handler: Any) -> Any:
        """Note refused requests on the interaction they belong to (for InteractionResult)."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except DiscordError as exc:
                rec = self._interaction_of(request)
                if rec is not None:
                    rel = request.path[len(API_PREFIX):]
                    rec.rejections.append(Rejection(request.method, rel, exc.status, exc.body()))
                raise

        return wrapped

    def _interaction_of(self, request: web.Request) -> InteractionResult | None:
        info = request.match_info
        if "interaction_token" in info:
            return self.rest.by_token.get(info["interaction_token"])
        if "webhook_token" in info:
            return self.rest.by_token.get(info["webhook_token"])
        return None

    # -- the callback ------------------------------------------------------------
    async def callback(self, request: web.Request) -> web.Response:
        rec = self.rest.interactions.get(int(request.match_info["interaction_id"]) if
                                         request.match_info["interaction_id"].isdigit() else 0)
        if rec is None or rec.token != request.match_info["interaction_token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        age = asyncio.get_running_loop().time() - rec.sent_at
        if age > self.rest.settings.interaction_window:
            raise DiscordError(404, 10062, "Unknown interaction")
        if rec.callbacks:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        body = self.rest.body(request)
        ctype = body.get("type")
        data = body.get("data") or {}
        if not isinstance(ctype, int) or not valid_callback(rec.kind, ctype):
            errors = FormErrors()
            errors.add(("type",), "INTERACTION_CALLBACK_TYPE_INVALID",
                       f"Interaction callback type {ctype} is not valid for interaction type "
                       f"{rec.kind}")
            errors.raise_if_any()
        files = self.rest.attachments(request, int(rec.payload["channel_id"]))
        message = await self._apply_callback(rec, ctype, data, files)
        rec.callbacks.append(body)
        if request.query.get("with_response") not in _TRUE:
            return web.Response(status=204)
        summary: dict[str, Any] = {"id": str(rec.id), "type": rec.kind}
        resource: dict[str, Any] = {"type": ctype}
        if message is not None:
            summary["response_message_id"] = message["id"]
            summary["response_message_loading"] = bool(message["flags"] & LOADING)
            summary["response_message_ephemeral"] = bool(message["flags"] & EPHEMERAL)
            resource["message"] = message
        return json_response({"interaction": summary, "resource": resource})

    def _author_fields(self, rec: InteractionResult) -> dict[str, Any]:
        payload = rec.payload
        user = payload.get("member", {}).get("user") or payload.get("user")
        meta: dict[str, Any] = {
            "id": str(rec.id),
            "type": rec.kind,
            "user": user,
            "authorizing_integration_owners": payload["authorizing_integration_owners"],
        }
        if rec.kind == APPLICATION_COMMAND:
            meta["name"] = payload["data"]["name"]
        if rec.component_message_id is not None:
            meta["interacted_message_id"] = str(rec.component_message_id)
        return {
            "author": self.world.bot_user.payload(),
            "webhook_id": self.world.application_id,
            "application_id": self.world.application_id,
            "interaction_metadata": meta,
            "mtype": 20 if rec.kind == APPLICATION_COMMAND else 0,
        }

    async def _new_interaction_message(self, rec: InteractionResult, body: dict[str, Any], *,
                                       flags: int | None = None,
                                       files: list[dict[str, Any]] | None = None,
                                       validate_path: tuple[str | int, ...] = (),
                                       require_body: bool = True) -> dict[str, Any]:
        cid = int(rec.payload["channel_id"])
        message = new_message(self.world, channel_id=cid, body=body, flags=flags,
                              attachments=files, validate_path=validate_path,
                              require_body=require_body,
                              **self._author_fields(rec))
        visible = not message["flags"] & EPHEMERAL
        self.world.store_message(message, visible=visible)
        self.rest.allowed_mentions[int(message["id"])] = body.get("allowed_mentions")
        if visible:
            await self.rest.announce("MESSAGE_CREATE", message)
        return message

    async def _apply_callback(self, rec: InteractionResult, ctype: int, data: dict[str, Any],
                              files: list[dict[str, Any]]) -> dict[str, Any] | None:
        if ctype == CHANNEL_MESSAGE:
            message = await self._new_interaction_message(rec, data, files=files,
                                                          validate_path=("data",))
            rec.original_id = int(message["id"])
            return message
        if ctype == DEFERRED_CHANNEL_MESSAGE:
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            message = await self._new_interaction_message(rec, {}, flags=flags,
                                                          require_body=False)
            rec.original_id = int(message["id"])
            return message
        if ctype in (DEFERRED_UPDATE, UPDATE_MESSAGE):
            rec.original_id = rec.component_message_id
            rec._edits_at_ack = self.world.edit_counts.get(rec.component_message_id or 0, 0)
            if ctype == DEFERRED_UPDATE:
                return None
            target = self.world.messages_by_id[rec.component_message_id or 0]
            edit_message(self.world, target, data, attachments=files, validate_path=("data",))
            await self.rest.announce("MESSAGE_UPDATE", target)
            return target
        if ctype == AUTOCOMPLETE_RESULT:
            check_choices(data.get("choices"))
            return None
        if ctype == MODAL:
            errors = FormErrors()
            for key in ("custom_id", "title", "components"):
                if not data.get(key):
                    errors.required(("data", key))
            errors.raise_if_any()
            return None
        raise DiscordError(400, 50035, "Invalid Form Body")

    # -- webhook routes ------------------------------------------------------------
    def _interaction_for_hook(self, request: web.Request) -> InteractionResult | None:
        wid = request.match_info["webhook_id"]
        if wid != str(self.world.application_id):
            return None
        rec = self.rest.by_token.get(request.match_info["webhook_token"])
        if rec is None:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        age = asyncio.get_running_loop().time() - rec.sent_at
        if age > self.rest.settings.token_ttl:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        return rec

    def _plain_hook(self, request: web.Request) -> Any:
        wid = request.match_info["webhook_id"]
        hook = self.world.webhooks.get(int(wid)) if wid.isdigit() else None
        if hook is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if hook.token != request.match_info["webhook_token"]:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        return hook

    async def get_webhook(self, request: web.Request) -> web.Response:
        if self._interaction_for_hook(request) is not None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        hook = self._plain_hook(request)
        data = hook.payload()
        data.pop("user")
        return json_response(data)

    async def execute(self, request: web.Request) -> web.Response:
        body = self.rest.body(request)
        rec = self._interaction_for_hook(request)
        if rec is not None:
            return json_response(await self._followup(request, rec, body))
        hook = self._plain_hook(request)
        author = {"id": str(hook.id), "username": body.get("username") or hook.name,
                  "discriminator": "0000", "avatar": None, "bot": True, "global_name": None}
        message = new_message(self.world, channel_id=hook.channel_id, author=author, body=body,
                              attachments=self.rest.attachments(request, hook.channel_id),
                              webhook_id=hook.id)
        message["flags"] &= ~EPHEMERAL
        self.world.store_message(message)
        self.rest.allowed_mentions[int(message["id"])] = body.get("allowed_mentions")
        await self.rest.announce("MESSAGE_CREATE", message)
        await self.rest.after_post(request)
        if request.query.get("wait") in _TRUE:
            return json_response(message)
        return web.Response(status=204)

    async def _followup(self, request: web.Request, rec: InteractionResult, body: dict[str, Any]
                        ) -> dict[str, Any]:
        if not rec.callbacks:
            raise DiscordError(404, 10015, "Unknown Webhook")
        cid = int(rec.payload["channel_id"])
        files = self.rest.attachments(request, cid)
        original = self.world.messages_by_id.get(rec.original_id or 0)
        if rec.type == DEFERRED_CHANNEL_MESSAGE and original is not None and (
            original["flags"] & LOADING
        ):
            # Discord: the first followup after a deferred answer becomes that answer.
            edit_message(self.world, original, body, attachments=files)
            rec._followup_ids.append(int(original["id"]))
            if not original["flags"] & EPHEMERAL:
                await self.rest.announce("MESSAGE_UPDATE", original)
            return original
        message = await self._new_interaction_message(rec, body, files=files)
        rec._followup_ids.append(int(message["id"]))
        return message

    def _hook_message(self, request: web.Request) -> tuple[dict[str, Any], InteractionResult | None]:
        rec = self._interaction_for_hook(request)
        raw = request.match_info["message_id"]
        if rec is not None:
            if raw == "@original":
                mid = rec.original_id
            else:
                mid = int(raw) if raw.isdigit() else None
                if mid not in rec._followup_ids and mid != rec.original_id:
                    mid = None
            if mid is None or mid in self.world.deleted_messages:
                raise DiscordError(404, 10008, "Unknown Message")
            return self.world.messages_by_id[mid], rec
        hook = self._plain_hook(request)
        message = self.world.messages_by_id.get(int(raw)) if raw.isdigit() else None
        if message is None or message.get("webhook_id") != str(hook.id) or (
            int(message["id"]) in self.world.deleted_messages
        ):
            raise DiscordError(404, 10008, "Unknown Message")
        return message, None

    async def get_hook_message(self, request: web.Request) -> web.Response:
        message, _ = self._hook_message(request)
        return json_response(message)

    async def patch_hook_message(self, request: web.Request) -> web.Response:
        message, rec = self._hook_message(request)
        body = self.rest.body(request)
        files = self.rest.attachments(request, int(message["channel_id"]))
        edit_message(self.world, message, body, attachments=files)
        if rec is not None and request.match_info["message_id"] == "@original":
            rec.edits.append(body)
        if not message["flags"] & EPHEMERAL:
            await self.rest.announce("MESSAGE_UPDATE", message)
        return json_response(message)

    async def delete_hook_message(self, request: web.Request) -> web.Response:
        message, _ = self._hook_message(request)
        self.world.delete_message(int(message["id"]))
        return web.Response(status=204)
