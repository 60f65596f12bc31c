"""A synthetic arXiv-like corpus in the listing format, deterministic for a given size and seed.

The shapes follow arXiv's: titles of about ten words (Title Case, sentence case,
"Name: subtitle", trailing acronyms and digits), abstracts of about 150 words
in sentences, a Zipf-distributed vocabulary from a few very common words to a
long tail of rare ones, acronyms defined in the form "long form (LF)" and then
used bare, and authors drawn from a long-tailed productivity distribution over
names that share surnames, with hyphenated, camel-cased, accented, particled
and initialled given names. Lists of more than three authors end in "et al.".
"""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from feeds.sources.listing import render_listing
from storage.models import PaperRecord

log = logging.getLogger(__name__)

CORPUS_VERSION = 3  # bump when the generator's output changes, so cached files are not reused

# Words every abstract leans on; their rank decides how common they are.
COMMON_WORDS = (
    "learning model models data network networks method methods results performance training "
    "neural approach task tasks deep image images based framework propose proposed show "
    "state art large language features feature representation representations dataset "
    "datasets experiments novel existing accuracy problem inference information efficient "
    "attention prediction generative diffusion graph graphs robust semantic visual"
).split()
STOPWORDS = (
    "the of and a to in we for is on with that by this as are from an our which can be "
    "at these it using its their while both such more than"
).split()
CATEGORIES = ("CV", "LG", "CL", "AI", "RO", "IR", "NE", "SD", "MA", "CR", "DS", "HC")
_CATEGORY_WEIGHTS = (30, 28, 14, 9, 5, 3, 2, 2, 2, 2, 2, 1)
_ONSETS = ("b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
           "br", "cr", "dr", "gr", "pr", "tr", "st", "sp", "sc", "ch", "sh", "th", "ph", "qu")  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "y")
_CODAS = ("", "", "", "n", "r", "s", "l", "m", "t", "x", "nd", "rt", "st")
_SURNAME_ROOTS = (
    "Lee Kim Park Wang Zhang Li Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo Lin He "
    "Gao Luo Cho Choi Jung Kang Yoon Jang Lim Han Shin Seo Hwang Ahn Song Yoo Hong Jeon Ko "
    "Smith Johnson Brown Miller Davis Garcia Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Thompson White Harris Clark Lewis "
    "Robinson Walker Young Allen King Wright Scott Hill Green Adams Baker Nelson Carter "
    "Mitchell Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann "
    "Dubois Moreau Laurent Lefèvre Rossi Russo Ferrari Esposito Bianchi Romano Kowalski "
    "Nowak Wiśniewski Wójcik Ivanov Petrov Sokolov Novak Horvat Nguyen Tran Pham Le Hoang "
    "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato Singh Kumar "
    "Sharma Gupta Patel Reddy Iyer Das Rao Khan Ali Hassan Ahmed Silva Santos Oliveira Souza "
    "Pereira Costa Almeida Jensen Nielsen Hansen Larsen Andersen Johansson Karlsson Nilsson"
).split()
_PARTICLE_SURNAMES = ("van der Berg", "van den Broek", "de Vries", "van Dijk", "de Jong",
                      "von Neumann", "da Silva", "dos Santos", "di Stefano", "de la Cruz",
                      "bin Talal", "ter Haar", "El Amrani")  # fmt: skip
_GIVEN_PLAIN = (
    "James John Robert Michael David William Richard Joseph Thomas Daniel Matthew Anthony "
    "Mark Steven Paul Andrew Joshua Kevin Brian George Mary Patricia Jennifer Linda Elizabeth "
    "Barbara Susan Jessica Sarah Karen Lisa Nancy Emily Anna Laura Julia Sofia Elena Marco "
    "Luca Giulia Pierre Camille Hans Lukas Felix Jonas Lena Wei Jing Yu Xin Hao Lei Yang Chen "
    "Hui Min Jun Tao Yan Ying Hiroshi Takeshi Yuki Kenji Aiko Raj Priya Arjun Anil Deepak "
    "Sanjay Ahmed Omar Fatima Leila Carlos Maria José Juan Ana Luis João Łukasz Zoë Chloé "
    "Søren Björn Ingrid Olga Dmitri Sergei Natalia Ivan Jihyo Suho Doyoung Kyungyul Sangheum"
).split()
_KOREAN_SYLLABLES = ("Jae", "Hun", "Byeong", "Moon", "Seok", "Hyun", "Jung", "Woo", "Ji",
                     "Yoon", "Seung", "Won", "Hye", "Jin", "Min", "Sung", "Ho", "Young",
                     "Eun", "Kyung", "Dong", "Hee", "Soo", "Tae", "Yeon", "Chan")  # fmt: skip
_TITLE_LEADS = ("Towards", "Learning", "Rethinking", "On", "Efficient", "Scalable", "Robust",
                "Understanding", "Improving", "A Study of", "Beyond", "When", "Revisiting")  # fmt: skip
_TITLE_JOINS = ("for", "with", "via", "of", "in", "and", "under", "from", "using", "on")


@dataclass(frozen=True, slots=True)
class CorpusShape:
    """The knobs of the generator; the defaults follow arXiv."""

    title_words: float = 10.0
    abstract_words: float = 150.0
    vocabulary: int = 60_000  # distinct content words besides COMMON_WORDS
    acronyms: int = 3_000
    authors_per_paper: float = 4.0
    author_pool_ratio: float = 0.6  # distinct authors per paper in the corpus
    surnames: int = 6_000
    code_share: float = 0.2


def _pseudo_word(rng: random.Random, syllables: int) -> str:
    parts = []
    for _ in range(syllables):
        parts.append(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS))
    return "".join(parts)


def _zipf_cum(n: int, exponent: float, offset: float = 1.0) -> list[float]:
    total = 0.0
    out = []
    for rank in range(n):
        total += 1.0 / (rank + offset) ** exponent
        out.append(total)
    return out


@dataclass(slots=True)
class Vocabulary:
    """Content words ranked by frequency, acronyms with their long forms, and names."""

    words: list[str]
    word_cum: list[float]
    acronyms: list[tuple[str, str]]  # (ACRONYM, long form)
    acronym_cum: list[float]
    authors: list[str]
    author_cum: list[float]

    @classmethod
    def build(cls, papers: int, shape: CorpusShape, rng: random.Random) -> Vocabulary:
        seen: set[str] = set(COMMON_WORDS) | set(STOPWORDS)
        tail: list[str] = []
        while len(tail) < shape.vocabulary:
            word = _pseudo_word(rng, rng.choice((1, 2, 2, 2, 3)))
            if word not in seen and len(word) > 3:
                seen.add(word)
                tail.append(word)
        words = list(COMMON_WORDS) + tail
        # Zipf over ranks, flattened at the head as in arXiv: the commonest word is in about
        # half the abstracts, the tail in a handful.
        word_cum = _zipf_cum(len(words), 1.0, offset=20.0)
        acronyms: list[tuple[str, str]] = []
        taken: set[str] = set()
        # Long forms from mid-frequency words, so they do not turn up by chance in other text.
        mid = words[len(COMMON_WORDS) + 100 : len(COMMON_WORDS) + 5_000]
        while len(acronyms) < shape.acronyms:
            n = rng.choice((2, 2, 3, 3, 3, 4))
            phrase_words = [rng.choice(mid) for _ in range(n - 1)]
            phrase_words.append(rng.choice(COMMON_WORDS) if rng.random() < 0.4 else rng.choice(mid))
            acronym = "".join(w[0].upper() for w in phrase_words)
            if acronym in taken or len(acronym) < 2 or sum(c.isupper() for c in acronym) < 2:
                continue
            taken.add(acronym)
            acronyms.append((acronym, " ".join(phrase_words)))
        acronym_cum = _zipf_cum(len(acronyms), 0.9, offset=3.0)
        authors = _author_pool(max(50, int(papers * shape.author_pool_ratio)), shape, rng)
        # Productivity is long-tailed: a few authors on thousands of papers, most on one.
        author_cum = _zipf_cum(len(authors), 0.85, offset=5.0)
        return cls(words, word_cum, acronyms, acronym_cum, authors, author_cum)


def _given_name(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.12:
        return f"{rng.choice(_KOREAN_SYLLABLES)}-{rng.choice(_KOREAN_SYLLABLES).lower()}"
    if roll < 0.22:
        return rng.choice(_KOREAN_SYLLABLES) + rng.choice(_KOREAN_SYLLABLES)  # "ByeongMoon"
    if roll < 0.27:
        return f"{rng.choice(_GIVEN_PLAIN)} {rng.choice('ABCDEFGHJKLMNPRSTW')}."
    if roll < 0.32:
        return f"{rng.choice(_GIVEN_PLAIN)[0]}."
    if roll < 0.55:
        return _pseudo_word(rng, 2).capitalize()
    return rng.choice(_GIVEN_PLAIN)


def _surnames(count: int, rng: random.Random) -> list[str]:
    out = list(_SURNAME_ROOTS)
    seen = set(out) | set(_PARTICLE_SURNAMES)
    out.extend(_PARTICLE_SURNAMES)
    while len(out) < count:
        name = _pseudo_word(rng, rng.choice((2, 2, 3))).capitalize()
        if rng.random() < 0.05:
            name = f"{name}-{_pseudo_word(rng, 2).capitalize()}"
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def _author_pool(count: int, shape: CorpusShape, rng: random.Random) -> list[str]:
    surnames = _surnames(shape.surnames, rng)
    # Surnames are shared unevenly too: many people called Lee, few called Wiśniewski.
    surname_cum = _zipf_cum(len(surnames), 0.9, offset=3.0)
    seen: set[str] = set()
    pool: list[str] = []
    while len(pool) < count:
        batch = rng.choices(surnames, cum_weights=surname_cum, k=min(4096, count))
        for surname in batch:
            name = f"{_given_name(rng)} {surname}"
            if name not in seen:
                seen.add(name)
                pool.append(name)
                if len(pool) == count:
                    break
    rng.shuffle(pool)
    return pool


class CorpusGenerator:
    """Yields PaperRecords; the same (papers, seed) always gives the same corpus."""

    def __init__(self, papers: int, seed: int = 7, shape: CorpusShape | None = None) -> None:
        self.papers = papers
        self.seed = seed
        self.shape = shape or CorpusShape()
        self.rng = random.Random(seed)
        self.vocab = Vocabulary.build(papers, self.shape, self.rng)
        self._start = date(2015, 1, 1)

    def _words(self, k: int) -> list[str]:
        drawn = self.rng.choices(self.vocab.words, cum_weights=self.vocab.word_cum, k=k)
        # Writers do not repeat a word back to back ("model model").
        return [w for i, w in enumerate(drawn) if i == 0 or w != drawn[i - 1]]

    def _title(self, acronym: tuple[str, str] | None) -> str:
        rng = self.rng
        n = max(3, min(25, int(rng.gauss(self.shape.title_words, 3.0))))
        content = self._words(n)
        style = rng.random()
        if style < 0.25:
            # "NAME: A Subtitle" with a made-up system name or a known acronym.
            coined = _pseudo_word(rng, 2).capitalize() + rng.choice(("Net", "GAN", "Former", ""))
            head = acronym[0] if acronym else coined
            body = [w.capitalize() if len(w) > 3 else w for w in content[:-1] or content]
            title = f"{head}: " + " ".join(body)
        else:
            pieces: list[str] = []
            if rng.random() < 0.3:
                pieces.append(rng.choice(_TITLE_LEADS))
            for i, word in enumerate(content):
                if i and i % 3 == 0 and rng.random() < 0.5:
                    pieces.append(rng.choice(_TITLE_JOINS))
                pieces.append(word)
            if style < 0.75:
                title = " ".join(w if w in _TITLE_JOINS else w.capitalize() for w in pieces)
            else:
                title = " ".join(pieces)
                title = title[0].upper() + title[1:]
        ending = rng.random()
        if acronym and style >= 0.25 and ending < 0.3:
            title += f" for {acronym[0]}"
        elif ending < 0.05:
            title += f" {rng.choice(('2', '3D', 'v2', '2024', 'II'))}"
        elif ending < 0.08:
            title += "?"
        return title

    def _abstract(self, acronym: tuple[str, str] | None, code: bool) -> str:
        rng = self.rng
        total = max(40, min(400, int(rng.gauss(self.shape.abstract_words, 45.0))))
        sentences: list[str] = []
        written = 0
        while written < total:
            length = max(6, min(40, int(rng.gauss(20, 6))))
            content = self._words(length)
            stops = rng.choices(STOPWORDS, k=length // 2)
            mixed = [w for pair in itertools.zip_longest(content, stops) for w in pair if w]
            if not sentences and acronym:
                mixed[2:2] = [acronym[1], f"({acronym[0]})"]
            elif acronym and rng.random() < 0.4:
                mixed.insert(rng.randrange(len(mixed)), acronym[0])
            sentence = " ".join(mixed)
            sentences.append(sentence[0].upper() + sentence[1:] + ".")
            written += len(mixed)
        if code:
            slug = _pseudo_word(rng, 2)
            sentences.append(f"Code is available at https://github.com/{slug}/{slug}-code .")
        return " ".join(sentences)

    def _authors(self) -> tuple[tuple[str, ...], bool]:
        rng = self.rng
        n = 1 + min(int(rng.expovariate(1.0 / (self.shape.authors_per_paper - 1))), 30)
        names: list[str] = []
        for name in rng.choices(self.vocab.authors, cum_weights=self.vocab.author_cum, k=n):
            if name not in names:
                names.append(name)
        truncated = len(names) > 3
        return tuple(names[:3]), truncated

    def record(self, i: int) -> PaperRecord:
        rng = self.rng
        acronym = None
        if rng.random() < 0.45:
            acronym = rng.choices(self.vocab.acronyms, cum_weights=self.vocab.acronym_cum, k=1)[0]
        code = rng.random() < self.shape.code_share
        authors, truncated = self._authors()
        # Papers are generated oldest first, so a listing reads in time order.
        day = self._start + timedelta(days=int(i * 3650 / max(self.papers, 1)))
        return PaperRecord(
            title=self._title(acronym),
            authors=authors,
            authors_truncated=truncated,
            abstract=self._abstract(acronym, code),
            category=rng.choices(CATEGORIES, weights=_CATEGORY_WEIGHTS, k=1)[0],
            published=day,
            has_code=code,
        )

    def __iter__(self) -> Iterator[PaperRecord]:
        for i in range(self.papers):
            yield self.record(i)


def write_listing(path: Path, records: Sequence[PaperRecord] | Iterator[PaperRecord], chunk: int = 5_000) -> int:
    """Write records as one listing file; returns how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    written = 0
    with tmp.open("w", encoding="utf-8") as out:
        it = iter(records)
        while True:
            block = list(itertools.islice(it, chunk))
            if not block:
                break
            out.write(render_listing(block))
            written += len(block)
    tmp.replace(path)
    return written


def corpus_file(folder: Path, papers: int, seed: int = 7) -> tuple[Path, Path]:
    """The listing of ``papers`` generated papers plus a file of 1,000 more, made once and cached."""
    main = folder / f"corpus-v{CORPUS_VERSION}-{papers}-s{seed}.txt"
    extra = folder / f"corpus-v{CORPUS_VERSION}-{papers}-s{seed}-extra1000.txt"
    if not (main.exists() and extra.exists()):
        gen = CorpusGenerator(papers + 1_000, seed)
        records = iter(gen)
        log.info("generating %d papers into %s", papers, main)
        write_listing(main, itertools.islice(records, papers))
        write_listing(extra, records)
    return main, extra


def poll_file(folder: Path, papers: int, seed: int = 7) -> Path:
    """1,000 papers after ``corpus_file``'s two files, for the service to poll (made once and cached)."""
    path = folder / f"corpus-v{CORPUS_VERSION}-{papers}-s{seed}-poll1000.txt"
    if not path.exists():
        gen = CorpusGenerator(papers + 1_000, seed)
        gen.rng = random.Random(seed + 1)  # drawn afresh: these papers follow the extra file's
        write_listing(path, (gen.record(papers + 1_000 + i) for i in range(1_000)))
    return path


__all__ = ["CorpusGenerator", "CorpusShape", "Vocabulary", "corpus_file", "poll_file", "write_listing"]
