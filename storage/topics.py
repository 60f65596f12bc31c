"""Learning topics from the corpus: acronym definitions in abstracts and recurring title phrases."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import filterfalse

from storage.text import fold, is_stopword, phrase_words, singular, slugify

# "(SSL)", "(CNNs)", "(OoDD)", "(3D-GS)": two to ten characters, at least two capitals.
_PAREN = re.compile(r"\(([A-Za-z0-9][A-Za-z0-9\-]{1,9})\)")
_WORDISH = re.compile(r"[^\s()\[\]{},;:]+")
# _WORDISH's separators as spaces, so str.split finds its tokens at C speed.
_WORD_BREAKS = str.maketrans(dict.fromkeys("()[]{},;:", " "))
_MIN_PHRASE_PAPERS = 3


@dataclass(frozen=True, slots=True)
class AcronymDefinition:
    acronym: str  # as written, plural "s" removed: "CNN"
    phrase: str  # folded, singular last word: "convolutional neural network"


def _acronym_core(token: str) -> str | None:
    """The acronym a parenthesised token writes, or None if it is not one."""
    core = token[:-1] if token.endswith("s") and sum(c.isupper() for c in token[:-1]) >= 2 else token
    letters = [c for c in core if c.isalpha()]
    if sum(c.isupper() for c in core) < 2 or len(letters) < 2:
        return None
    if core.isdigit():
        return None
    return core


def _match_long_form(short: str, words: list[str]) -> int | None:
    """How many trailing words spell out ``short``; None if they do not.

    Reads the short form's letters right to left against the preceding text,
    each letter matching inside a word and the first letter at a word start —
    so "out-of-distribution detection" yields "OoDD" and "self-supervised
    learning" yields "SSL", whatever the capitalisation.
    """
    letters = [c.lower() for c in short if c.isalnum()]
    text = " ".join(words).lower()
    starts = {0} | {i + 1 for i, c in enumerate(text) if c in " -"}
    si = len(letters) - 1
    ti = len(text) - 1
    while si >= 0:
        ch = letters[si]
        while ti >= 0 and (text[ti] != ch or (si == 0 and ti not in starts)):
            ti -= 1
        if ti < 0:
            return None
        si -= 1
        ti -= 1
    begin = ti + 1
    used = text[begin:]
    n_words = len(used.split(" "))
    if n_words > min(len(letters) + 5, len(letters) * 2) or n_words < 1:
        return None
    # The long form must start at a word boundary and its first word must carry a letter.
    if begin not in starts:
        return None
    return n_words


def find_definitions(text: str) -> list[AcronymDefinition]:
    """Every "long form (ACRONYM)" an abstract writes."""
    found: list[AcronymDefinition] = []
    for match in _PAREN.finditer(text):
        short = _acronym_core(match.group(1))
        if short is None:
            continue
        before = _WORDISH.findall(text[max(0, match.start() - 200) : match.start()])
        window = before[-(len(short) + 5) :]
        n = _match_long_form(short, window)
        if n is None:
            continue
        long_words = window[-n:]
        if is_stopword(long_words[0]):
            continue
        phrase = " ".join(phrase_words(" ".join(long_words)))
        if phrase and fold(phrase) != fold(short):
            found.append(AcronymDefinition(short, phrase))
    return found


def title_phrases(title: str, words: list[str] | None = None) -> set[str]:
    """Candidate keyphrases of a title: 2-3 word runs that neither start nor end with a stop word.

    ``words``: the title's ``phrase_words`` when the caller has them already.
    """
    if words is None:
        words = phrase_words(title)
    # Each word is judged once, not once per run it stands in (a bulk ingest reads every title).
    edge = [not (is_stopword(w) or w.isdigit() or len(w) < 2) for w in words]  # may open or close a run
    inner = [not (w.isdigit() or len(w) < 2) for w in words]  # may stand inside one
    out: set[str] = set()
    for i in range(len(words) - 1):
        if edge[i] and edge[i + 1]:
            out.add(f"{words[i]} {words[i + 1]}")
        if i + 2 < len(words) and edge[i] and inner[i + 1] and edge[i + 2]:
            out.add(f"{words[i]} {words[i + 1]} {words[i + 2]}")
    return out


def phrase_hash(phrase: str) -> int:
    """The key a title phrase is counted under in phrase_counts: 48 bits of its BLAKE2b digest, unsigned.

    A rowid is stored as a varint: below 2**49 it takes 7 bytes, a signed 64-bit one 9
    (migration 0010 carried the older 64-bit keys over by their top 48 bits, as here).
    """
    return int.from_bytes(hashlib.blake2b(phrase.encode(), digest_size=8).digest(), "little") >> 16


_STRIP = ".!?\"'"


@dataclass(slots=True)
class TopicIndex:
    """Every topic's phrase and acronym, for linking a paper by set operations over its words."""

    phrases: dict[str, int]  # folded phrase -> topic id
    acronyms: dict[str, int]  # acronym as written (case kept) -> topic id
    # The highest topic id this index has taken: newer rows are another process's to catch up on.
    newest: int = 0
    # Built lazily and again whenever phrases were added: one-word phrases, two-word ones, and
    # the longer ones by their first three words, each found from where its first word stands.
    _looks: _Lookups | None = None
    _size: int = -1

    def take(self, rows: Iterable[Sequence]) -> None:
        """Add topics rows (id, kind, name, expansion); an acronym's expansion counts as a phrase."""
        if self._looks is None or self._size != len(self.phrases):
            self._take_unbuilt(rows)
            return
        for topic_id, kind, name, expansion in rows:
            if kind == "acronym":
                self.acronyms[name] = topic_id
                if expansion:
                    self.add_phrase(expansion, topic_id, replace=False)
            elif kind == "phrase":
                self.add_phrase(name, topic_id)
            self.newest = max(self.newest, topic_id)

    def _take_unbuilt(self, rows: Iterable[Sequence]) -> None:
        """``take`` while the look-ups are not built: add_phrase would only set the phrase.

        A store opened at a million papers takes its 270,000 topics in one go (a poll's
        worker process does, every poll): one loop with no call per row.
        """
        phrases, acronyms, newest = self.phrases, self.acronyms, self.newest
        for topic_id, kind, name, expansion in rows:
            if kind == "acronym":
                acronyms[name] = topic_id
                if expansion and expansion not in phrases:  # add_phrase(..., replace=False)
                    phrases[expansion] = topic_id
            elif kind == "phrase":
                phrases[name] = topic_id
            newest = max(newest, topic_id)
        self.newest = newest

    def warm(self) -> None:
        """Build the look-ups now, not at the first text that needs them."""
        self._lookup()

    def _lookup(self) -> _Lookups:
        if self._looks is None or self._size != len(self.phrases):
            self._looks, self._size = _Lookups.built(self.phrases), len(self.phrases)
        return self._looks

    def add_phrase(self, phrase: str, topic_id: int, *, replace: bool = True) -> None:
        """Teach one phrase, keeping the built look-ups in step instead of rebuilding them.

        An ingest at a million papers learns hundreds of phrases among hundreds of
        thousands: rebuilding the look-ups for them took about a second a batch.
        ``replace=False`` keeps a phrase already taught (an acronym's expansion).
        """
        if not replace and phrase in self.phrases:
            return
        stale = self._size != len(self.phrases)
        replaced = phrase in self.phrases
        self.phrases[phrase] = topic_id
        looks = self._looks
        if stale or looks is None:
            return  # built from self.phrases when first needed
        if replaced:
            looks.remove(phrase)
        looks.place(phrase, topic_id)
        self._size = len(self.phrases)

    def topics_for(self, text: str) -> set[int]:
        return self.topics_in(phrase_words(text) if self.phrases else [], text)

    def topics_in(self, words: list[str], text: str) -> set[int]:
        """Topics named by a text whose ``phrase_words`` are ``words`` (computed once by the caller)."""
        hits: set[int] = set()
        if self.phrases and words:
            self._lookup().named_in(words, hits)
        if self.acronyms:
            acronyms = self.acronyms
            # Acronyms carry capitals: the all-lowercase words (nine in ten) are dropped in C.
            for token in set(filterfalse(str.islower, text.translate(_WORD_BREAKS).split())):
                token = token.strip(_STRIP)
                found = acronyms.get(token)
                if found is None and token.endswith("s"):
                    found = acronyms.get(token[:-1])
                if found is not None:
                    hits.add(found)
        return hits


@dataclass(slots=True)
class _Lookups:
    """A TopicIndex's phrases by length: a word, a pair of words, or the first three words of a longer one."""

    singles: dict[str, int]
    pairs: dict[tuple[str, str], int]
    # Three-word phrases carry "" (the key says it all); longer ones their padded text to find.
    longer: dict[tuple[str, str, str], list[tuple[str, int]]]
    firsts: set[str]  # every phrase's first word (a phrase taught again may leave one behind)
    # One string per distinct word: at a million papers the keys' 600,000 words are some
    # 60,000 distinct ones, and a string apiece cost about 30 MB in every ingesting process.
    words: dict[str, str] = field(default_factory=dict)

    @classmethod
    def built(cls, phrases: dict[str, int]) -> _Lookups:
        """The look-ups of every phrase: ``place`` for each, in one loop with no call per phrase.

        Built afresh in each process that stores papers: at a million papers, 270,000
        phrases, and every poll's worker process builds them again.
        """
        singles: dict[str, int] = {}
        pairs: dict[tuple[str, str], int] = {}
        longer: dict[tuple[str, str, str], list[tuple[str, int]]] = {}
        firsts: set[str] = set()
        words: dict[str, str] = {}
        intern = words.setdefault
        for phrase, topic_id in phrases.items():
            parts = phrase.split(" ")
            first = intern(parts[0], parts[0])
            firsts.add(first)
            n = len(parts)
            if n == 1:
                singles[phrase] = topic_id
            elif n == 2:
                pairs[(first, intern(parts[1], parts[1]))] = topic_id
            else:
                key = (first, intern(parts[1], parts[1]), intern(parts[2], parts[2]))
                for part in parts[3:]:
                    intern(part, part)
                entry = ("" if n == 3 else f" {phrase} ", topic_id)
                found = longer.get(key)
                if found is None:
                    longer[key] = [entry]
                else:
                    found.append(entry)
        return cls(singles, pairs, longer, firsts, words)

    def place(self, phrase: str, topic_id: int) -> None:
        words = self.words
        parts = [words.setdefault(part, part) for part in phrase.split(" ")]
        self.firsts.add(parts[0])
        if len(parts) == 1:
            self.singles[phrase] = topic_id
        elif len(parts) == 2:
            self.pairs[(parts[0], parts[1])] = topic_id
        else:
            entry = ("" if len(parts) == 3 else f" {phrase} ", topic_id)
            self.longer.setdefault((parts[0], parts[1], parts[2]), []).append(entry)

    def remove(self, phrase: str) -> None:
        parts = phrase.split(" ")
        if len(parts) == 1:
            self.singles.pop(phrase, None)
        elif len(parts) == 2:
            self.pairs.pop((parts[0], parts[1]), None)
        else:
            key = (parts[0], parts[1], parts[2])
            padded = "" if len(parts) == 3 else f" {phrase} "
            self.longer[key] = [e for e in self.longer.get(key, []) if e[0] != padded]

    def named_in(self, words: list[str], hits: set[int]) -> None:
        """Add the topics ``words`` name: only where a phrase's first word stands are the next words read.

        Quicker than meeting the text's word, pair and triple sets with the phrases' (0.19
        against 0.26 s for 3,000 abstracts and 270,000 phrases; 0.05 against 0.09 s for 200).
        """
        singles, pairs, longer, firsts = self.singles, self.pairs, self.longer, self.firsts
        n = len(words)
        for i in [i for i, w in enumerate(words) if w in firsts]:
            w = words[i]
            if w in singles:
                hits.add(singles[w])
            if i + 1 < n:
                found = pairs.get((w, words[i + 1]))
                if found is not None:
                    hits.add(found)
                if i + 2 < n and longer:
                    entries = longer.get((w, words[i + 1], words[i + 2]))
                    if entries:
                        self._longer_in(entries, words, hits)

    @staticmethod
    def _longer_in(entries: list[tuple[str, int]], words: list[str], hits: set[int]) -> None:
        joined = ""
        for padded, topic_id in entries:
            if not padded:  # three words: the key is the phrase
                hits.add(topic_id)
                continue
            joined = joined or f" {' '.join(words)} "
            if padded in joined:
                hits.add(topic_id)


def acronym_slug(acronym: str) -> str:
    return slugify(acronym)


def phrase_slug(phrase: str) -> str:
    return slugify(phrase)


def min_phrase_papers() -> int:
    return _MIN_PHRASE_PAPERS


def expand_words(words: Iterable[str]) -> str:
    return " ".join(singular(w) for w in words)
