"""Hand a rendered payload to discord.py unchanged, so Discord receives exactly what render() made."""

from __future__ import annotations

import copy
import logging
from typing import Any

import discord

from bot.render import EPHEMERAL, PAGE_ID

log = logging.getLogger(__name__)


class PayloadEmbed(discord.Embed):
    """An Embed that serialises to the exact dict it was built from (no extra keys)."""

    _payload: dict[str, Any]

    @classmethod
    def of(cls, data: dict[str, Any]) -> PayloadEmbed:
        embed = cls.from_dict(data)
        embed._payload = copy.deepcopy(data)
        return embed

    def to_dict(self) -> dict[str, Any]:  # type: ignore[override]
        return copy.deepcopy(self._payload)


def embeds_of(payload: dict[str, Any]) -> list[discord.Embed]:
    return [PayloadEmbed.of(e) for e in payload.get("embeds") or []]


def message_kwargs(payload: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for send_message / followup.send / channel.send."""
    return {
        "content": payload.get("content") or None,
        "embeds": embeds_of(payload),
        "allowed_mentions": allowed_mentions_of(payload),
    }


def allowed_mentions_of(payload: dict[str, Any]) -> discord.AllowedMentions:
    """Nobody, unless the payload names roles to ping (a subscription's mention); never everyone or users."""
    roles = (payload.get("allowed_mentions") or {}).get("roles") or []
    if not roles:
        return discord.AllowedMentions.none()
    return discord.AllowedMentions(
        everyone=False, users=False, roles=[discord.Object(id=int(r)) for r in roles], replied_user=False
    )


def is_ephemeral(payload: dict[str, Any]) -> bool:
    return bool(payload.get("flags", 0) & EPHEMERAL)


def buttons_of(payload: dict[str, Any]) -> list[discord.ui.Button]:
    """discord.py buttons equal to the payload's component dicts (same order, ids, labels)."""
    out: list[discord.ui.Button] = []
    for row, item in enumerate(payload.get("components") or []):
        for comp in item.get("components") or []:
            if comp.get("type") != 2:
                continue
            out.append(discord.ui.Button(
                style=discord.ButtonStyle(comp.get("style", 2)),
                label=comp.get("label"),
                custom_id=comp.get("custom_id"),
                disabled=bool(comp.get("disabled")),
                row=row,
            ))
    return out


def is_indicator(button: discord.ui.Button) -> bool:
    return button.custom_id == PAGE_ID
