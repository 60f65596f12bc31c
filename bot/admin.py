"""Answers for the admin commands: follow, unfollow and list announcement subscriptions."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.answers import find_topic, resolve_author
from bot.limits import clip
from bot.markdown import escape, one_line
from bot.model import AMBER, GREEN, GREY, Answer, Card, Page
from storage.errors import InvalidInputError, NotFoundError
from storage.models import Subscription
from storage.outbox import MAX_BACKFILL, TARGETS
from storage.store import Store
from storage.subscriptions import DEFAULT_MAX_AGE, digest_days, digest_name

log = logging.getLogger(__name__)

SUBSCRIPTIONS_PAGE = 15


async def resolve_target(store: Store, target: str, value: str | None) -> tuple[str | None, str]:
    """The stored value for a subscription target, and how to describe it to people."""
    if target not in TARGETS:
        raise InvalidInputError(f"target must be one of {', '.join(TARGETS)}; you gave {target!r}.")
    text = one_line(value or "")
    if target == "all":
        return None, "every new paper"
    if not text:
        raise InvalidInputError(
            f"A {target} subscription needs a value naming the {target}; pick one as you type in value:."
        )
    if target == "author":
        profile, _ = await resolve_author(store, text)
        return profile.key, f"papers by {profile.name}"
    if target == "topic":
        found = await find_topic(store, text)
        if found is None:
            raise NotFoundError(
                f"No topic {clip(text, 80)!r} has been learnt yet; /topics lists them. Follow a word "
                "that is not a topic with /paper search instead."
            )
        return found.slug, f"papers on {found.name}"
    cats = await store.categories()
    match = next((c for c, _ in cats if c.casefold() == text.casefold()), None)
    if match is None:
        known = ", ".join(c for c, _ in cats) or "none yet"
        raise NotFoundError(f"No papers have the category {clip(text, 40)!r}; known categories: {known}.")
    return match, f"papers in {match}"


def describe(sub: Subscription) -> str:
    what = {"all": "every new paper", "author": "author", "topic": "topic", "category": "category"}[sub.target]
    if sub.value:
        what += f" {escape(sub.value)}"
    where = f"<#{sub.channel_id}>" if sub.channel_id else "a webhook"
    mode = f" ({digest_name(sub.digest)} digest)" if sub.digest else ""
    return f"**#{sub.id}** {what} → {where}{mode}"


def options_line(sub: Subscription, held: int = 0) -> str:
    """Filters, ping and pause of a subscription in one line (empty when it has none)."""
    parts = []
    if sub.include:
        parts.append(f"include {escape(clip(sub.include, 200))}")
    if sub.exclude:
        parts.append(f"exclude {escape(clip(sub.exclude, 200))}")
    if sub.mention_role_id:
        parts.append(f"pings <@&{sub.mention_role_id}>")
    if sub.paused_at is not None:
        waiting = f", {held} paper{'s' if held != 1 else ''} held" if held else ""
        parts.append(f"⏸️ paused since {sub.paused_at.date().isoformat()}{waiting} (/subscription resume)")
    return " · ".join(parts)


def unpingable_warning(role_id: int) -> str:
    return (f"⚠️ <@&{role_id}> will not actually be pinged: the role is not mentionable and the bot lacks "
            "“Mention @everyone, @here, and All Roles”. Turn on “Allow anyone to @mention this role” in the "
            "role's settings, or give the bot that permission.")


def check_mention(guild_id: int, role_id: int | None) -> None:
    """Announcements may ping a role, never @everyone (whose role id is the server's id)."""
    if role_id is not None and role_id == guild_id:
        raise InvalidInputError(
            "mention: announcements never ping @everyone; pick a role for paper alerts (create one, e.g. "
            "@papers, and let people join it)."
        )


def max_age_sentence(max_age: timedelta | None) -> str:
    if max_age is None:
        return "Papers are announced when they are new to the library, whatever their age."
    return (f"Only papers new to the library and published within the last {max_age.days} days are announced "
            "([announce] max_age); older ones, such as a new source's backlog, are stored and searchable "
            "but not posted.")


async def subscribe(
    store: Store,
    *,
    guild_id: int,
    channel_id: int,
    target: str,
    value: str | None,
    backfill: int = 0,
    digest: str | int = 0,
    include: str | None = None,
    exclude: str | None = None,
    mention_role_id: int | None = None,
    mention_pingable: bool = True,
    max_age: timedelta | None = DEFAULT_MAX_AGE,
) -> Answer:
    if not 0 <= backfill <= MAX_BACKFILL:
        raise InvalidInputError(f"backfill must be between 0 and {MAX_BACKFILL}; you gave {backfill}.")
    days = digest if isinstance(digest, int) else digest_days(digest)
    check_mention(guild_id, mention_role_id)
    stored, meaning = await resolve_target(store, target, value)
    sub, queued = await store.outbox.subscribe(
        target=target, value=stored, guild_id=guild_id, channel_id=channel_id, backfill=backfill, digest=days,
        include=include or "", exclude=exclude or "", mention_role_id=mention_role_id,
    )
    lines = [f"<#{channel_id}> now gets {escape(meaning)}"
             + (f" in a {digest_name(days)} digest." if days else " as they arrive.")]
    if sub.include:
        lines.append(f"Only those matching any of: {escape(sub.include)}.")
    if sub.exclude:
        lines.append(f"Never those matching: {escape(sub.exclude)}.")
    if sub.mention_role_id:
        lines.append(f"Each announcement pings <@&{sub.mention_role_id}> (and nobody else).")
        if not mention_pingable:
            lines.append(unpingable_warning(sub.mention_role_id))
    if queued:
        lines.append(f"{queued} recent paper{'s' if queued != 1 else ''} will be posted now as a backfill.")
    elif not days:
        lines.append("Only papers first seen from now on are announced (add backfill: for recent ones).")
    if not days:
        lines.append(max_age_sentence(max_age))
    if sub.paused_at is not None:
        lines.append("It is paused: /subscription resume starts it.")
    lines.append(f"Subscription #{sub.id}; /unsubscribe subscription:{sub.id} stops it, "
                 f"/subscription edit changes it, /why paper: explains a post.")
    return Answer.single(Card(title="Subscribed", description="\n".join(lines), color=GREEN), ephemeral=True)


async def unsubscribe(store: Store, *, guild_id: int, subscription_id: int) -> Answer:
    sub = await store.outbox.unsubscribe(subscription_id, guild_id=guild_id)
    return Answer.single(
        Card(title="Unsubscribed", description=f"Stopped {describe(sub)}.", color=GREY), ephemeral=True
    )


async def subscriptions(store: Store, *, guild_id: int | None, channel_id: int | None = None) -> Answer:
    subs = await store.outbox.subscriptions(guild_id=guild_id, channel_id=channel_id)
    where = f"<#{channel_id}>" if channel_id else "this server"
    if not subs:
        return Answer.single(Card(
            title="No subscriptions here",
            description="/subscribe target:all announces every new paper in this channel; "
                        "target:author, topic or category follow one.",
            color=GREY,
        ), ephemeral=True)
    lines = []
    held = await store.outbox.held_counts()
    for sub in subs:
        line = describe(sub)
        extra = options_line(sub, held.get(sub.id, 0))
        if extra:
            line += f"\n  {extra}"
        if sub.paused_reason:
            # Our own sentence (it names the channel as <#id> so Discord shows it as a link).
            line += f"\n  ⏸️ paused: {clip(one_line(sub.paused_reason), 300)}"
        lines.append(line)
    pages = []
    for start in range(0, len(lines), SUBSCRIPTIONS_PAGE):
        chunk = lines[start : start + SUBSCRIPTIONS_PAGE]
        pages.append(Page(cards=(Card(
            title=f"Subscriptions in {where} ({len(subs)})",
            description="\n".join(chunk),
            footer="/subscription pause|resume|test|edit take the number; /subscription resume also "
                   "restarts one the announcer stopped (⏸️ with a reason) once that is fixed.",
            color=AMBER,
        ),)))
    return Answer(pages=tuple(pages), ephemeral=True)


async def subscription_choices(store: Store, guild_id: int, current: str) -> list[tuple[str, int]]:
    text = one_line(current or "").casefold()
    out = []
    for sub in await store.outbox.subscriptions(guild_id=guild_id):
        label = f"#{sub.id} {sub.target}{' ' + sub.value if sub.value else ''}"
        if sub.channel_id:
            label += f" (channel {sub.channel_id})"
        if sub.held:
            label += " — paused"
        if not text or text in label.casefold():
            out.append((label, sub.id))
    return out[:25]


async def category_choices(store: Store, current: str) -> list[tuple[str, str]]:
    text = one_line(current or "").casefold()
    return [(f"{c} ({n} papers)", c) for c, n in await store.categories() if text in c.casefold()][:25]
