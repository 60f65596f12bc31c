"""What a search means and how its hits are ordered: the query plan, the re-ranking, the explanation.

A query becomes a plan of *groups*, each standing for one or more of the words
the user typed and matched by any of its *alternatives*: the words themselves,
a quoted or learnt phrase, an acronym's long form or the acronym of a long form
(learnt from the lab's abstracts first, then from the shipped dictionary), and,
for a word the papers rarely or never use, approximate forms: a stem prefix
(``mammography`` → ``mammogr*`` finds *mammograms*) and, where the engine can
list its terms (Tantivy), terms one or two edits away that share the word's first
three letters (``segmantation`` → *segment*). Both engines answer the same plan.

The engine returns a pool of candidates (every word first, then any word); the
pool is re-ranked here by, in order: how many of the query's words a paper
covers (stop words not counted), how well they match (exact beats approximate,
title beats abstract, adjacent query words beat scattered ones, the whole query
as a phrase or the whole title beats everything), then the engine's BM25 score.
The same pass says for each hit what matched and where (``--explain``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from storage.models import Paper
from storage.search import MAX_QUERY_CHARS, MAX_TOKENS, Expansions
from storage.search_query import make_analyzer
from storage.text import fold, is_stopword, phrase_words, words

POOL = 20  # candidates re-ranked; pages within it are stable whatever the offset
APPROX_MIN_STEM = 5  # shorter words are too ambiguous to match approximately
APPROX_MAX_DF = 2  # a word this rare (or rarer, per mille of papers) gets approximate forms
APPROX_PER_MILLE = 0.5
EXACT, APPROX = 1.0, 0.5
TITLE_WEIGHT, ABSTRACT_WEIGHT = 3.0, 1.0
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


# -- the plan --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alt:
    """One way a group may match: analysed terms in a row, or an approximate single term."""

    terms: tuple[str, ...]
    kind: str  # "word" | "phrase" | "expansion" | "prefix" | "fuzzy" (a term a typo away)
    label: str  # what to show: the words, the long form, "mammogr*", "~segment"

    @property
    def approximate(self) -> bool:
        return self.kind in ("prefix", "fuzzy")


@dataclass(frozen=True, slots=True)
class Group:
    """Words of the query that count as one unit, with every alternative that matches them."""

    text: str  # as typed
    words: int  # how many query words it stands for
    alts: tuple[Alt, ...]
    optional: bool = False  # a stop word: scores, never required, never counted
    quoted: bool = False
    parts: tuple[Group, ...] = ()  # a learnt phrase's own words, each matching on its own

    def with_alts(self, extra: Iterable[Alt]) -> Group:
        return Group(self.text, self.words, (*self.alts, *extra), self.optional, self.quoted, self.parts)


@dataclass(frozen=True, slots=True)
class Plan:
    groups: tuple[Group, ...]
    terms: tuple[str, ...]  # the analysed terms of every word typed, in order (for phrase checks)

    @property
    def required(self) -> tuple[Group, ...]:
        req = tuple(g for g in self.groups if not g.optional)
        return req or self.groups

    @property
    def words(self) -> int:
        return sum(g.words for g in self.required)


class Analyzer:
    """The index's analyzer, with a per-word cache so re-ranking a pool stays cheap."""

    def __init__(self) -> None:
        self._analyzer = make_analyzer()
        self.stem = lru_cache(maxsize=100_000)(self._stem)

    def _stem(self, word: str) -> str:
        out = self._analyzer.analyze(word)
        return out[0] if out else ""

    def terms(self, text: str) -> tuple[str, ...]:
        return tuple(t for t in (self.stem(w) for w in _TOKEN.findall(text)) if t)

    def phrase(self, text: str) -> tuple[str, ...]:
        """``text`` analysed whole, exactly as the index analyses a title or an abstract."""
        return tuple(self._analyzer.analyze(text))


def _segments(text: str) -> list[tuple[bool, str]]:
    """(quoted, text) pieces; an unmatched quote is read as a space."""
    parts = text.split('"')
    if len(parts) % 2 == 0:
        parts[-2:] = [parts[-2] + " " + parts[-1]]
    return [(i % 2 == 1, p) for i, p in enumerate(parts) if p.strip()]


def _acronym_key(token: str, expansions: Expansions) -> str | None:
    key = fold(token)
    if key in expansions.by_acronym:
        return key
    if key.endswith("s") and key[:-1] in expansions.by_acronym:
        return key[:-1]
    return None


def build_plan(text: str, analyzer: Analyzer, expansions: Expansions | None = None) -> Plan:
    """The groups of ``text``: quoted runs, learnt phrases, acronyms, single words."""
    expansions = expansions or Expansions({}, {})
    groups: list[Group] = []
    all_terms: list[str] = []
    budget = MAX_TOKENS
    for quoted, segment in _segments(text[:MAX_QUERY_CHARS]):
        every = words(segment)
        tokens = every[:budget]
        budget -= len(tokens)
        if not tokens:
            continue
        all_terms += [t for tok in tokens for t in analyzer.terms(tok)]
        if quoted:
            terms = analyzer.terms(" ".join(tokens))
            alts = [Alt(terms, "phrase", " ".join(tokens))]
            acronym = expansions.by_phrase.get(" ".join(w for t in tokens for w in phrase_words(t)))
            if acronym:
                alts.append(Alt(analyzer.terms(acronym), "expansion", acronym))
            groups.append(Group(" ".join(tokens), len(tokens), _unique(alts), quoted=True))
        else:
            groups += _unquoted(" ".join(tokens) if len(tokens) < len(every) else segment, analyzer, expansions)
        if budget <= 0:
            break
    return Plan(tuple(g for g in groups if g.alts), tuple(all_terms))


def _unique(alts: Iterable[Alt]) -> tuple[Alt, ...]:
    seen: set[tuple[str, ...]] = set()
    out = []
    for alt in alts:
        if alt.terms and alt.terms not in seen:
            seen.add(alt.terms)
            out.append(alt)
    return tuple(out)


def _chunk_group(chunk: str, analyzer: Analyzer, expansions: Expansions) -> Group | None:
    """One whitespace-separated piece as typed: a word, or a hyphenated run read as a phrase."""
    terms = analyzer.terms(chunk)
    if not terms:
        return None
    typed = " ".join(words(chunk))
    alts = [Alt(terms, "word" if len(terms) == 1 else "phrase", typed)]
    key = _acronym_key(typed, expansions) if len(words(chunk)) == 1 else None
    if key:
        phrase = expansions.by_acronym[key]
        alts.append(Alt(analyzer.terms(phrase), "expansion", phrase))
        alts.append(Alt(analyzer.terms(key), "word", key))
        alts += [Alt(analyzer.terms(a), "expansion", a) for a in _narrower(phrase, expansions)]
    return Group(typed, 1, _unique(alts), optional=is_stopword(typed) and not key)


def _narrower(phrase: str, expansions: Expansions, limit: int = 3) -> list[str]:
    """Acronyms whose long form starts with ``phrase``: OOD also finds OoDD (OOD detection)."""
    head = phrase + " "
    return sorted(a for p, a in expansions.by_phrase.items() if p.startswith(head))[:limit]


def _unquoted(segment: str, analyzer: Analyzer, expansions: Expansions) -> list[Group]:
    chunks = [c for c in segment.split() if words(c)]
    # Each chunk's normal words, and the long form's words where it is an acronym, so that
    # "OOD detection" spells the learnt "out of distribution detection" (OoDD).
    plain = [phrase_words(" ".join(words(c))) for c in chunks]
    spelled_long = []
    for c, p in zip(chunks, plain, strict=True):
        key = _acronym_key(" ".join(words(c)), expansions) if len(words(c)) == 1 else None
        spelled_long.append(expansions.by_acronym[key].split() if key else p)
    out: list[Group] = []
    i = 0
    while i < len(chunks):
        found = None
        for n in range(min(6, len(chunks) - i), 0, -1):
            if n == 1 and len(words(chunks[i])) == 1:
                break  # one word alone: itself, and its long form if it is an acronym (below)
            for spelled in (plain, spelled_long):
                run = [w for ws in spelled[i : i + n] for w in ws]
                if len(run) < 2:
                    continue
                span = " ".join(run)
                acronym = expansions.by_phrase.get(span)
                if acronym:
                    found = (n, span, acronym)
                    break
            if found:
                break
        if found:
            n, span, acronym = found
            typed = " ".join(" ".join(words(c)) for c in chunks[i : i + n])
            alts = [Alt(analyzer.terms(typed), "phrase", typed), Alt(analyzer.terms(span), "expansion", span),
                    Alt(analyzer.terms(acronym), "expansion", acronym)]
            parts = tuple(g for g in (_chunk_group(c, analyzer, expansions) for c in chunks[i : i + n]) if g)
            out.append(Group(typed, n, _unique(alts), parts=parts if n > 1 else ()))
            i += n
            continue
        group = _chunk_group(chunks[i], analyzer, expansions)
        if group is not None:
            out.append(group)
        i += 1
    return out


def approximable(group: Group) -> str | None:
    """The stem of a single typed word that may get approximate forms, or None."""
    if group.words != 1 or group.quoted or group.optional or len(group.alts) != 1:
        return None
    (alt,) = group.alts
    if len(alt.terms) != 1 or alt.kind != "word":
        return None
    stem = alt.terms[0]
    return stem if len(stem) >= APPROX_MIN_STEM and stem.isalpha() else None


def is_rare(df: int, papers: int) -> bool:
    return df <= max(APPROX_MAX_DF, papers * APPROX_PER_MILLE / 1000)


def prefix_alt(stem: str, df: int) -> Alt | None:
    """The stem cut to 70% (at least five letters): ``mammographi`` → ``mammogr*``."""
    cut = max(APPROX_MIN_STEM, math.floor(len(stem) * 0.7))
    if cut < len(stem) or df == 0:
        return Alt((stem[:cut],), "prefix", stem[:cut] + "*")
    return None


def fuzzy_distance(stem: str) -> int:
    return 1 if len(stem) < 8 else 2


def near_terms(stem: str, vocabulary: Iterable[tuple[str, int]], limit: int = 3) -> list[Alt]:
    """Terms of the index one or two edits from ``stem`` (sharing its first letters), closest first."""
    distance = fuzzy_distance(stem)
    counts = {t: n for t, n in vocabulary if t != stem and abs(len(t) - len(stem)) <= distance}
    found = [(d, -counts[t], t) for t, d, _ in process.extract(
        stem, list(counts), scorer=Levenshtein.distance, score_cutoff=distance, limit=50)]
    found.sort()
    return [Alt((term,), "fuzzy", "~" + term) for _, _, term in found[:limit]]


# -- matching one paper ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    """One group matched in one paper: by which alternative, in which field, with which word."""

    query: str
    matched: str
    kind: str
    field: str  # "title" | "abstract"
    found: str  # the paper's own (analysed) term for approximate matches, else the alternative

    def as_json(self) -> dict[str, str]:
        return {"query": self.query, "matched": self.matched, "kind": self.kind, "field": self.field,
                "found": self.found}


@dataclass(frozen=True, slots=True)
class Ranked:
    """A hit with what decided its place."""

    paper_id: int
    coverage: int  # query words matched
    words: int  # query words counted
    quality: float
    engine_score: float
    matches: tuple[Match, ...] = field(default=())
    signals: tuple[str, ...] = field(default=())

    @property
    def key(self) -> tuple[float, float, float]:
        return (-self.coverage, -round(self.quality, 6), -self.engine_score)


_GAP = r"[\W_]+"
_COMBINING = re.compile("[\u0300-\u036f]")


def _head(term: str, prefix: bool = False) -> str:
    return term if prefix or len(term) <= 3 else term[:-1]


@lru_cache(maxsize=4_096)
def _pattern(terms: tuple[str, ...], prefix: bool = False, bounded: bool = False) -> re.Pattern[str]:
    """Words in a row whose stems may be ``terms``: each word starts with its stem (less a letter)."""
    # A stem of a letter or two is the whole word (the stemmer leaves such words alone).
    body = _GAP.join("(" + re.escape(_head(t, prefix)) + (r"[^\W_]*)" if prefix or len(t) > 2 else r")(?![^\W_])")
                     for t in terms)
    return re.compile((r"\b" if bounded else "") + body)


def _fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text)).lower()


class _Text:
    """One field of one paper, searched for analysed terms.

    Rather than analysing every word of an abstract (slow in Python), a regular
    expression finds the few words that could have a wanted stem, and only those
    are stemmed to confirm it.
    """

    __slots__ = ("analyzer", "low")

    def __init__(self, text: str, analyzer: Analyzer) -> None:
        self.low = _fold(text or "")
        self.analyzer = analyzer

    def run(self, terms: tuple[str, ...]) -> bool:
        if not terms:
            return False
        stem = self.analyzer.stem
        return any(all(stem(w) == t for w, t in zip(m.groups(), terms, strict=True))
                   for m in self._matches(terms, False))

    def _matches(self, terms: tuple[str, ...], prefix: bool) -> Iterator[re.Match[str]]:
        # str.find runs in C; the expression is only tried where a word starts with the first stem.
        low = self.low
        head = _head(terms[0], prefix)
        pattern = _pattern(terms, prefix)
        if len(head) <= 2:
            # A letter or two is everywhere: let the expression scan, from word starts only.
            yield from _pattern(terms, prefix, bounded=True).finditer(low)
            return
        at = low.find(head)
        while at != -1:
            if at == 0 or not (low[at - 1].isalnum()):
                m = pattern.match(low, at)
                if m is not None:
                    yield m
            at = low.find(head, at + 1)

    def starting(self, prefix: str) -> str | None:
        """The first analysed term that starts with ``prefix``."""
        stem = self.analyzer.stem
        for m in self._matches((prefix,), True):
            found = stem(m.group(1))
            if found.startswith(prefix):
                return found
        return None


def _alt_in(alt: Alt, text: _Text) -> str | None:
    """The paper's term that ``alt`` matched in one field, or None."""
    if alt.kind == "prefix":
        return text.starting(alt.terms[0])
    return " ".join(alt.terms) if text.run(alt.terms) else None


_FIELDS = (("title", TITLE_WEIGHT), ("authors", TITLE_WEIGHT), ("abstract", ABSTRACT_WEIGHT))


def _best(group: Group, fields: dict[str, _Text]) -> tuple[float, Match] | None:
    best: tuple[float, Match] | None = None
    for alt in group.alts:
        for name, weight in _FIELDS:
            text = fields.get(name)
            if text is None or (best is not None and best[0] >= weight):
                continue  # no such text, or already found at least as well
            found = _alt_in(alt, text)
            if found is None:
                continue
            value = (APPROX if alt.approximate else EXACT) * weight
            if best is None or value > best[0]:
                best = (value, Match(group.text, alt.label, alt.kind, name, found))
    return best


def rank_one(plan: Plan, paper_id: int, title: str, abstract: str, engine_score: float,
             analyzer: Analyzer, authors: str = "") -> Ranked:
    """Where one paper stands; ``authors`` (names joined) is matched only when the query names a person."""
    fields = {"title": _Text(title, analyzer), "abstract": _Text(abstract, analyzer)}
    if authors:
        fields["authors"] = _Text(authors, analyzer)
    matches: list[Match] = []
    coverage = 0
    quality = 0.0
    required = set(map(id, plan.required))
    for group in plan.groups:
        best = _best(group, fields)
        counted = id(group) in required
        if best is not None:
            matches.append(best[1])
            quality += best[0] * (0.2 if group.optional else group.words)
            # A learnt phrase met as a unit (its words in a row, or its acronym) beats its words apart.
            quality += best[0] * (group.words - 1)
            coverage += group.words if counted else 0
            continue
        for part in group.parts:
            found = _best(part, fields)
            if found is not None:
                matches.append(found[1])
                quality += found[0]
                coverage += 1 if counted else 0
    signals = []
    # Adjacent query words found adjacent (proximity), and the whole query as a phrase.
    whole_in_title = len(plan.terms) < 2  # a title equal to a longer query holds it as a phrase
    if len(plan.terms) >= 2:
        for name, weight in (("title", TITLE_WEIGHT), ("abstract", ABSTRACT_WEIGHT)):
            text = fields[name]
            if text.run(plan.terms):
                quality += 2.0 * weight * len(plan.terms)
                signals.append(f"whole query as a phrase in the {name}")
                whole_in_title = whole_in_title or name == "title"
                continue
            if len(plan.terms) == 2:
                continue  # the one pair is the whole query, just found apart
            pairs = sum(1 for a, b in pairwise(plan.terms) if text.run((a, b)))
            if pairs:
                quality += 0.5 * weight * pairs
                signals.append(f"{pairs} adjacent pair{'s' if pairs > 1 else ''} in the {name}")
    if whole_in_title and plan.terms and len(title) < 400 and analyzer.terms(title) == plan.terms:
        quality += 10.0
        signals.append("the whole title")
    return Ranked(paper_id, coverage, plan.words, quality, engine_score, tuple(matches), tuple(signals))


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A paper found by a search, with why it is where it is."""

    paper: Paper
    ranked: Ranked

    def explain(self) -> dict[str, object]:
        r = self.ranked
        return {"words_matched": r.coverage, "words": r.words, "quality": round(r.quality, 3),
                "engine_score": round(r.engine_score, 4), "matches": [m.as_json() for m in r.matches],
                "signals": list(r.signals)}


def rerank(plan: Plan, rows: Iterable[tuple[int, str, str, float, str]], analyzer: Analyzer) -> list[Ranked]:
    """Candidates ``(id, title, abstract, engine score, authors)`` best first."""
    ranked = [rank_one(plan, *row[:4], analyzer, row[4]) for row in rows]
    ranked.sort(key=lambda r: (*r.key, r.paper_id))
    return ranked


__all__ = [
    "POOL",
    "Alt",
    "Analyzer",
    "Group",
    "Match",
    "Plan",
    "Ranked",
    "SearchHit",
    "approximable",
    "build_plan",
    "is_rare",
    "near_terms",
    "prefix_alt",
    "rank_one",
    "rerank",
]
