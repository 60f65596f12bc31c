"""Subscription rules: which papers a subscription announces, and why (or why not), as plain data.

One place decides, for ingest (queueing deliveries), for backfills and test
posts, and for ``/why``:

* the target: everything, one author (by author key, listed or inferred), one
  topic (by slug) or one category (compared case-insensitively);
* the age rule: a paper is announced only when it is new to the store and its
  publication date is at most ``max_age`` old when first seen (undated papers
  count as new), so a new source's backlog is stored but never floods a channel;
* the filters: ``include`` and ``exclude`` hold words (matched as search matches
  them: case, accents and word endings folded, learnt acronyms expanded),
  "quoted phrases" and ``/regular expressions/`` (RE2, linear time, size-capped).
  A paper passes when it matches any include (or there are none) and no exclude.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import re2

from storage.errors import InvalidInputError
from storage.models import Subscription
from storage.search import Expansions
from storage.search_query import QueryBuilder
from storage.text import clean_space, fold, words

DEFAULT_MAX_AGE = timedelta(days=30)
# How a subscription is delivered: "off" (each paper as it arrives), or one digest per day or week.
DIGESTS = {"off": 0, "daily": 1, "weekly": 7}
DIGEST_ALIASES = {"none": "off"}  # the word /subscribe used before "off" was the one word everywhere
FILTER_MAX_CHARS = 500
FILTER_MAX_ITEMS = 20
REGEX_MAX_CHARS = 200
REGEX_MAX_MEM = 1 << 20  # bytes RE2 may use to compile one expression
REGEX_MAX_PROGRAM = 2000  # RE2 program size: a cap on how much work one match can be
RESUME_POSTS = 10  # at most this many held papers are posted on resume; the rest become one line

SUB_COLUMNS = (
    "id, guild_id, channel_id, webhook_url, target, value, created_at, paused_reason, digest,"
    " mention_role_id, include_text, exclude_text, paused_at, paused_by"
)


def subscription_from_row(row: Sequence[Any]) -> Subscription:
    """A Subscription from a row selected with SUB_COLUMNS (sqlite3 or aiosqlite)."""
    return Subscription(
        id=row[0],
        guild_id=row[1],
        channel_id=row[2],
        webhook_url=row[3],
        target=row[4],
        value=row[5],
        created_at=datetime.fromisoformat(row[6]),
        paused_reason=row[7],
        digest=int(row[8] or 0),
        mention_role_id=row[9],
        include=row[10] or "",
        exclude=row[11] or "",
        paused_at=datetime.fromisoformat(row[12]) if row[12] else None,
        paused_by=row[13],
    )


def digest_name(days: int) -> str:
    return next((name for name, d in DIGESTS.items() if d == days), f"every {days} days")


def digest_days(name: str | None) -> int:
    """off|daily|weekly (or the alias none) -> days per digest (0 posts as they arrive)."""
    if name is None:
        return 0
    wanted = canonical_digest(name)
    if wanted not in DIGESTS:
        raise InvalidInputError(f"digest: must be one of off, daily or weekly; you gave {name!r}.")
    return DIGESTS[wanted]


def canonical_digest(name: str) -> str:
    """The one word for a digest setting: ``none`` (an alias) reads as ``off``."""
    wanted = name.strip().lower()
    return DIGEST_ALIASES.get(wanted, wanted)


# -- filters -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilterItem:
    """One include/exclude entry: a word, a "phrase" or a /regex/ (``flags`` may hold ``i``)."""

    kind: str  # word | phrase | regex
    text: str
    flags: str = ""

    def __str__(self) -> str:
        if self.kind == "regex":
            return f"/{self.text}/{self.flags}"
        return f"“{self.text}”"

    @property
    def source(self) -> str:
        """The item as it is typed (and stored): word, "phrase" or /regex/flags."""
        if self.kind == "regex":
            return "/" + self.text.replace("/", "\\/") + "/" + self.flags
        return f'"{self.text}"' if self.kind == "phrase" else self.text

    @property
    def label(self) -> str:
        return {"word": "word", "phrase": "phrase", "regex": "expression"}[self.kind] + f" {self}"


def parse_filters(text: str | None, option: str) -> tuple[FilterItem, ...]:
    """Read an include/exclude option; a mistake names the option and the place in it."""
    raw = clean_space(text or "")
    if not raw:
        return ()
    if len(raw) > FILTER_MAX_CHARS:
        raise InvalidInputError(f"{option}: is {len(raw)} characters long; keep it under {FILTER_MAX_CHARS}.")
    items: list[FilterItem] = []
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c in " ,;":
            i += 1
            continue
        if c == '"':
            end = raw.find('"', i + 1)
            if end < 0:
                raise InvalidInputError(
                    f"{option}: the quote opened at character {i + 1} is never closed; "
                    'write a phrase as "medical imaging".'
                )
            phrase = raw[i + 1 : end].strip()
            if not words(phrase):
                raise InvalidInputError(f"{option}: the phrase at character {i + 1} has no words in it.")
            items.append(FilterItem("phrase", phrase))
            i = end + 1
            continue
        if c == "/":
            j = i + 1
            while j < n and raw[j] != "/":
                j += 2 if raw[j] == "\\" else 1
            if j >= n:
                raise InvalidInputError(
                    f"{option}: the regular expression starting at character {i + 1} has no closing /; "
                    "write it as /segment(ation|ing)/ (a / inside it is written \\/)."
                )
            pattern = raw[i + 1 : j].replace("\\/", "/")
            k = j + 1
            while k < n and raw[k].isalpha():
                k += 1
            flags = raw[j + 1 : k]
            if flags not in ("", "i"):
                raise InvalidInputError(
                    f"{option}: /{pattern}/{flags}: the only flag is i (ignore case); remove {flags!r}."
                )
            item = FilterItem("regex", pattern, flags)
            compile_regex(item, option)
            items.append(item)
            i = k
            continue
        j = i
        while j < n and raw[j] not in ' ,;"':
            j += 1
        word = raw[i:j]
        if not words(word):
            raise InvalidInputError(
                f"{option}: {word!r} (at character {i + 1}) has no letters or digits to match; "
                "use /…/ for a regular expression."
            )
        items.append(FilterItem("word", word))
        i = j
    if len(items) > FILTER_MAX_ITEMS:
        raise InvalidInputError(f"{option}: has {len(items)} entries; at most {FILTER_MAX_ITEMS} are allowed.")
    return tuple(items)


def filters_text(items: Sequence[FilterItem]) -> str:
    """The stored form of parsed filters: each item as typed, separated by spaces."""
    return " ".join(item.source for item in items)


def compile_regex(item: FilterItem, option: str = "filter") -> Any:
    """RE2 program for a /regex/ item, refused when too long, malformed or too big."""
    if not item.text:
        raise InvalidInputError(f"{option}: // is an empty regular expression.")
    if len(item.text) > REGEX_MAX_CHARS:
        raise InvalidInputError(
            f"{option}: the regular expression /{item.text[:40]}…/ is {len(item.text)} characters long; "
            f"at most {REGEX_MAX_CHARS} are allowed."
        )
    options = re2.Options()
    options.max_mem = REGEX_MAX_MEM
    options.log_errors = False
    options.case_sensitive = "i" not in item.flags
    try:
        program = re2.compile(item.text, options)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise InvalidInputError(
            f"{option}: /{item.text}/ is not a regular expression RE2 accepts ({detail})."
        ) from None
    if program.programsize > REGEX_MAX_PROGRAM:
        raise InvalidInputError(
            f"{option}: /{item.text}/ is too large to run on every paper "
            f"(size {program.programsize}, limit {REGEX_MAX_PROGRAM}); simplify it or split it."
        )
    return program


# -- papers as the rules see them ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaperFacts:
    """What the rules need to know about one paper."""

    id: int
    key: str
    title: str
    abstract: str
    category: str | None
    published: date | None
    first_seen_at: datetime
    authors: dict[str, tuple[str, bool]]  # author key -> (name as written, inferred owner)
    topics: frozenset[str]  # topic slugs

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.abstract}"


FACTS_SQL = (
    "SELECT p.id, p.key, p.title, p.abstract, p.category, p.published, p.first_seen_at,"
    " (SELECT group_concat(a.key || char(30) || pa.name || char(30) || pa.inferred, char(31))"
    "  FROM paper_authors pa JOIN authors a ON a.id = pa.author_id WHERE pa.paper_id = p.id),"
    " (SELECT group_concat(t.slug, char(31)) FROM paper_topics pt"
    "  JOIN topics t ON t.id = pt.topic_id WHERE pt.paper_id = p.id)"
    " FROM papers p"
)


def facts_from_row(row: Sequence[Any]) -> PaperFacts:
    authors: dict[str, tuple[str, bool]] = {}
    for part in (row[7] or "").split("\x1f"):
        if part:
            key, name, inferred = part.split("\x1e")
            authors.setdefault(key, (name, inferred == "1"))
    return PaperFacts(
        id=int(row[0]),
        key=row[1],
        title=row[2],
        abstract=row[3] or "",
        category=row[4],
        published=date.fromisoformat(row[5][:10]) if row[5] else None,
        first_seen_at=datetime.fromisoformat(row[6]),
        authors=authors,
        topics=frozenset(s for s in (row[8] or "").split("\x1f") if s),
    )


def facts_sync(conn: sqlite3.Connection, paper_ids: Iterable[int]) -> list[PaperFacts]:
    ids = list(paper_ids)
    out: list[PaperFacts] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = conn.execute(f"{FACTS_SQL} WHERE p.id IN ({','.join('?' * len(chunk))})", chunk).fetchall()
        out += [facts_from_row(r) for r in rows]
    return out


@dataclass(frozen=True, slots=True)
class TopicInfo:
    slug: str
    name: str
    kind: str
    expansion: str | None


TOPICS_SQL = "SELECT slug, name, kind, expansion FROM topics"


def expansions_from(rows: Iterable[Sequence[Any]]) -> Expansions:
    """The same acronym ⇄ phrase table search uses, from (slug, name, kind, expansion) rows."""
    by_acronym: dict[str, str] = {}
    by_phrase: dict[str, str] = {}
    for _slug, name, kind, expansion in rows:
        if kind == "acronym" and expansion:
            by_acronym.setdefault(name.lower(), expansion)
            by_phrase.setdefault(expansion, name)
    return Expansions(by_acronym, by_phrase)


# -- deciding ------------------------------------------------------------------------


def too_old(published: date | None, first_seen_at: datetime, max_age: timedelta | None) -> bool:
    """Older than ``max_age`` when the store first saw it (undated papers are never too old)."""
    if published is None or max_age is None or max_age <= timedelta(0):
        return False
    return published < (first_seen_at - max_age).date()


@dataclass(frozen=True, slots=True)
class Verdict:
    """How one subscription judges one paper; every string is a finished phrase for people."""

    follows: bool  # the target matches
    target: str  # what matched, or why the target does not
    too_old: bool = False
    age: str = ""
    included: str | None = None  # the include entry that matched
    include_missed: str | None = None  # the include entries, none of which matched
    excluded: str | None = None  # the exclude entry that matched

    @property
    def wanted(self) -> bool:
        """Target, filters and age all allow it (pause and timing aside)."""
        return self.follows and not self.too_old and self.excluded is None and self.include_missed is None

    @property
    def matched(self) -> str:
        return self.target + (f"; include {self.included}" if self.included else "")


@dataclass
class Rules:
    """Evaluates subscriptions against papers; build once per batch (filters compile once)."""

    expansions: Expansions
    topics: dict[str, TopicInfo]
    max_age: timedelta | None = DEFAULT_MAX_AGE
    builder: QueryBuilder = field(default_factory=QueryBuilder)
    _compiled: dict[FilterItem, Any] = field(default_factory=dict)
    _terms: dict[int, str] = field(default_factory=dict)

    @classmethod
    def from_topic_rows(cls, rows: Iterable[Sequence[Any]], max_age: timedelta | None) -> Rules:
        rows = [tuple(r) for r in rows]
        return cls(
            expansions=expansions_from(rows),
            topics={r[0]: TopicInfo(*r) for r in rows},
            max_age=max_age,
        )

    # -- filters --

    def _paper_terms(self, facts: PaperFacts) -> str:
        found = self._terms.get(facts.id)
        if found is None:
            found = " " + " ".join(self.builder.terms(f"{facts.title} . {facts.abstract}")) + " "
            self._terms[facts.id] = found
        return found

    def item_matches(self, item: FilterItem, facts: PaperFacts) -> str | None:
        """A phrase saying what matched (e.g. “SSL” as self-supervised learning), or None."""
        if item.kind == "regex":
            program = self._compiled.get(item)
            if program is None:
                program = self._compiled[item] = compile_regex(item)
            hit = program.search(facts.text)
            return f"{item.label} (“{hit.group(0)[:60]}”)" if hit else None
        query = item.text if item.kind == "word" and len(words(item.text)) == 1 else f'"{item.text}"'
        groups = self._compiled.get(item)
        if groups is None:
            groups = self._compiled[item] = self.builder.groups(query, self.expansions)
        if not groups:
            return None
        terms = self._paper_terms(facts)
        other_form = False
        for group in groups:
            hit = next((alt for alt in group.alternatives if " " + " ".join(alt) + " " in terms), None)
            if hit is None:
                return None
            other_form = other_form or hit != group.alternatives[0]
        alias = self._alias(item.text) if other_form else None
        return f"{item.label} (as {alias})" if alias else item.label

    def _alias(self, text: str) -> str | None:
        """The learnt other form of a word or phrase: an acronym's long form, or a long form's acronym."""
        key = fold(text)
        for candidate in (key, key[:-1] if key.endswith("s") else ""):
            if candidate in self.expansions.by_acronym:
                return self.expansions.by_acronym[candidate]
        spelled = " ".join(words(key.replace("-", " ")))
        for phrase, acronym in self.expansions.by_phrase.items():
            if " ".join(words(fold(phrase).replace("-", " "))) == spelled:
                return acronym
        return None

    def first_match(self, items: Sequence[FilterItem], facts: PaperFacts) -> str | None:
        for item in items:
            hit = self.item_matches(item, facts)
            if hit:
                return hit
        return None

    # -- target --

    def target(self, sub: Subscription, facts: PaperFacts) -> tuple[bool, str]:
        if sub.target == "all":
            return True, "every new paper"
        value = sub.value or ""
        if sub.target == "author":
            found = facts.authors.get(value)
            if found is None:
                return False, f"follows the author {value}, who is not on this paper"
            name, inferred = found
            owner = " (the source's owner, hidden behind “et al.”)" if inferred else ""
            return True, f"author {name}{owner}"
        if sub.target == "topic":
            info = self.topics.get(value)
            label = info.name if info else value
            if value not in facts.topics:
                return False, f"follows the topic {label}, which this paper is not linked to"
            if info and info.kind == "acronym" and info.expansion:
                spelled = "the acronym" if info.name in facts.text else f"“{info.expansion}”"
                return True, (f"topic {info.name} = {info.expansion} (learnt from the acronym "
                              f"{info.name}; this paper says {spelled})")
            if info and info.kind == "category":
                return True, f"topic {info.name} (the paper's category)"
            return True, f"topic {label} (a key phrase shared by several titles)"
        # category: compared case-insensitively, as people type it
        paper_cats = facts.category or ""
        if paper_cats.casefold() == value.casefold():
            return True, f"category {facts.category}"
        return False, f"follows the category {value}; this paper is {facts.category or 'uncategorised'}"

    # -- everything --

    def evaluate(self, sub: Subscription, facts: PaperFacts, *, include: Sequence[FilterItem] | None = None,
                 exclude: Sequence[FilterItem] | None = None) -> Verdict:
        follows, target = self.target(sub, facts)
        include = parse_filters(sub.include, "include") if include is None else include
        exclude = parse_filters(sub.exclude, "exclude") if exclude is None else exclude
        old = too_old(facts.published, facts.first_seen_at, self.max_age)
        age = ""
        if old and facts.published is not None and self.max_age is not None:
            age = (f"published {facts.published.isoformat()}, more than {self.max_age.days} days before it was "
                   f"first seen on {facts.first_seen_at.date().isoformat()} ([announce] max_age)")
        included = self.first_match(include, facts) if include else None
        missed = None
        if include and included is None:
            missed = ", ".join(str(i) for i in include)
        excluded = self.first_match(exclude, facts) if exclude else None
        return Verdict(follows, target, old, age, included, missed, excluded)


def rules_sync(conn: sqlite3.Connection, max_age: timedelta | None) -> Rules:
    return Rules.from_topic_rows(conn.execute(TOPICS_SQL).fetchall(), max_age)


def subscriptions_sync(conn: sqlite3.Connection, where: str = "", params: Sequence[Any] = ()) -> list[Subscription]:
    rows = conn.execute(f"SELECT {SUB_COLUMNS} FROM subscriptions {where} ORDER BY id", params).fetchall()
    return [subscription_from_row(r) for r in rows]
