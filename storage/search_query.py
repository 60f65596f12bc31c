"""Turning whatever a user typed into Tantivy query parts: word tokens, phrases, acronym alternatives.

Only word tokens reach the index (Tantivy's own query parser raises on ordinary
text such as an unclosed quote or ``title:``). Quoted runs become phrases, a
learnt acronym and its long form become alternatives of each other, and every
alternative is analysed exactly as the index analyses titles and abstracts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import tantivy

from storage.search import MAX_QUERY_CHARS, MAX_TOKENS, Expansions
from storage.search_pairs import FIELD as PAIR_FIELD
from storage.search_pairs import Pairs
from storage.text import fold, phrase_words, words

if TYPE_CHECKING:
    from storage.search_rank import Alt, Group, Plan

_MAX_TERM_CHARS = 40


def make_analyzer() -> tantivy.TextAnalyzer:
    """The analyzer for titles, abstracts and query terms alike."""
    # Mirrors FTS5's "porter unicode61 remove_diacritics 2": split on non-alphanumerics,
    # fold case and accents, stem English.
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(_MAX_TERM_CHARS))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


@dataclass(frozen=True, slots=True)
class QueryGroup:
    """One unit a result must match: any of its alternatives, each a run of analysed terms."""

    alternatives: tuple[tuple[str, ...], ...]


def _segments(text: str) -> Iterator[tuple[bool, str]]:
    """(quoted, text) pieces; an unmatched quote is read as a space."""
    parts = text.split('"')
    if len(parts) % 2 == 0:  # odd number of quotes: the last one opens nothing
        parts[-2:] = [parts[-2] + " " + parts[-1]]
    for i, part in enumerate(parts):
        if part.strip():
            yield i % 2 == 1, part


class QueryBuilder:
    """Turns any text into QueryGroups using only word tokens and the index's analyzer."""

    def __init__(self, analyzer: tantivy.TextAnalyzer | None = None) -> None:
        self.analyzer = analyzer or make_analyzer()

    def terms(self, text: str) -> tuple[str, ...]:
        return tuple(self.analyzer.analyze(text))

    def groups(self, text: str, expansions: Expansions | None = None) -> list[QueryGroup]:
        out: list[QueryGroup] = []
        budget = MAX_TOKENS
        for quoted, segment in _segments(text[:MAX_QUERY_CHARS]):
            tokens = words(segment)[:budget]
            budget -= len(tokens)
            if not tokens:
                continue
            if quoted:
                self._add(out, [self._phrase_alt(tokens), *self._acronym_of(tokens, expansions)])
            else:
                self._unquoted(out, tokens, expansions)
            if budget <= 0:
                break
        return out

    def _add(self, out: list[QueryGroup], alternatives: Iterable[tuple[str, ...]]) -> None:
        kept = tuple(dict.fromkeys(a for a in alternatives if a))
        if kept:
            out.append(QueryGroup(kept))

    def _phrase_alt(self, tokens: Sequence[str]) -> tuple[str, ...]:
        return self.terms(" ".join(tokens))

    def _acronym_of(self, tokens: Sequence[str], expansions: Expansions | None) -> list[tuple[str, ...]]:
        if not expansions:
            return []
        acronym = expansions.by_phrase.get(" ".join(w for t in tokens for w in phrase_words(t)))
        return [self.terms(acronym)] if acronym else []

    def _unquoted(self, out: list[QueryGroup], tokens: list[str], expansions: Expansions | None) -> None:
        normal = [" ".join(phrase_words(t)) for t in tokens]
        i = 0
        while i < len(tokens):
            if expansions:
                # The longest run of tokens that spells a learnt phrase: it or its acronym.
                for n in range(min(6, len(tokens) - i), 1, -1):
                    acronym = expansions.by_phrase.get(" ".join(w for w in normal[i : i + n] if w))
                    if acronym:
                        self._add(out, [self._phrase_alt(tokens[i : i + n]), self.terms(acronym)])
                        i += n
                        break
                else:
                    self._token(out, tokens[i], expansions)
                    i += 1
                continue
            self._token(out, tokens[i], None)
            i += 1

    def _token(self, out: list[QueryGroup], token: str, expansions: Expansions | None) -> None:
        alternatives = [self.terms(token)]
        if expansions:
            key = fold(token)
            if key.endswith("s") and key[:-1] in expansions.by_acronym:
                key = key[:-1]
            phrase = expansions.by_acronym.get(key)
            if phrase:
                alternatives.append(self.terms(phrase))
                alternatives.append(self.terms(key))
        self._add(out, alternatives)


# -- query plans (storage.search_rank) as Tantivy queries ----------------------------------

TITLE_BOOST = 10.0
APPROX_BOOST = 0.3  # an approximate form counts for less than the word itself


def _alt_query(schema: tantivy.Schema, alt: Alt, field: str, pairs: Pairs | None) -> tantivy.Query:
    if alt.kind == "prefix":
        q = tantivy.Query.regex_query(schema, field, alt.terms[0] + ".*")
    elif len(alt.terms) == 1:
        q = tantivy.Query.term_query(schema, field, alt.terms[0])
    else:
        q = tantivy.Query.phrase_query(schema, field, list(alt.terms))
        held = pairs.of_terms(alt.terms, field) if pairs is not None else []
        if held:
            # The pairs' short posting lists lead; positions are read only where the phrase can be.
            # Scored zero, so papers and scores are the phrase query's own.
            must = tantivy.Occur.Must
            q = tantivy.Query.boolean_query([(must, q), *(
                (must, tantivy.Query.const_score_query(tantivy.Query.term_query(schema, PAIR_FIELD, t), 0.0))
                for t in held)])
    boost = (TITLE_BOOST if field == "title" else 1.0) * (APPROX_BOOST if alt.approximate else 1.0)
    return q if boost == 1.0 else tantivy.Query.boost_query(q, boost)


def _group_clauses(schema: tantivy.Schema, group: Group, pairs: Pairs | None) -> list[tantivy.Query]:
    return [_alt_query(schema, a, f, pairs) for a in group.alts if a.terms for f in ("title", "abstract")]


def plan_query(schema: tantivy.Schema, plan: Plan, *, any_group: bool = False, pairs: Pairs | None = None
               ) -> tantivy.Query | None:
    """Every required group (stop words optional), or with ``any_group`` any group.

    A learnt phrase matches as a unit or, when every group is required, by all of
    its own words apart; with ``any_group`` each of its words counts alone. With
    ``pairs`` (an index with the pair field), phrases of common words use it.
    """
    clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
    required = {id(g) for g in plan.required}
    should = tantivy.Occur.Should
    for group in plan.groups:
        alts = _group_clauses(schema, group, pairs)
        if group.parts and any_group:
            alts += [q for part in group.parts for q in _group_clauses(schema, part, pairs)]
        elif group.parts:
            together = [tantivy.Query.boolean_query([(should, q) for q in _group_clauses(schema, part, pairs)])
                        for part in group.parts]
            alts.append(tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in together]))
        if not alts:
            continue
        q = alts[0] if len(alts) == 1 else tantivy.Query.boolean_query([(should, a) for a in alts])
        must = not any_group and id(group) in required
        clauses.append((tantivy.Occur.Must if must else should, q))
    if not clauses:
        return None
    if len(clauses) == 1:
        return clauses[0][1]
    return tantivy.Query.boolean_query(clauses)


__all__ = ["QueryBuilder", "QueryGroup", "make_analyzer", "plan_query"]
