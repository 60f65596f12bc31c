"""The fixed query mixes: searches by class, and author look-ups by prefix, typo and reversed name."""

from __future__ import annotations

import random

from bench.corpus import COMMON_WORDS, Vocabulary

# What people paste into a search box when they are not searching for a word.
GARBAGE = (
    '"unclosed quote', "NEAR(deep learning", "AND", "OR OR NOT", "*", "title:model", "c++ -network",
    "(((", "a:b c:d", "'; DROP TABLE papers; --", "😀 émoji ✨", "\x00\x01\x02", "x" * 3000,
    "learning AND OR", "^model$", "{graph}", "   ", "-",
)

SEARCH_CLASSES = ("rare", "mid", "common", "two common", "phrase", "acronym", "author", "garbage")


def search_mix(vocab: Vocabulary, seed: int = 11) -> list[tuple[str, str]]:
    """(class, query) pairs over the corpus's own vocabulary, the same for a given corpus."""
    rng = random.Random(seed)
    n = len(vocab.words)
    common = list(COMMON_WORDS[:12])
    mix: list[tuple[str, str]] = []
    mix += [("rare", w) for w in rng.sample(vocab.words[n // 3 :], 10)]
    mix += [("mid", w) for w in rng.sample(vocab.words[len(COMMON_WORDS) + 200 : len(COMMON_WORDS) + 3000], 10)]
    mix += [("common", w) for w in common[:8]]
    mix += [("two common", f"{a} {b}") for a, b in zip(common[0:8:2], common[1:9:2], strict=True)]
    mix += [("two common", f"{a} {b}") for a, b in (("deep", "learning"), ("neural", "network"))]
    mix += [("phrase", f'"{a} {b}"') for a, b in (("deep", "learning"), ("neural", "network"),
                                                   ("learning", "model"), ("graph", "network"))]
    mix += [("phrase", long_form) for _, long_form in vocab.acronyms[:4]]
    mix += [("acronym", acronym) for acronym, _ in vocab.acronyms[:6]]
    mix += [("acronym", acronym + "s") for acronym, _ in vocab.acronyms[6:8]]
    mix += [("author", name) for name in vocab.authors[:6]]
    mix += [("garbage", g) for g in GARBAGE]
    return mix


def _typo(rng: random.Random, name: str) -> str:
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    if len(letters) < 4:
        return name
    i = rng.choice(letters[1:-1])
    if rng.random() < 0.5 and i + 1 < len(name):
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]  # swap two letters
    return name[:i] + name[i + 1 :]  # drop one


def _reversed(name: str) -> str:
    given, _, surname = name.rpartition(" ")
    return f"{surname}, {given}" if given else name


def author_mix(vocab: Vocabulary, seed: int = 13) -> list[tuple[str, str]]:
    """(class, text) look-ups: prefixes as typed key by key, typos, "Last, First" and initials."""
    rng = random.Random(seed)
    # Half the names from the productive head (people look those up), half from the tail.
    head = vocab.authors[:200]
    tail = vocab.authors[200:]
    names = rng.sample(head, 10) + rng.sample(tail, min(10, len(tail)))
    mix: list[tuple[str, str]] = []
    for name in names:
        for cut in (2, 4, 7):
            mix.append(("prefix", name[:cut]))
        mix.append(("typo", _typo(rng, name)))
        mix.append(("reversed", _reversed(name)))
    return mix


__all__ = ["GARBAGE", "SEARCH_CLASSES", "author_mix", "search_mix"]
