"""What a command answers, as plain data: cards (embeds to be), pages and choices."""

from __future__ import annotations

from dataclasses import dataclass, field

BLUE = 0x3B82F6
GREEN = 0x16A34A
AMBER = 0xD97706
RED = 0xDC2626
GREY = 0x6B7280


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True, slots=True)
class Card:
    """One block of an answer; rendered as an embed for Discord and as text for the CLI."""

    title: str | None = None
    url: str | None = None
    description: str | None = None
    fields: tuple[Field, ...] = ()
    footer: str | None = None
    color: int | None = BLUE


@dataclass(frozen=True, slots=True)
class Page:
    cards: tuple[Card, ...] = ()
    content: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    """A command's whole answer: one or more pages (buttons turn them), maybe ephemeral."""

    pages: tuple[Page, ...] = field(default_factory=lambda: (Page(),))
    ephemeral: bool = False

    @classmethod
    def single(cls, *cards: Card, content: str = "", ephemeral: bool = False) -> Answer:
        return cls(pages=(Page(cards=tuple(cards), content=content),), ephemeral=ephemeral)

    @classmethod
    def error(cls, sentence: str) -> Answer:
        """An ephemeral sentence telling the user what went wrong and what to do."""
        return cls.single(content=sentence, ephemeral=True)
