"""Finding where a listing's title ends and its author list begins, by evidence from the document.

A listing writes ``<Title><Author 1>, <Author 2> et al.`` with nothing between the
title and the first author. Every split point that leaves a sensible title and a
list of plausibly shaped names is a candidate; candidates are then scored with
what the rest of the document says (names seen unambiguously elsewhere, whether
the title's last word is a word the document uses, how names are shaped).
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from feeds.sources._listing_words import document_words
from storage.text import printable_ascii

log = logging.getLogger(__name__)

# Lower-case name particles that may precede a surname ("van der Berg", "bin Talal").
PARTICLES = frozenset(
    {
        "van", "von", "de", "der", "den", "del", "della", "da", "das", "di", "do",
        "dos", "du", "la", "le", "bin", "binti", "ibn", "al", "el", "ter", "ten", "zu",
    }
)  # fmt: skip
SUFFIXES = frozenset({"Jr.", "Jr", "Sr.", "Sr", "II", "III", "IV"})
_MAX_NAME_TOKENS = 6

# A trailing "et al." (or an ellipsis) means the source cut the list short.
_ET_AL_RE = re.compile(r"(?:\s*,)?\s*(?:\bet\.?\s+al\b\.?|…|\.\.\.)\s*$")
_ET_AL_ENDINGS = ("al", "al.", "…", "...")
_ET_AL_TAIL = 64
# A title may not end in a character that joins it to what follows.
_BAD_TITLE_END = frozenset("-:,;(/&[{–—'\"“‘+")
_APOSTROPHES = "'’"

# One romanised East-Asian syllable (Korean, Chinese): camel-cased given names such
# as "ByeongMoon" or "SeokHyun" are built from these, title words like "ImageNet" are not.
_SYLLABLE_RE = re.compile(
    r"(?:[bcdfghjklmnpqrstwxz]|ch|sh|zh|kk|tt|pp|ss|jj)?"
    r"[wy]?(?:iao|uai|yeo|eo|eu|ae|oe|ui|oo|ai|ao|ei|ia|ie|iu|ou|ua|uo|ue|a|e|i|o|u)"
    r"(?:ng|n|m|k|l|p|t|r|h)?"
)


def _shape(text: str) -> str:
    """Letter-case shape: U for capitals, l for other letters, x for anything else."""
    return "".join("U" if c.isupper() else "l" if c.isalpha() else "x" for c in text)


def humps(token: str) -> list[str]:
    """Split a camel-cased token into its humps: "ByeongMoon" -> ["Byeong", "Moon"]."""
    if token[1:].islower():
        # No capital after the first letter ("Byeong", "smith"), so no hump starts:
        # most name tokens, answered without the walk below.
        return [token]
    parts: list[str] = []
    current = ""
    for i, c in enumerate(token):
        if (
            c.isupper()
            and current
            and (
                current[-1].islower()
                or current[-1].isdigit()
                or (i + 1 < len(token) and token[i + 1].islower() and current[-1].isupper())
            )
        ):
            parts.append(current)
            current = c
        else:
            current += c
    if current:
        parts.append(current)
    return parts


def fold(text: str) -> str:
    """ASCII-fold and lower-case, for comparing names and words."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.replace("ł", "l").replace("Ł", "L").replace("ø", "o").casefold()


def is_syllabic(hump: str) -> bool:
    return _SYLLABLE_RE.fullmatch(fold(hump)) is not None


def _piece_ok(piece: str, first: bool) -> bool:
    if not piece:
        return False
    shape = _shape(piece)
    if "x" in shape:
        return False
    if shape[0] == "U":
        # Capitalised humps ("Jung", "McDonald", "OpenAI") or all capitals ("IBM").
        return re.fullmatch(r"(?:Ul+)+U*|U+", shape) is not None
    # Only a later part of a hyphenated name may be lower-case ("Jae-hun").
    return not first and shape == "l" * len(shape)


@functools.lru_cache(maxsize=65_536)
def token_kind(token: str) -> str | None:
    """Classify one name token: initial, particle, suffix, word, or None when no name has it."""
    if token in SUFFIXES:
        return "suffix"
    if token in PARTICLES:
        return "particle"
    # Initials, possibly hyphenated or run together: "J", "J.", "J.-P.", "J.P."
    marks = "".join("U" if c.isupper() else c if c in ".-" else "l" for c in token)
    if re.fullmatch(r"U\.?|U\.(?:-?U\.)+", marks):
        return "initial"
    if token.endswith("."):
        return None
    for i, hyphen_part in enumerate(token.split("-")):
        pieces = re.split(f"[{_APOSTROPHES}]", hyphen_part)
        if len(pieces) > 2:
            return None
        for j, piece in enumerate(pieces):
            # "O'Neil", "D'Angelo": one letter before the apostrophe is fine.
            if j == 0 and len(pieces) == 2 and len(piece) == 1 and piece.isupper():
                continue
            if not _piece_ok(piece, first=(i == 0 and j == 0)):
                return None
    return "word"


@functools.lru_cache(maxsize=65_536)
def is_name(text: str) -> bool:
    """Whether ``text`` is shaped like one author's display name (or an organisation)."""
    tokens = text.split()
    if not 1 <= len(tokens) <= _MAX_NAME_TOKENS:
        return False
    kinds = [token_kind(t) for t in tokens]
    if None in kinds:
        return False
    if kinds[0] == "suffix" or kinds[-1] == "particle":
        return False
    if "word" not in kinds:
        return False
    # A suffix only closes a name.
    return all(k != "suffix" for k in kinds[:-1])


def normalise_name(name: str) -> str:
    """Every run of whitespace one space, none at the ends."""
    # Printable text holds no whitespace but the space (str.split also cuts at
    # controls, line and paragraph separators and other spaces, none printable): with
    # no two spaces in a row, stripping is all there is to do, without a list of tokens.
    if "  " not in name and name.isprintable():
        return name.strip(" ")
    return " ".join(name.split())


def name_key(name: str) -> str:
    return fold(normalise_name(name))


def strip_et_al(line: str) -> tuple[str, bool]:
    """Remove a trailing "et al." and say whether there was one."""
    # The pattern ends in one of these and then only spaces (\s is str.isspace), so
    # most lines are told apart without scanning them.
    if not line.rstrip().endswith(_ET_AL_ENDINGS):
        return line, False
    # The match is anchored at the end: search only the tail, unless the match may
    # reach further back than the tail (a long run of spaces and commas).
    pos = max(0, len(line) - _ET_AL_TAIL)
    m = _ET_AL_RE.search(line, pos)
    if pos and m is not None and m.start() == pos:
        m = _ET_AL_RE.search(line)
    if m and m.start() > 0:
        return line[: m.start()].rstrip(), True
    return line, False


def _is_camel(word: str) -> bool:
    """More than one hump: "ImageNet", "DataJung", "SSLOpen" (but not the plural "LVLMs")."""
    if re.fullmatch(r"[A-Z0-9]+s", word):
        return False
    return len(humps(word)) > 1 and any(c.islower() for c in word)


@dataclass(slots=True)
class Evidence:
    """What the whole document says, used to score split candidates."""

    known_names: set[str] = field(default_factory=set)  # name_key of names seen for sure
    given_tokens: set[str] = field(default_factory=set)  # folded first tokens of those
    surname_tokens: set[str] = field(default_factory=set)
    words: set[str] = field(default_factory=set)  # folded words used anywhere
    lower_words: set[str] = field(default_factory=set)  # words seen written in lower case
    # Scores depend only on the evidence, so each distinct name and title ending is
    # scored once per document; any change to the evidence empties these.
    name_scores: dict[tuple[str, bool], float] = field(default_factory=dict)
    title_scores: dict[str, float] = field(default_factory=dict)

    def add_name(self, name: str) -> None:
        # A document names its authors over and over: each spelling is read once.
        if name in self.seen_names:
            return
        self.seen_names.add(name)
        tokens = normalise_name(name).split()
        if not tokens:
            return
        self.name_scores.clear()
        self.known_names.add(name_key(name))
        if len(tokens) > 1:
            self.given_tokens.add(fold(tokens[0]))
            self.surname_tokens.add(fold(tokens[-1]))

    seen_raw: set[str] = field(default_factory=set)  # raw words already folded into the above
    seen_names: set[str] = field(default_factory=set)  # names already given to add_name

    def add_text(self, text: str) -> None:
        self.add_texts((text,))

    def add_texts(self, texts: Iterable[str]) -> None:
        """Add the words of many texts at once (the same sets as add_text on each)."""
        raw = document_words(texts)
        new = raw - self.seen_raw
        if new:
            self.name_scores.clear()
            self.title_scores.clear()
            self.seen_raw |= new
            self.words.update(fold(w) for w in new)
            self.lower_words.update(w for w in new if w.islower())


@dataclass(frozen=True, slots=True)
class Split:
    """One way of reading a title/author line."""

    title: str
    authors: tuple[str, ...]
    truncated: bool


_LEADING_PARTICLE = re.compile(r"([a-z]+) ")
_PARTICLE_INITIALS = frozenset(p[0] for p in PARTICLES)
# No author's display name is longer than this: split points further from the end of
# a segment are not tried, which keeps the search linear in the line's length.
MAX_NAME_CHARS = 128
_SPACE_RE = re.compile(r"\s")
_ALNUM_RE = re.compile(r"[^\W_]")


@dataclass(slots=True)
class Candidates:
    """Every plausible split point of one title/author line, kept as offsets, not copies.

    A candidate is ``(k, p, end, first)``: the author list takes the last ``k``
    comma-separated segments, the first author starts at offset ``p`` of the
    segment that is glued to the title, the title is ``body[:end]`` and ``first``
    is the first author. Holding offsets instead of a title and an author tuple per
    candidate keeps a line with thousands of commas linear rather than quadratic.
    """

    body: str
    segs: list[str]
    truncated: bool
    rest_rev: list[str]  # the normalised segments after the glued one, last first
    items: list[tuple[int, int, int, str]]

    def split(self, item: tuple[int, int, int, str]) -> Split:
        k, _, end, first = item
        rest = tuple(reversed(self.rest_rev[: k - 1]))
        return Split(normalise_name(self.body[:end]), (first, *rest), self.truncated)

    def last_title_token(self, end: int) -> str:
        """The title's last whitespace-separated token, without building the title."""
        start = 0
        # Titles rarely end in a long token: look back a little before searching it all.
        window = self.body[max(0, end - 256) : end]
        if printable_ascii(window):
            # Printable ASCII has one whitespace character, the space.
            found = [window.rfind(" ")] if " " in window else []
        else:
            found = [m.start() for m in _SPACE_RE.finditer(window)]
        if found:
            start = max(0, end - 256) + found[-1] + 1
        elif end > 256:
            head = self.body[:end]
            found = [m.start() for m in _SPACE_RE.finditer(head)]
            start = found[-1] + 1 if found else 0
        return self.body[start:end]


# Where a name may start in ASCII text: a capital, or a particle running up to a space
# ("...Modelde Silva"), right after a character that is not a space. Two passes that
# each open with a plain character scan in C: capitals, and the spaces that end a
# particle glued to the text before it ("del " ends both "del" and "el"), instead of
# trying every particle at every offset (4 us a segment, now under 2.5).
_CAPITAL_RE = re.compile(r"[A-Z](?<=\S.)")
_PARTICLE_WIDTHS = tuple(sorted({len(p) for p in PARTICLES}))
_PARTICLE_END_RE = re.compile(
    " (?:"
    + "|".join(
        "(?<=\\S(?:" + "|".join(sorted(p for p in PARTICLES if len(p) == width)) + ") )"
        for width in _PARTICLE_WIDTHS
    )
    + ")"
)


def _name_window(glued: str, lo: int) -> int:
    """``lo``, or past it where a name would need more tokens than any name has.

    A point p with ``_MAX_NAME_TOKENS`` space-separated tokens after its own is never a
    name (str.split finds at least those tokens), so the scan starts at the token
    before the last ``_MAX_NAME_TOKENS``: a long title is not searched for capitals.
    """
    parts = glued.rsplit(" ", _MAX_NAME_TOKENS)
    if len(parts) > _MAX_NAME_TOKENS and all(parts[1:]):
        return max(lo, len(parts[0]))
    return lo


def _split_points(glued: str, lo: int) -> list[int]:
    """Offsets from ``lo`` on at which a name glued to the text before it may start.

    Offsets with too many tokens after them to be a name may be left out (_name_window).
    """
    lo = _name_window(glued, lo)
    if glued.isascii():
        points = [m.start() for m in _CAPITAL_RE.finditer(glued, lo)]
        ends = [m.start() for m in _PARTICLE_END_RE.finditer(glued, lo)]
        if ends:
            for end in ends:
                for width in _PARTICLE_WIDTHS:
                    p = end - width
                    if p >= lo and glued[p:end] in PARTICLES and not glued[p - 1].isspace():
                        points.append(p)
            points.sort()
        return points
    points = []
    for p in range(lo, len(glued)):
        c = glued[p]
        if c.isspace() or glued[p - 1].isspace() or not (c.isupper() or c in _PARTICLE_INITIALS):
            continue
        if not c.isupper():
            # A first author may open with a particle: "...Modelde Silva".
            m = _LEADING_PARTICLE.match(glued, p)
            if not (m and m.group(1) in PARTICLES):
                continue
        points.append(p)
    return points


def _candidates(line: str) -> Candidates:
    body, truncated = strip_et_al(line)
    segs = body.split(",")
    n = len(segs)
    starts = [0] * n
    for i in range(1, n):
        starts[i] = starts[i - 1] + len(segs[i - 1]) + 1
    if body[:1].isalnum():
        first_alnum = 0
    else:
        m = _ALNUM_RE.search(body)  # [^\W_] is exactly str.isalnum
        first_alnum = m.start() if m else len(body)
    rest_rev: list[str] = []
    items: list[tuple[int, int, int, str]] = []
    for k in range(1, n + 1):
        g = n - k
        if k > 1:
            name = normalise_name(segs[g + 1])
            if not is_name(name):
                break  # every larger k would need this segment to be a name too
            rest_rev.append(name)
        glued = segs[g]
        for p in _split_points(glued, max(1, len(glued) - MAX_NAME_CHARS)):
            end = starts[g] + p  # the title is body[:end], whatever segments it spans
            if body[end - 1] in _BAD_TITLE_END or end <= first_alnum:
                continue
            first = normalise_name(glued[p:])
            if not is_name(first):
                continue
            items.append((k, p, end, first))
    return Candidates(body, segs, truncated, rest_rev, items)


def learn_from_line(ev: Evidence, line: str | Candidates) -> str:
    """Add to the evidence the trailing authors every reading of a title/author line shares.

    Returns the title words before the last one, which every reading also agrees on
    (the last may be glued to a name: "SSLJae-Hun" must not teach "SSLJae"), for the
    caller to pass to Evidence.add_texts with the rest of the document's text.
    """
    cands = line if isinstance(line, Candidates) else _candidates(line)
    if not cands.items:
        return ""
    if len(cands.items) == 1:
        k, _, _, first = cands.items[0]
        sure = [first, *reversed(cands.rest_rev[: k - 1])]
    else:
        # Every reading ends in the same normalised segments: all share the last
        # (fewest authors - 1) of them.
        common = min(item[0] for item in cands.items) - 1
        sure = list(reversed(cands.rest_rev[:common]))
    for name in sure:
        ev.add_name(name)
    # Titles are prefixes of one another, so the shortest minus its last word is
    # a title prefix every reading agrees on.
    shortest = normalise_name(cands.body[: min(item[2] for item in cands.items)])
    return shortest.rsplit(None, 1)[0] if " " in shortest else ""


def _name_score(name: str, ev: Evidence, first: bool) -> float:
    if name_key(name) in ev.known_names:
        return 10.0
    tokens = name.split()
    score = 0.0
    words = [t for t in tokens if token_kind(t) == "word"]
    if len(tokens) > 1 and fold(tokens[0]) in ev.given_tokens:
        score += 3.0
    if len(tokens) > 1 and fold(tokens[-1]) in ev.surname_tokens:
        score += 1.0
    if len(tokens) == 1 and first:
        score -= 1.0  # a mononym or an organisation is possible but rarer
    score -= max(0, len(tokens) - 4)
    for t in words:
        # A lone camel-cased token is an organisation ("OpenAI", "DeepMind"), not a
        # given name, so syllables say nothing about it.
        for part in t.split("-") if len(tokens) > 1 else ():
            hs = humps(part)
            if len(hs) > 1 and any(c.islower() for c in part):
                score -= 0.5 if all(is_syllabic(h) for h in hs) else 2.0
        if t in ev.lower_words or t.lower() in ev.lower_words:
            score -= 1.5  # prose uses it as an ordinary word
    return score


def _title_terms(last: str, ev: Evidence) -> float:
    """What the title's last token says about a reading."""
    score = 0.0
    if re.search(r"[?!)\]”\"][^\W\d_]", last):
        # Closing punctuation inside a word ("Matters?Byeong") ends a title, not a word.
        score -= 3.0
    word = re.split(r"[-/]", last)[-1].strip("\"'“”‘’()[]{}?!.,;:*")
    if word and fold(word) in ev.words:
        score += 4.0
    elif _is_camel(word[:MAX_NAME_CHARS]):
        score -= 1.0
    return score


def _score(split: Split, ev: Evidence) -> float:
    """The score of one materialised reading (the same sum choose() computes by offsets)."""
    score = sum(_name_score(a, ev, i == 0) for i, a in enumerate(split.authors))
    # A plausible name where a name is expected is weak evidence for the reading...
    score += 0.5 * len(split.authors)
    # ...and a title whose comma-separated tail reads like a list of names ("...,
    # Doyoung Yoon, Byeong") has probably swallowed the start of the author list.
    score -= 2.0 * sum(is_name(seg.strip()) for seg in split.title.split(",")[1:])
    last = split.title.rsplit(None, 1)[-1]
    return score + _title_terms(last, ev)


def choose(cands: Candidates, ev: Evidence) -> Split | None:
    """The best reading among the candidates, scored by offsets in linear time.

    The score of a reading is the sum of its authors' name scores, half a point per
    author, minus two per title segment after the first that reads as a name, plus
    what the title's last token says. Ties go to fewer authors, then the longer title.
    """
    if not cands.items:
        return None
    if len(cands.items) == 1:
        return cands.split(cands.items[0])
    max_k = max(item[0] for item in cands.items)
    rest_score = [0.0]  # rest_score[j]: name scores of the last j segments
    names = ev.name_scores
    titles = ev.title_scores
    for name in cands.rest_rev[: max_k - 1]:
        score = names.get((name, False))
        if score is None:
            score = names[name, False] = _name_score(name, ev, False)
        rest_score.append(rest_score[-1] + score)
    segs = cands.segs
    n = len(segs)
    # named[i]: how many of segs[1..i] read as names (title segments after the first).
    top = n - min(item[0] for item in cands.items)
    named = [0] * max(1, top)
    for i in range(1, top):
        named[i] = named[i - 1] + is_name(segs[i])
    best: tuple[float, int, int] | None = None
    best_item = cands.items[0]
    for item in cands.items:
        k, p, end, first = item
        g = n - k
        name_score = names.get((first, True))
        if name_score is None:
            name_score = names[first, True] = _name_score(first, ev, True)
        score = name_score + rest_score[k - 1] + 0.5 * k
        if g >= 1:
            score -= 2.0 * (named[g - 1] + is_name(segs[g][:p]))
        last = cands.last_title_token(end)
        title_score = titles.get(last)
        if title_score is None:
            title_score = titles[last] = _title_terms(last, ev)
        score += title_score
        key = (score, -k, end)
        if best is None or key > best:
            best, best_item = key, item
    return cands.split(best_item)


def split_title_authors(line: str | Candidates, ev: Evidence) -> Split | None:
    """The best reading of a title/author line, or None when no reading is plausible."""
    cands = line if isinstance(line, Candidates) else _candidates(line)
    return choose(cands, ev)


def candidates(line: str) -> Candidates:
    """The split candidates of one line, to share between learning and choosing."""
    return _candidates(line)
