"""The answer layer: what each slash command says, computed from the store as plain data.

Nothing here knows discord.py. ``bot/render.py`` turns an ``Answer`` into Discord's
message JSON; the cogs send that, and ``paperboy ask`` prints it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from bot.limits import EMBED_FIELD_VALUE_MAX, clip
from bot.markdown import code, escape, link, one_line
from bot.model import AMBER, GREEN, GREY, Answer, Card, Field, Page
from storage.authors import also_matching
from storage.cite import paper_page
from storage.errors import InvalidInputError, NotFoundError
from storage.models import AuthorProfile, Paper, Topic
from storage.ops import OpsStates
from storage.store import Store
from storage.text import slugify

log = logging.getLogger(__name__)

PAGE_SIZE = 5
TOPICS_PAGE_SIZE = 20
MAX_RESULTS = 50
QUERY_MAX = 500
TITLE_IN_LIST = 180


# -- shared pieces ---------------------------------------------------------------


def join_limited(items: Sequence[str], limit: int, *, sep: str = ", ", more: str = " … and {n} more") -> str:
    """Items joined until ``limit`` characters, then a count of those left out."""
    out: list[str] = []
    used = 0
    for i, item in enumerate(items):
        tail = more.format(n=len(items) - i - 1) if i < len(items) - 1 else ""
        piece = (sep if out else "") + item
        if used + len(piece) + len(tail) > limit:
            rest = len(items) - i
            return "".join(out) + more.format(n=rest) if out else clip(item, limit)
        out.append(piece)
        used += len(piece)
    return "".join(out)


def author_list(paper: Paper, *, most: int | None = None) -> str:
    names = [escape(one_line(a)) for a in paper.authors]
    if most is not None and len(names) > most:
        return ", ".join(names[:most]) + " et al."
    text = join_limited(names, EMBED_FIELD_VALUE_MAX - 10)
    if paper.authors_truncated and " more" not in text[-20:]:
        text += " et al."
    return text or "unknown"


def title_url(paper: Paper, base_url: str | None) -> str | None:
    """Where a paper's title links: its own page (arXiv, DOI, ...), else its page on our site."""
    return paper.url or (paper_page(base_url, paper.key) if base_url else None)


def paper_line(paper: Paper, rank: int | None = None, *, base_url: str | None = None) -> str:
    """Two lines for a paper in a list: linked title, then authors · category · date (the key is on /paper show)."""
    url = title_url(paper, base_url)
    title = link(paper.title, url, limit=TITLE_IN_LIST)
    if not url:
        title = f"**{title}**"
    head = f"**{rank}.** {title}" if rank is not None else title
    meta = [author_list(paper, most=3)]
    if paper.category:
        meta.append(escape(paper.category))
    meta.append(paper.published.isoformat() if paper.published else "undated")
    if paper.has_code:
        meta.append(link("code", paper.code_url) if paper.code_url else "code")
    return f"{head}\n{' · '.join(meta)}"


def paper_card(
    paper: Paper, *, abstract_limit: int = 3500, heading: str | None = None, base_url: str | None = None
) -> Card:
    """One paper in full: authors, date, category, abstract, code and paper links."""
    fields = [Field("Authors", author_list(paper))]
    fields.append(Field("Published", paper.published.isoformat() if paper.published else "undated", True))
    if paper.category:
        cats = [paper.category, *[c for c in paper.categories if c != paper.category]]
        fields.append(Field("Category", escape(", ".join(cats)), True))
    links = []
    if paper.url:
        links.append(link("Paper", paper.url))
    if paper.pdf_url:
        links.append(link("PDF", paper.pdf_url))
    if paper.doi:
        links.append(link(f"DOI {paper.doi}", f"https://doi.org/{paper.doi}"))
    if base_url:
        links.append(link("Page & BibTeX", paper_page(base_url, paper.key)))
    if links:
        fields.append(Field("Links", " · ".join(links), True))
    if paper.has_code or paper.code_url:
        fields.append(Field("Code", link(paper.code_url or "", paper.code_url) if paper.code_url else "yes", True))
    if paper.journal_ref:
        fields.append(Field("Journal", escape(one_line(paper.journal_ref))))
    abstract = escape(paper.abstract.strip()) if paper.abstract.strip() else "*No abstract.*"
    description = clip(abstract, abstract_limit)
    if heading:
        description = f"{heading}\n\n{description}"
    footer = f"key {paper.key} · first seen {paper.first_seen_at.date().isoformat()}"
    if paper.sources:
        footer += " · from " + ", ".join(paper.sources)
    return Card(
        title=escape(clip(one_line(paper.title), 250)),
        url=title_url(paper, base_url),
        description=description,
        fields=tuple(fields),
        footer=footer,
    )


def paper_pages(
    papers: Sequence[Paper], *, title: str, url: str | None = None, lead: Card | None = None,
    footer_note: str = "", per_page: int = PAGE_SIZE, base_url: str | None = None,
) -> tuple[Page, ...]:
    """Papers split into pages of ``per_page``; ``lead`` (e.g. a profile) heads every page."""
    pages = []
    for start in range(0, len(papers), per_page):
        chunk = papers[start : start + per_page]
        lines = [paper_line(p, start + i + 1, base_url=base_url) for i, p in enumerate(chunk)]
        footer = f"{start + 1}–{start + len(chunk)} of {len(papers)}"
        if footer_note:
            footer += f" · {footer_note}"
        card = Card(title=title, url=url, description="\n\n".join(lines), footer=footer)
        pages.append(Page(cards=(lead, card) if lead else (card,)))
    return tuple(pages)


def _clean_query(text: str, what: str, example: str) -> str:
    query = one_line(text or "")
    if not query:
        raise InvalidInputError(f"{what} is empty; type some words, for example {example}.")
    return query[:QUERY_MAX]


def _quoted(text: str, limit: int = 80) -> str:
    return "“" + escape(clip(text, limit)) + "”"


def feed_links(base_url: str, path: str) -> str:
    """``[Atom](…) · [RSS](…) · [JSON](…)`` for the feed at ``<base_url><path>.<fmt>``."""
    return " · ".join(link(label, f"{base_url}{path}.{ext}") for label, ext in
                      (("Atom", "atom"), ("RSS", "rss"), ("JSON Feed", "json")))


# -- /paper ---------------------------------------------------------------------------


async def paper_search(store: Store, query: str, *, base_url: str | None = None) -> Answer:
    q = _clean_query(query, "The search", "/paper search query:domain adaptation")
    papers = await store.search(q, limit=MAX_RESULTS)
    if not papers:
        return Answer.single(
            Card(
                title=clip(f"No papers match {_quoted(q)}", 250),
                description="Try fewer or different words, an acronym such as SSL, or a topic from /topics.",
                color=GREY,
            ),
            ephemeral=True,
        )
    note = "best match first" if len(papers) < MAX_RESULTS else f"top {MAX_RESULTS} shown"
    return Answer(pages=paper_pages(
        papers, title=clip(f"Papers matching {_quoted(q)}", 250), footer_note=note, base_url=base_url
    ))


async def paper_show(store: Store, key: str, *, base_url: str | None = None) -> Answer:
    wanted = one_line(key or "")
    if not wanted:
        raise InvalidInputError("Give a paper key, for example /paper show key:2304.00792; pick one as you type.")
    paper = await store.get_paper(wanted)
    if paper is None:
        near = await store.search(wanted[:QUERY_MAX], limit=3)
        hint = ""
        if near:
            hint = " Did you mean " + "; ".join(f"{clip(p.title, 60)} (key {p.key})" for p in near) + "?"
        raise NotFoundError(
            f"No paper has the key {clip(wanted, 80)!r}. Pick a suggestion as you type, or find it with"
            f" /paper search.{hint}"
        )
    return Answer.single(paper_card(paper, base_url=base_url))


async def paper_latest(store: Store, count: int = 5, *, base_url: str | None = None) -> Answer:
    if not 1 <= count <= MAX_RESULTS:
        raise InvalidInputError(f"count must be between 1 and {MAX_RESULTS}; you gave {count}.")
    papers = await store.latest(count)
    if not papers:
        return _empty_library()
    return Answer(pages=paper_pages(papers, title="Newest papers", footer_note="newest first", base_url=base_url))


async def paper_random(store: Store, *, base_url: str | None = None) -> Answer:
    paper = await store.random_paper()
    if paper is None:
        return _empty_library()
    return Answer.single(paper_card(paper, heading="🎲 A random paper from the library", base_url=base_url))


def _empty_library() -> Answer:
    return Answer.single(
        Card(
            title="No papers yet",
            description="The library is empty. An admin can add sources to the config or run `paperboy ingest FILE`.",
            color=GREY,
        ),
        ephemeral=True,
    )


# -- /author ------------------------------------------------------------------------


async def resolve_author(store: Store, text: str) -> tuple[AuthorProfile, list[str]]:
    """The author a user meant (a key from autocomplete, a name, or a fuzzy guess), and near misses."""
    wanted = _clean_query(text, "The author name", "/author name:Sangheum Hwang")
    profile = await store.author_profile(wanted)
    others: list[str] = []
    if profile is None:
        matches = await store.match_authors(wanted, limit=25)
        if not matches:
            raise NotFoundError(
                f"No author resembles {clip(wanted, 80)!r}. Start typing a name and pick one of the "
                "suggestions, or try the surname alone."
            )
        profile = await store.author_profile(matches[0].key)
        if profile is None:  # pragma: no cover - the index and the table disagree only mid-ingest
            raise NotFoundError(f"The author {matches[0].name!r} has just gone; try again.")
        others = [f"{matches[i].name} ({matches[i].papers})" for i in also_matching([m.score for m in matches])]
    return profile, others


async def author(store: Store, name: str, *, base_url: str) -> Answer:
    profile, others = await resolve_author(store, name)
    count = len(profile.papers)
    years = (
        (f"active {profile.years[0]}" if profile.years[0] == profile.years[1]
         else f"active {profile.years[0]}–{profile.years[1]}")
        if profile.years else "no dated papers"
    )
    fields = []
    if profile.coauthors:
        fields.append(Field("Co-authors", join_limited(
            [f"{escape(n)} ({c})" for n, c in profile.coauthors], EMBED_FIELD_VALUE_MAX - 20)))
    if profile.topics:
        fields.append(Field("Topics", join_limited(
            [f"{escape(n)} ({c})" for n, c in profile.topics], EMBED_FIELD_VALUE_MAX - 20)))
    fields.append(Field("Feeds", feed_links(base_url, f"authors/{profile.key}")))
    if others:
        fields.append(Field("Also matching", join_limited([escape(o) for o in others], 500)))
    lead = Card(
        title=escape(clip(one_line(profile.name), 250)),
        url=f"{base_url}authors/{profile.key}.atom",
        description=f"**{count} paper{'s' if count != 1 else ''}** · {years}",
        fields=tuple(fields),
        footer=f"author key {profile.key}",
        color=GREEN,
    )
    if not profile.papers:
        return Answer.single(lead)
    return Answer(pages=paper_pages(profile.papers, title="Papers, newest first", lead=lead, base_url=base_url))


async def author_choices(store: Store, current: str) -> list[tuple[str, str]]:
    """Autocomplete for an author: (shown name, author key), best first."""
    text = one_line(current or "")[:100]
    if not text:
        # Nothing typed yet: the people on the newest papers, most prolific first.
        counts: Counter[str] = Counter()
        for paper in await store.latest(25):
            counts.update(paper.authors)
        ranked = [name for name, _ in counts.most_common(25)]
        out = []
        for name in ranked:
            matches = await store.match_authors(name, limit=1)
            if matches:
                m = matches[0]
                out.append((f"{m.name} ({m.papers} paper{'s' if m.papers != 1 else ''})", m.key))
        return out
    return [
        (f"{m.name} ({m.papers} paper{'s' if m.papers != 1 else ''})", m.key)
        for m in await store.match_authors(text, limit=25)
    ]


# -- /topic and /topics ------------------------------------------------------------------


def _topic_label(t: Topic) -> str:
    meaning = f" = {t.expansion}" if t.expansion else ""
    return f"{t.name}{meaning}"


def _topic_feed_path(t: Topic) -> str:
    return f"categories/{t.name.lower()}" if t.kind == "category" else f"topics/{t.slug}"


async def find_topic(store: Store, text: str) -> Topic | None:
    """A learnt topic by slug, name, acronym or expansion, whatever the case."""
    wanted = one_line(text)
    for slug in dict.fromkeys([wanted.lower(), slugify(wanted)]):
        found = await store.topic(slug)
        if found is not None:
            return found
    folded = wanted.casefold()
    for t in await store.topics():
        if folded in (t.name.casefold(), (t.expansion or "").casefold()):
            return t
    return None


async def topic(store: Store, name: str, *, base_url: str) -> Answer:
    wanted = _clean_query(name, "The topic", "/topic name:SSL")
    found = await find_topic(store, wanted)
    if found is None:
        papers = await store.search(wanted, limit=MAX_RESULTS)
        if not papers:
            raise NotFoundError(
                f"No topic or paper matches {clip(wanted, 80)!r}. /topics lists the topics learnt so far."
            )
        return Answer(pages=paper_pages(
            papers, title=clip(f"No topic {_quoted(wanted)} yet — papers mentioning it", 250),
            footer_note="word search; /topics lists learnt topics", base_url=base_url,
        ))
    papers = await store.latest(MAX_RESULTS, topic_slug=found.slug)
    kind = {"acronym": "acronym", "phrase": "key phrase", "category": "category"}.get(found.kind, found.kind)
    lead = Card(
        title=escape(clip(_topic_label(found), 250)),
        url=f"{base_url}{_topic_feed_path(found)}.atom",
        description=f"**{found.papers} paper{'s' if found.papers != 1 else ''}** · {kind}",
        fields=(Field("Feeds", feed_links(base_url, _topic_feed_path(found))),),
        footer=f"topic {found.slug}",
        color=AMBER,
    )
    if not papers:
        return Answer.single(lead)
    return Answer(pages=paper_pages(papers, title="Papers, newest first", lead=lead, base_url=base_url))


async def topic_choices(store: Store, current: str) -> list[tuple[str, str]]:
    """Learnt topics whose name, acronym or expansion contains what was typed; free text first."""
    text = one_line(current or "")[:100]
    folded = text.casefold()
    topics = await store.topics()
    hits = [t for t in topics if not folded or folded in t.name.casefold()
            or folded in (t.expansion or "").casefold() or folded in t.slug]
    hits.sort(key=lambda t: (not t.name.casefold().startswith(folded), -t.papers, t.slug))
    out = [(f"{_topic_label(t)} ({t.papers})", t.slug) for t in hits]
    exact = any(folded in (t.name.casefold(), t.slug) for t in hits)
    if text and not exact:
        out.insert(0, (f"Search papers for “{text}”", text))
    return out[:25]


async def topics(store: Store, *, base_url: str) -> Answer:
    found = await store.topics()
    if not found:
        return Answer.single(Card(
            title="No topics yet",
            description="Topics are learnt from abstracts as papers arrive; ingest some papers first.",
            color=GREY,
        ), ephemeral=True)
    pages = []
    for start in range(0, len(found), TOPICS_PAGE_SIZE):
        chunk = found[start : start + TOPICS_PAGE_SIZE]
        lines = [f"**{escape(_topic_label(t))}** — {t.papers} paper{'s' if t.papers != 1 else ''} · "
                 f"{code(t.slug)}" for t in chunk]
        pages.append(Page(cards=(Card(
            title=f"Topics ({len(found)})",
            description="\n".join(lines),
            footer=f"{start + 1}–{start + len(chunk)} of {len(found)} · /topic name:<topic> shows its papers",
            color=AMBER,
        ),)))
    return Answer(pages=tuple(pages))


# -- /stats and /feed ----------------------------------------------------------------------


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


async def stats(store: Store, *, base_url: str, now: datetime | None = None) -> Answer:
    s = await store.stats()
    now = now or datetime.now().astimezone()
    fields = [
        Field("Papers", str(s.papers), True),
        Field("Authors", str(s.authors), True),
        Field("Topics", str(s.topics), True),
    ]
    if s.newest is not None:
        when = s.newest.published.isoformat() if s.newest.published else "undated"
        fields.append(Field("Newest paper", f"{link(s.newest.title, s.newest.url, limit=200)} ({when})"))
    lines = []
    ops = {st.subject: st for st in await OpsStates(store.db).all()}  # what the ops channel was told
    for src in s.sources:
        st = ops.get(f"source:{src.name}")
        if st is not None and st.state == "dropped":
            health = f"📉 sharp drop: {escape(clip(one_line(st.detail or ''), 150))}"
        elif src.last_error:
            failures = f" ({st.failures} polls in a row)" if st is not None and st.failures > 1 else ""
            health = f"⚠️ failing{failures}: {escape(clip(one_line(src.last_error), 150))}"
        elif src.last_success_at is not None:
            health = f"✅ ok, polled {_ago(src.last_success_at, now)}"
        else:
            health = "⏳ not polled yet"
        lines.append(f"**{escape(src.name)}** ({src.kind}, {src.papers} papers) — {health}")
    fields.append(Field("Sources", join_limited(lines, EMBED_FIELD_VALUE_MAX - 20, sep="\n",
                                                more="\n… and {n} more") or "none configured"))
    broken = [f"#{st.name}: {escape(clip(one_line(st.detail or ''), 150))}" for st in ops.values()
              if st.subject.startswith("subscription:") and st.state == "broken"]
    if broken:
        fields.append(Field("🔌 Broken subscriptions", join_limited(broken, EMBED_FIELD_VALUE_MAX - 20, sep="\n",
                                                                    more="\n… and {n} more")))
    fields.append(Field("Announcements waiting", str(s.pending_deliveries), True))
    fields.append(Field("Feeds", feed_links(base_url, "feed"), True))
    return Answer.single(Card(title="paperboy library", url=base_url, fields=tuple(fields), color=GREEN))


async def feed(store: Store, *, base_url: str) -> Answer:
    cats = await store.categories()
    fields = [
        Field("Everything", feed_links(base_url, "feed")),
        Field("One author", f"{base_url}authors/<author-key>.atom — /author shows the links for anyone"),
        Field("One topic", f"{base_url}topics/<topic>.atom — /topic shows the links for any topic"),
    ]
    if cats:
        fields.append(Field("Categories", join_limited(
            [link(c, f"{base_url}categories/{c.lower()}.atom") for c, _ in cats], EMBED_FIELD_VALUE_MAX - 20)))
    fields.append(Field("All feeds for your reader", link("OPML list", f"{base_url}feeds.opml")))
    return Answer.single(Card(
        title="Feeds",
        url=base_url,
        description="Follow new papers in any feed reader. Atom, RSS 2.0 and JSON Feed carry the same entries.",
        fields=tuple(fields),
    ))


async def paper_choices(store: Store, current: str) -> list[tuple[str, str]]:
    """Autocomplete for a paper key: titles that match what was typed, newest if nothing was."""
    text = one_line(current or "")[:QUERY_MAX]
    papers = await store.search(text, limit=25) if text else await store.latest(25)
    exact = await store.get_paper(text) if text else None
    if exact is not None:
        papers = [exact, *[p for p in papers if p.id != exact.id]]
    return [(one_line(p.title), p.key) for p in papers]


async def ask_payload(store: Store, command_line: str, *, base_url: str) -> dict:
    """The message payload the bot would send for ``command_line`` (e.g. ``/author name:X``)."""
    from bot.ask import ask_payload as _ask_payload

    return await _ask_payload(store, command_line, base_url=base_url)


def payload_text(payload: dict) -> str:
    """A message payload as plain text for a terminal."""
    from bot.render import payload_text as _payload_text

    return _payload_text(payload)
