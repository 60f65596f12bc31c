"""The answer to /why: which of a channel's subscriptions posted (or would post) a paper, and why not."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.admin import describe
from bot.answers import join_limited
from bot.limits import clip
from bot.markdown import escape, one_line
from bot.model import AMBER, GREY, Answer, Card
from storage.errors import InvalidInputError, NotFoundError
from storage.models import Delivery, Subscription
from storage.store import Store
from storage.subscriptions import FACTS_SQL, TOPICS_SQL, PaperFacts, Rules, Verdict, digest_name, facts_from_row

log = logging.getLogger(__name__)

DESCRIPTION_MAX = 3900


def jump_link(sub: Subscription, message_id: int | None) -> str:
    if message_id and sub.guild_id and sub.channel_id:
        return f" ([message](https://discord.com/channels/{sub.guild_id}/{sub.channel_id}/{message_id}))"
    return ""


def explain(sub: Subscription, facts: PaperFacts, verdict: Verdict, delivery: Delivery | None) -> str:
    """One subscription's answer: what it did with the paper, then what matched or what stopped it."""
    head = describe(sub)
    matched = escape(verdict.matched)
    if delivery is not None:
        if delivery.status == "sent":
            return f"{head}\n✅ posted it{jump_link(sub, delivery.message_id)} — matched: {matched}"
        if delivery.status == "folded":
            return (f"{head}\n✅ held it while paused and counted it in the resume's summary line"
                    f"{jump_link(sub, delivery.message_id)} — matched: {matched}")
        if delivery.status == "failed":
            return f"{head}\n❌ could not post it: {escape(clip(one_line(delivery.last_error or ''), 200))}"
        if sub.paused_at is not None:
            return (f"{head}\n⏸️ holds it: #{sub.id} is paused; /subscription resume subscription:{sub.id} "
                    f"posts it — matched: {matched}")
        if sub.paused_reason:
            return f"{head}\n⏸️ holds it: {escape(clip(one_line(sub.paused_reason), 200))} — matched: {matched}"
        return f"{head}\n⏳ will post it at the announcer's next run — matched: {matched}"
    if not verdict.follows:
        return f"{head}\n➖ does not follow it: {escape(verdict.target)}"
    why_not: list[str] = []
    if verdict.excluded:
        why_not.append(f"excluded by the {escape(verdict.excluded)}")  # e.g. the word “medical”
    if verdict.include_missed:
        why_not.append(f"none of its include words matched ({escape(verdict.include_missed)})")
    if verdict.too_old:
        why_not.append(f"older than max_age: {escape(verdict.age)}")
    if facts.first_seen_at < sub.created_at:
        why_not.append(
            f"it was already in the library when #{sub.id} was subscribed (first seen "
            f"{facts.first_seen_at.date().isoformat()}, subscribed {sub.created_at.date().isoformat()}); only papers "
            "ingested later are announced, and backfill: posts recent ones on request"
        )
    if sub.digest and not why_not:
        return f"{head}\n🗞️ collects it for the {digest_name(sub.digest)} digest — matched: {matched}"
    if why_not:
        what = f" (the target matched: {matched})" if not verdict.excluded and not verdict.include_missed else ""
        return f"{head}\n🚫 did not post it: " + "; ".join(why_not) + what
    if sub.paused_at is not None:
        return f"{head}\n⏸️ would post it, but #{sub.id} is paused — matches: {matched}"
    return (f"{head}\n💡 would post it now — matches: {matched} — but it did not when the paper arrived "
            "(its filters or the learnt topics have changed since)")


async def why(
    store: Store, key: str, *, channel_id: int | None, max_age: timedelta | None, guild_id: int | None = None,
) -> Answer:
    wanted = one_line(key or "")
    if not wanted:
        raise InvalidInputError("Give a paper key, for example /why paper:2304.00792; pick one as you type.")
    paper = await store.get_paper(wanted)
    if paper is None:
        raise NotFoundError(
            f"No paper has the key {clip(wanted, 80)!r}: it has not been ingested (yet), so no subscription "
            "could post it. Pick a paper as you type, or find its key with /paper search."
        )
    subs = await store.outbox.subscriptions(channel_id=channel_id, guild_id=guild_id)
    where = f"<#{channel_id}>" if channel_id else "any channel or webhook"
    footer = f"key {paper.key} · first seen {paper.first_seen_at.date().isoformat()} · " + (
        f"[announce] max_age {max_age.days} days" if max_age else "no max_age")
    if not subs:
        return Answer.single(Card(
            title=clip(f"Why: {one_line(paper.title)}", 250),
            description=f"No subscription posts in {where}, so nothing here announces papers. "
                        "/subscribe sets one up.",
            footer=footer, color=GREY,
        ), ephemeral=True)
    rules = Rules.from_topic_rows(await store.db.fetchall(TOPICS_SQL), max_age)
    row = await store.db.fetchone(f"{FACTS_SQL} WHERE p.id = ?", (paper.id,))
    assert row is not None
    facts = facts_from_row(row)
    parts = []
    for sub in subs:
        verdict = rules.evaluate(sub, facts)
        delivery = await store.outbox.delivery_state(sub.id, paper.id)
        parts.append(clip(explain(sub, facts, verdict, delivery), 900))
    return Answer.single(Card(
        title=clip(f"Why: {one_line(paper.title)}", 250),
        url=paper.url,
        description=join_limited(parts, DESCRIPTION_MAX, sep="\n\n", more="\n\n… and {n} more subscriptions"),
        footer=footer,
        color=AMBER,
    ), ephemeral=True)
