"""Answers for /subscription pause, resume, test and edit: managing one subscription by its number."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.admin import check_mention, describe, options_line, unpingable_warning
from bot.announce_options import with_mention
from bot.markdown import escape, one_line
from bot.model import AMBER, GREEN, GREY, Answer, Card
from storage.errors import InvalidInputError, NotFoundError
from storage.models import Paper, Subscription
from storage.outbox import matching_papers
from storage.store import Store
from storage.subscriptions import RESUME_POSTS, digest_days, digest_name

log = logging.getLogger(__name__)

CLEAR = "-"  # include:- or exclude:- removes that filter


async def owned(store: Store, guild_id: int, subscription_id: int) -> Subscription:
    """The subscription, if it belongs to this server."""
    sub = await store.outbox.get(subscription_id)
    if sub is None or sub.guild_id != guild_id:
        raise NotFoundError(f"There is no subscription #{subscription_id} in this server; /subscriptions lists them.")
    return sub


def rest_link(sub: Subscription, base_url: str) -> str:
    """Where the papers a resume does not post one by one can all be read (newest first)."""
    if sub.target == "author" and sub.value:
        return f"{base_url}authors/{sub.value}.atom"
    if sub.target == "topic" and sub.value:
        return f"{base_url}topics/{sub.value}.atom"
    if sub.target == "category" and sub.value:
        return f"{base_url}categories/{sub.value.lower()}.atom"
    return base_url


async def pause(store: Store, *, guild_id: int, subscription_id: int, user_id: int | None) -> Answer:
    sub = await owned(store, guild_id, subscription_id)
    if not await store.outbox.hold(sub.id, by=user_id):
        return Answer.error(f"Subscription #{sub.id} is already paused; /subscription resume starts it again.")
    return Answer.single(Card(
        title="Paused",
        description=(f"{describe(sub)} is paused. New matching papers are held, not lost: "
                     f"/subscription resume subscription:{sub.id} posts them (at most {RESUME_POSTS}, "
                     "then one line with how many more and where to read them)."),
        color=GREY,
    ), ephemeral=True)


async def resume(store: Store, *, guild_id: int, subscription_id: int, base_url: str) -> Answer:
    sub = await owned(store, guild_id, subscription_id)
    note = (f"…and {{n}} more papers arrived for subscription #{sub.id} while it was paused; "
            f"read them all at {rest_link(sub, base_url)}")
    held, folded = await store.outbox.release(sub.id, note=note)
    if held < 0:
        return Answer.error(f"Subscription #{sub.id} is not paused.")
    if held == 0:
        said = "Nothing arrived while it was paused."
    elif folded == 0:
        said = f"The {held} held paper{'s' if held != 1 else ''} will be posted now."
    else:
        said = (f"The first {RESUME_POSTS} of {held} held papers will be posted now, then one line "
                f"counting the other {folded} with a link to them.")
    if sub.paused_reason and sub.paused_at is None:
        said += (f" It had stopped by itself ({one_line(sub.paused_reason)}); if that is not fixed yet it will "
                 "stop again at the next post.")
    return Answer.single(Card(title="Resumed", description=f"{describe(sub)} is running again. {said}",
                              color=GREEN), ephemeral=True)


@dataclass(frozen=True, slots=True)
class TestPost:
    """A test message for a subscription's channel, and the reply for the admin."""

    channel_id: int
    payload: dict[str, Any]
    paper: Paper
    reply: Answer


async def test_post(
    store: Store, *, guild_id: int, subscription_id: int,
    announcement: Callable[[Paper, Subscription], dict[str, Any]],
) -> TestPost:
    """The newest paper the subscription matches, rendered as it would be announced, marked as a test.

    Nothing is recorded: no delivery row, so the real announcement still comes when it is due.
    """
    sub = await owned(store, guild_id, subscription_id)
    if sub.channel_id is None:
        raise InvalidInputError(f"Subscription #{sub.id} posts to a webhook; test it by ingesting a paper.")
    found = await matching_papers(store.db.conn, sub, 1)
    paper = await store.get_paper(found[0][1]) if found else None
    if paper is None:
        raise NotFoundError(
            f"No paper in the library matches subscription #{sub.id} yet ({describe(sub)}), so there is "
            "nothing to show; loosen include:/exclude: with /subscription edit, or wait for one."
        )
    payload = announcement(paper, sub)
    payload = dict(payload, content=f"🧪 Test post for subscription #{sub.id} (nothing recorded) — "
                                    f"{payload.get('content') or ''}")
    # The role is shown as it will be, but a test never pings it.
    payload = with_mention(payload, sub, ping=False)
    reply = Answer.single(Card(
        title="Test posted",
        description=f"Posted the newest matching paper, “{escape(paper.title[:200])}”, in <#{sub.channel_id}> "
                    "marked as a test. It is not recorded as delivered.",
        color=GREEN,
    ), ephemeral=True)
    return TestPost(sub.channel_id, payload, paper, reply)


async def edit(
    store: Store, *, guild_id: int, subscription_id: int,
    include: str | None = None, exclude: str | None = None, mention_role_id: int | None = None,
    clear_mention: bool = False, digest: str | None = None, mention_pingable: bool = True,
) -> Answer:
    sub = await owned(store, guild_id, subscription_id)
    if include is None and exclude is None and mention_role_id is None and not clear_mention and digest is None:
        raise InvalidInputError(
            "Nothing to change: give include:, exclude:, mention:, clear_mention: or digest: "
            f"(include:{CLEAR} removes the include words)."
        )
    check_mention(guild_id, mention_role_id)
    if mention_role_id is not None and clear_mention:
        raise InvalidInputError("Give mention: or clear_mention:, not both.")
    mention: int | bool | None = False
    if mention_role_id is not None:
        mention = mention_role_id
    elif clear_mention:
        mention = None
    updated = await store.outbox.edit(
        sub.id,
        include=None if include is None else ("" if include.strip() == CLEAR else include),
        exclude=None if exclude is None else ("" if exclude.strip() == CLEAR else exclude),
        mention_role_id=mention,
        digest=None if digest is None else digest_days(digest),
    )
    lines = [describe(updated)]
    extra = options_line(updated)
    lines.append(extra or "No filters, no ping.")
    lines.append("Delivery: " + (f"{digest_name(updated.digest)} digest" if updated.digest else "as they arrive"))
    if updated.mention_role_id and mention_role_id is not None and not mention_pingable:
        lines.append(unpingable_warning(updated.mention_role_id))
    lines.append("Changes apply to papers that arrive from now on.")
    return Answer.single(Card(title="Subscription changed", description="\n".join(lines), color=AMBER),
                         ephemeral=True)
