"""Finding where a listing's title ends and its author list begins, by evidence from the document.

A listing writes ``<Title><Author 1>, <Author 2> et al.`` with nothing between the
title and the first author. Every split point that leaves a sensible title and a
list of plausibly shaped names is a candidate; candidates are then scored with
what the rest of the document says (names seen unambiguously elsewhere, whether
the title's last word is a word the document uses, how names are shaped).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

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
_WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")


def _shape(text: str) -> str:
    """Letter-case shape: U for capitals, l for other letters, x for anything else."""
    return "".join("U" if c.isupper() else "l" if c.isalpha() else "x" for c in text)


def humps(token: str) -> list[str]:
    """Split a camel-cased token into its humps: "ByeongMoon" -> ["Byeong", "Moon"]."""
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
    return " ".join(name.split())


def name_key(name: str) -> str:
    return fold(normalise_name(name))


def strip_et_al(line: str) -> tuple[str, bool]:
    """Remove a trailing "et al." and say whether there was one."""
    m = _ET_AL_RE.search(line)
    if m and m.start() > 0:
        return line[: m.start()].rstrip(), True
    return line, False


def words_of(text: str) -> Iterable[str]:
    """Words of a text as the evidence index keeps them (whole and hyphen pieces)."""
    for w in _WORD_RE.findall(text):
        yield w
        if "-" in w:
            yield from w.split("-")


def _title_word(title: str) -> str:
    last = title.rsplit(None, 1)[-1] if title.split() else ""
    last = re.split(r"[-/]", last)[-1]
    return last.strip("\"'“”‘’()[]{}?!.,;:*")


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

    def add_name(self, name: str) -> None:
        tokens = normalise_name(name).split()
        if not tokens:
            return
        self.known_names.add(name_key(name))
        if len(tokens) > 1:
            self.given_tokens.add(fold(tokens[0]))
            self.surname_tokens.add(fold(tokens[-1]))

    def add_text(self, text: str) -> None:
        # A set of the raw words first: abstracts repeat words, and folding is the cost.
        raw = set(words_of(text))
        self.words.update(fold(w) for w in raw)
        self.lower_words.update(w for w in raw if w.islower())


@dataclass(frozen=True, slots=True)
class Split:
    """One way of reading a title/author line."""

    title: str
    authors: tuple[str, ...]
    truncated: bool


_LEADING_PARTICLE = re.compile(r"([a-z]+) ")
_PARTICLE_INITIALS = frozenset(p[0] for p in PARTICLES)


def _candidates(line: str) -> list[Split]:
    body, truncated = strip_et_al(line)
    segs = body.split(",")
    n = len(segs)
    out: list[Split] = []
    for k in range(1, n + 1):
        rest = [normalise_name(s) for s in segs[n - k + 1 :]]
        if rest and not is_name(rest[0]):
            break  # every larger k would need this segment to be a name too
        glued = segs[n - k]
        prefix = ",".join(segs[: n - k])
        # Only a capital, or a lower-case particle, glued to what precedes can start a name.
        for p in range(1, len(glued)):
            c = glued[p]
            if c.isspace() or glued[p - 1].isspace() or not (c.isupper() or c in _PARTICLE_INITIALS):
                continue
            if not c.isupper():
                # A first author may open with a particle: "...Modelde Silva".
                m = _LEADING_PARTICLE.match(glued, p)
                if not (m and m.group(1) in PARTICLES):
                    continue
            head = glued[:p]
            title = normalise_name((prefix + "," + head) if prefix else head)
            if not title or title[-1] in _BAD_TITLE_END or not any(ch.isalnum() for ch in title):
                continue
            first = normalise_name(glued[p:])
            if not is_name(first):
                continue
            out.append(Split(title, (first, *rest), truncated))
    return out


def learn_from_line(ev: Evidence, line: str) -> None:
    """Add to the evidence what every reading of a title/author line agrees on.

    That is the trailing authors all readings share and the title words before the
    last one (which may be glued to a name: "SSLJae-Hun" must not teach "SSLJae").
    """
    cands = _candidates(line)
    if not cands:
        return
    if len(cands) == 1:
        sure = list(cands[0].authors)
    else:
        common = min(len(c.authors) for c in cands) - 1
        tails = {c.authors[len(c.authors) - common :] if common else () for c in cands}
        sure = list(next(iter(tails))) if len(tails) == 1 else []
    for name in sure:
        ev.add_name(name)
    shortest = min((c.title for c in cands), key=len)
    safe = shortest.rsplit(None, 1)[0] if " " in shortest else ""
    if all(c.title.startswith(safe) for c in cands):
        ev.add_text(safe)


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


def _score(split: Split, ev: Evidence) -> float:
    score = sum(_name_score(a, ev, i == 0) for i, a in enumerate(split.authors))
    # A plausible name where a name is expected is weak evidence for the reading...
    score += 0.5 * len(split.authors)
    # ...and a title whose comma-separated tail reads like a list of names ("...,
    # Doyoung Yoon, Byeong") has probably swallowed the start of the author list.
    score -= 2.0 * sum(is_name(seg.strip()) for seg in split.title.split(",")[1:])
    last = split.title.rsplit(None, 1)[-1]
    if re.search(r"[?!)\]”\"][^\W\d_]", last):
        # Closing punctuation inside a word ("Matters?Byeong") ends a title, not a word.
        score -= 3.0
    word = _title_word(split.title)
    if word and fold(word) in ev.words:
        score += 4.0
    elif _is_camel(word):
        score -= 1.0
    return score


def split_title_authors(line: str, ev: Evidence) -> Split | None:
    """The best reading of a title/author line, or None when no reading is plausible."""
    cands = _candidates(line)
    if not cands:
        return None
    scored = sorted(
        ((_score(c, ev), -len(c.authors), len(c.title), c) for c in cands),
        key=lambda t: (t[0], t[1], t[2]),
        reverse=True,
    )
    if len(scored) > 1:
        log.debug("split %r: %s", line[:60], [(s, c.title[-15:], c.authors[0]) for s, _, _, c in scored])
    return scored[0][3]
