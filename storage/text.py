"""Text normalisation shared by the store: author keys, title slugs, phrase folding."""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata

_PARTICLES = frozenset(
    {"van", "von", "de", "der", "den", "da", "di", "del", "della", "le", "la", "du", "dos", "das",
     "bin", "ibn", "al", "ter", "ten", "zu", "y"}
)
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
# Letters and digits of any script, so non-Latin names still get a key of their own.
_PIECE = re.compile(r"[^\W_]+", re.UNICODE)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_STOP = frozenset(
    "a an the of for and or in on at to with via from by as is are be its into over under using "
    "we our this that these those than then not no can do does toward towards".split()
)
_SPACES = re.compile(r"\s+")

# Characters that NFKD does not decompose into ASCII but that names carry.
_SPECIAL_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D",
                               "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
                               "ı": "i", "þ": "th", "ð": "d"})


def fold(text: str) -> str:
    """ASCII-fold and lower-case: diacritics dropped, special letters spelt out."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text.translate(_SPECIAL_FOLD))
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def is_clean_line(text: str) -> bool:
    """Text clean_line and clean_space hand back as it is: printable ASCII, no run of spaces, none at an end.

    Printable ASCII has one whitespace character, the space; the cheap tests go first.
    """
    return clean_spacing(text) and printable_ascii(text)


def clean_spacing(text: str) -> bool:
    """No run of spaces and none at an end: all is_clean_line asks of text known to be printable ASCII."""
    return "  " not in text and text[:1] != " " and text[-1:] != " "


def clean_space(text: str) -> str:
    """Collapse every run of whitespace (no-break spaces included) into one space."""
    if is_clean_line(text):
        return text
    return _SPACES.sub(" ", text.replace("\u00a0", " ")).strip()


def reorder_name(name: str) -> str:
    """Turn "Lee, Jae-Hun" into "Jae-Hun Lee"; leave other names alone."""
    name = clean_space(name)
    if name.count(",") == 1:
        last, first = (part.strip() for part in name.split(","))
        if first and last:
            return f"{first} {last}"
    return name


def author_key(name: str) -> str:
    """The normalised key under which spellings of one author meet.

    Case, diacritics, hyphens, dots, spacing and camel-case humps are folded
    and "Last, First" is reordered, so "Jae-Hun Lee", "jae hun lee",
    "JaeHun Lee" and "Lee, Jae-Hun" all give "jae-hun-lee".
    """
    name = reorder_name(name)
    name = _CAMEL.sub(" ", name)
    return "-".join(_PIECE.findall(fold(name)))


def name_tokens(name: str) -> list[str]:
    """Folded word pieces of a name, in display order."""
    return author_key(name).split("-") if name.strip() else []


def surname(name: str) -> str:
    """The folded surname of a display name (particles kept with it)."""
    words = reorder_name(name).split()
    if not words:
        return ""
    parts = [words[-1]]
    for word in reversed(words[:-1]):
        if word.lower() in _PARTICLES:
            parts.insert(0, word)
        else:
            break
    return author_key(" ".join(parts))


def slugify(text: str, max_len: int = 80) -> str:
    """A URL-safe slug of folded word pieces, cut at a piece boundary."""
    pieces = _PIECE.findall(fold(text))
    out: list[str] = []
    length = 0
    for piece in pieces:
        if length + len(piece) + (1 if out else 0) > max_len:
            break
        out.append(piece)
        length += len(piece) + (1 if len(out) > 1 else 0)
    return "-".join(out) or "untitled"


def title_key(title: str) -> str:
    """The whole normalised title, for matching one paper across sources."""
    return " ".join(_PIECE.findall(fold(title)))


def title_hash(title: str) -> int:
    """What papers.title_hash holds: 8 bytes of the BLAKE2b digest of ``title_key``, signed.

    Two different titles share one only by a 64-bit collision (about 1 in 10^7 at 2.5M
    papers), and even then the first-author and year checks of a match still apply.
    """
    digest = hashlib.blake2b(title_key(title).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def key_hash(key: str) -> int:
    """What papers.key_hash holds: 8 bytes of the BLAKE2b digest of the key as stored, signed.

    A look-up by key reads the rows of its hash and compares the key itself, so a collision
    costs one more row read, never a wrong paper.
    """
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little", signed=True)


@functools.lru_cache(maxsize=200_000)
def singular(word: str) -> str:
    """A naive singular, enough to make "networks" meet "network"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


class _Singulars(dict[str, str]):
    """word -> singular, filled on first sight: a dict look-up per word instead of a function call."""

    def __missing__(self, word: str) -> str:
        if len(self) > 500_000:  # a bound for hostile input; real vocabularies stay far below it
            self.clear()
        self[word] = found = singular(word)
        return found


_SINGULARS = _Singulars()


def phrase_words(text: str) -> list[str]:
    """Folded, singularised words of a text, hyphens read as spaces, for phrase matching."""
    if text.isascii():  # the same pieces as below, by C string methods instead of a Unicode regex
        pieces = text.lower().translate(_ASCII_BREAKS).split()
    else:
        pieces = _PIECE.findall(fold(text.replace("-", " ")))
    # Only a word ending in "s" can change (``singular``): the rest skip the look-up, and the
    # cache holds only those, so an abstract's new words meet it less often.
    singulars = _SINGULARS
    return [singulars[w] if w[-1] == "s" else w for w in pieces]


# Every ASCII character that is not a letter or digit breaks a word, as [^\W_] does.
_ASCII_BREAKS = str.maketrans({chr(i): " " for i in range(128) if not chr(i).isalnum()})


def words(text: str) -> list[str]:
    """Word tokens as a user typed them (letters and digits, apostrophes inside)."""
    return _WORD.findall(text)


def is_stopword(word: str) -> bool:
    return word.lower() in _STOP


# Characters that change how text is shown without being seen: bidi embeddings,
# overrides and isolates, zero-width spaces and joiners, the soft hyphen, BOMs,
# and code points no text should hold (lone surrogates, non-characters). A title
# holding U+202E reads backwards; a name holding U+200B splits or merges wrongly.
INVISIBLE_CLASS = (
    "\u00ad\u034f\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\ufff9-\ufffb\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
)
_INVISIBLE = re.compile(f"[{INVISIBLE_CLASS}]")
# C0 and C1 controls other than tab, line feed and carriage return: read as a space.
CONTROL_CLASS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_CONTROL = re.compile(f"[{CONTROL_CLASS}]")


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))
_SHORT_TEXT = 64


def printable_ascii(text: str) -> bool:
    """``text.isascii() and text.isprintable()``, about five times quicker on a long text.

    str.isprintable looks each character up in the Unicode tables; for ASCII text the
    printable ones are exactly the bytes 0x20 to 0x7E, deleted here at C speed. Every
    line of a listing is checked this way before it is parsed. Under _SHORT_TEXT characters
    the two copies cost more than the table look-ups (a name: 0.2 us against 0.09).
    """
    if len(text) < _SHORT_TEXT:
        return text.isascii() and text.isprintable()
    return text.isascii() and not text.encode("ascii").translate(None, _PRINTABLE_ASCII)


def strip_invisible(text: str) -> str:
    """Remove invisible and bidi control characters; turn other control characters into spaces.

    Tabs and line ends stay, so line numbers in a document do not move.
    """
    if printable_ascii(text):
        return text
    return _CONTROL.sub(" ", _INVISIBLE.sub("", text))


def clean_line(text: str) -> str:
    """strip_invisible, then every run of whitespace as one space: for titles and names."""
    if is_clean_line(text):
        return text  # already clean, as nearly every parsed title and name is: no regex pass
    return clean_space(strip_invisible(text))
