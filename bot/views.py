"""Page buttons under a multi-page answer: only the person who ran the command can turn them."""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.model import Answer
from bot.render import NEXT_ID, PREV_ID, render
from bot.send import buttons_of, embeds_of, is_indicator

log = logging.getLogger(__name__)

NOT_YOURS = (
    "These page buttons belong to {owner}'s command. Run the same command yourself to get pages you can turn."
)


class Pager(discord.ui.View):
    """Previous / page / next buttons over an Answer's pages; disabled when it times out."""

    def __init__(self, answer: Answer, *, owner_id: int, owner_name: str, timeout: float = 180.0) -> None:
        super().__init__(timeout=timeout)
        self.answer = answer
        self.owner_id = owner_id
        self.owner_name = owner_name
        self.page = 0
        self.origin: discord.Interaction | None = None  # the command interaction, to edit on timeout
        self._build(render(answer, 0))

    def _build(self, payload: dict[str, Any]) -> None:
        self.clear_items()
        for button in buttons_of(payload):
            if not is_indicator(button):
                button.callback = self._turn_callback(button.custom_id)  # type: ignore[method-assign]
            self.add_item(button)

    def _turn_callback(self, custom_id: str | None):
        async def turn(interaction: discord.Interaction) -> None:
            step = -1 if custom_id == PREV_ID else 1 if custom_id == NEXT_ID else 0
            self.page = max(0, min(self.page + step, len(self.answer.pages) - 1))
            payload = render(self.answer, self.page)
            self._build(payload)
            await interaction.response.edit_message(
                content=payload.get("content") or None,
                embeds=embeds_of(payload),
                view=self,
                allowed_mentions=discord.AllowedMentions.none(),
            )

        return turn

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            NOT_YOURS.format(owner=discord.utils.escape_markdown(self.owner_name)),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        return False

    async def on_timeout(self) -> None:
        self._build(render(self.answer, self.page, disabled=True))
        if self.origin is None:
            return
        try:
            await self.origin.edit_original_response(view=self)
        except discord.HTTPException as exc:
            # The message may have been deleted, or the token expired: nothing left to disable.
            log.info("could not disable page buttons: %s", exc)

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item) -> None:
        log.exception("page button failed", exc_info=error)
        sentence = "Turning the page failed on our side; run the command again."
        if interaction.response.is_done():
            await interaction.followup.send(sentence, ephemeral=True)
        else:
            await interaction.response.send_message(sentence, ephemeral=True)
