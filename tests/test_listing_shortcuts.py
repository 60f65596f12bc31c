"""The listing parser's shortcuts give the same answers as the plain definitions they replace.

Each fast path in feeds/sources/_listing_names.py and listing.py (words read from
distinct chunks of the whole document, the "et al." tail check, the last title
token by rfind, cleaning printable ASCII without a regex, the split points found
by two character scans and only where a name fits, a token with no capital
after its first letter taken as one hump) is compared, on
generated text full of the characters that make them hard, with the
straightforward reading it stands for.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.sources import _listing_names as names
from feeds.sources._listing_words import WORD_RE
from feeds.sources.listing import _CONTROL_RE, _INVISIBLE_RE, _SPACES_RE, _clean, _split_lines

# Letters of several scripts and cases, digits, the word joiners, spaces of many
# kinds, controls, invisible characters, combining marks and lone surrogates.
PIECES = st.sampled_from(
    [
        *"aBz09_'’-. ,;…\t\n\r\x0b\x0c\x1c\x85\xa0\u2003\u3000\u200b\u00ad\u0301",
        *("é", "ß", "İ", "Ł", "ø", "²", "ǅ", "㈱", "\ud800", "et", " al", "al.", "...", "Jae-Hun"),
    ]
)
HARD = st.lists(PIECES, max_size=30).map("".join)


def _reference_words(texts: list[str]) -> tuple[set[str], set[str]]:
    raw: set[str] = set()
    for text in texts:
        found = set(WORD_RE.findall(text))
        for word in [w for w in found if "-" in w]:
            found.update(word.split("-"))
        raw |= found
    return {names.fold(w) for w in raw}, {w for w in raw if w.islower()}


@settings(max_examples=150, deadline=None)
@given(st.lists(HARD, max_size=6))
def test_document_words_match_a_regex_pass_per_text(texts: list[str]) -> None:
    ev = names.Evidence()
    ev.add_texts(texts)
    assert (ev.words, ev.lower_words) == _reference_words(texts)


def test_document_words_on_a_known_text() -> None:
    ev = names.Evidence()
    ev.add_texts(["Self-supervised learning (SSL) isn't x_y; Müller’s state-of-the-art", "e.g. 3D"])
    assert ev.words >= {"self-supervised", "self", "supervised", "ssl", "isn't", "x", "y", "muller’s"}
    assert ev.words >= {"state", "of", "the", "art", "e", "g", "3d"}
    assert "x_y" not in ev.words and "learning" in ev.lower_words and "ssl" not in ev.lower_words


def _reference_et_al(line: str) -> tuple[str, bool]:
    m = names._ET_AL_RE.search(line)
    if m and m.start() > 0:
        return line[: m.start()].rstrip(), True
    return line, False


@settings(max_examples=150, deadline=None)
@given(HARD, st.integers(0, 80))
def test_et_al_shortcut_matches_the_full_search(line: str, pad: int) -> None:
    for candidate in (line, line + " et al.", "Ann Lee" + " ," * pad + line + " et al", line + "…"):
        assert names.strip_et_al(candidate) == _reference_et_al(candidate)


@settings(max_examples=150, deadline=None)
@given(HARD, st.integers(0, 400))
def test_last_title_token_matches_the_whitespace_regex(body: str, repeat: int) -> None:
    body = "x" * repeat + body
    cands = names.Candidates(body, [body], False, [], [])
    for end in {0, len(body), *range(max(0, len(body) - 40), len(body)), *range(250, 262)}:
        if end > len(body):
            continue
        starts = [m.end() for m in re.finditer(r"\s", body[:end])]
        assert cands.last_title_token(end) == body[(starts[-1] if starts else 0) : end]


@settings(max_examples=150, deadline=None)
@given(HARD)
def test_cleaning_matches_the_three_regex_passes(line: str) -> None:
    for part in _split_lines(line):
        slow = _SPACES_RE.sub(" ", _CONTROL_RE.sub(" ", _INVISIBLE_RE.sub("", part))).strip()
        assert _clean(part) == slow
        assert _split_lines(line) == re.split(r"\r\n|\r|\n", line)


# ASCII full of what makes split points hard: capitals, particles glued and nested
# ("del " ends "del" and "el"), runs of spaces, and other ASCII whitespace.
SPLIT_PIECES = st.sampled_from(
    [*"aAdDzZ .-'\t\x0b\x1c", *sorted(names.PARTICLES), "della ", "del ", "Modelde ", "Van ", "  "]
)


def _reference_points(glued: str, lo: int) -> list[int]:
    particles = "|".join(sorted(names.PARTICLES, key=len, reverse=True))
    return [m.start() for m in re.finditer(rf"(?<=\S)(?=[A-Z]|(?:{particles}) )", glued[lo - 1 :])]


@settings(max_examples=300, deadline=None)
@given(st.lists(SPLIT_PIECES, max_size=40).map("".join), st.integers(1, 60))
def test_split_points_match_the_one_pattern_wherever_a_name_fits(glued: str, lo: int) -> None:
    lo = min(lo, max(1, len(glued)))
    reference = [lo - 1 + p for p in _reference_points(glued, lo) if lo - 1 + p >= lo]
    found = names._split_points(glued, lo)
    assert set(found) <= set(reference) and found == sorted(found)

    def fits(p: int) -> bool:
        return len(glued[p:].split()) <= names._MAX_NAME_TOKENS

    assert [p for p in found if fits(p)] == [p for p in reference if fits(p)]


def test_split_points_keep_every_name_up_to_the_longest() -> None:
    for more in range(names._MAX_NAME_TOKENS + 3):
        glued = "Graph ModelJo" + " Ab" * more
        fits = 1 + more <= names._MAX_NAME_TOKENS
        assert (glued.index("Jo") in names._split_points(glued, 1)) is fits, glued


@settings(max_examples=300, deadline=None)
@given(HARD)
def test_normalise_name_is_split_and_join(name: str) -> None:
    for text in (name, f" {name} ", name.replace("\t", " ")):
        assert names.normalise_name(text) == " ".join(text.split())


def _reference_humps(token: str) -> list[str]:
    """A hump starts at a capital after a lower-case letter or a digit, or before a lower-case letter after capitals."""
    parts: list[str] = []
    current = ""
    for i, c in enumerate(token):
        after_lower = bool(current) and (current[-1].islower() or current[-1].isdigit())
        acronym_end = bool(current) and current[-1].isupper() and i + 1 < len(token) and token[i + 1].islower()
        if c.isupper() and (after_lower or acronym_end):
            parts.append(current)
            current = c
        else:
            current += c
    return [*parts, current] if current else parts


CASES = st.sampled_from([*"aBzQ09-'.", "é", "É", "ß", "İ", "ǅ", "ǆ", "ﬁ", "ᾈ", "²"])


@settings(max_examples=300, deadline=None)
@given(st.lists(CASES, max_size=12).map("".join))
def test_humps_match_the_letter_by_letter_walk(token: str) -> None:
    assert names.humps(token) == _reference_humps(token)


def test_humps_of_known_tokens() -> None:
    assert names.humps("ByeongMoon") == ["Byeong", "Moon"]
    assert names.humps("Byeong") == ["Byeong"]
    assert names.humps("SSLOpen") == ["SSL", "Open"]
    assert names.humps("ǅemal") == ["ǅemal"]  # a title-case letter opens no hump
    assert names.humps("") == []
