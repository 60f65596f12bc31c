"""The /paper cite answer: BibTeX in a code block, or a .bib file when it is too long for a message."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from bot.markdown import escape
from bot.model import Answer
from storage import cite
from storage.errors import InvalidInputError, NotFoundError
from storage.store import Store

log = logging.getLogger(__name__)

MAX_KEYS = 20
CONTENT_MAX = 2000  # Discord's message content limit
_FENCE = "```"


@dataclass(frozen=True, slots=True)
class Citation:
    """What /paper cite sends: the message, and the .bib file to attach when the entries are long."""

    answer: Answer
    filename: str | None = None
    data: bytes | None = None


def split_keys(text: str) -> list[str]:
    """Keys as typed: separated by spaces or commas (DOIs and arXiv ids contain neither)."""
    return [k for k in re.split(r"[\s,]+", text or "") if k]


async def paper_cite(store: Store, keys: str, *, base_url: str | None = None) -> Citation:
    wanted = list(dict.fromkeys(split_keys(keys)))
    if not wanted:
        raise InvalidInputError("Give a paper key, for example /paper cite key:2304.00792; pick one as you type.")
    if len(wanted) > MAX_KEYS:
        raise InvalidInputError(f"At most {MAX_KEYS} papers at once; you gave {len(wanted)}.")
    papers = []
    for key in wanted:
        paper = await store.get_paper(key[:300])
        if paper is None:
            raise NotFoundError(
                f"No paper has the key {key[:80]!r}. Pick a suggestion as you type, or find it with /paper search."
            )
        papers.append(paper)
    urls = {p.key: cite.paper_page(base_url, p.key) for p in papers} if base_url else {}
    text = cite.render(papers, "bibtex", urls=urls)
    # A title holding ``` must not close the code block early.
    block = f"{_FENCE}bibtex\n{text.replace(_FENCE, '`' + chr(0x200B) + '``')}{_FENCE}"
    if len(block) <= CONTENT_MAX:
        return Citation(Answer.single(content=block))
    name = cite.citation_key(papers[0]) if len(papers) == 1 else f"paperboy-{len(papers)}-papers"
    note = (
        f"BibTeX for {len(papers)} paper{'s' if len(papers) != 1 else ''} is attached as **{escape(name)}.bib** "
        f"({len(text.encode('utf-8')):,} bytes: too long for a message)."
    )
    return Citation(Answer.single(content=note), filename=f"{name}.bib", data=text.encode("utf-8"))


async def cite_answer(store: Store, keys: str, *, base_url: str | None = None) -> Answer:
    """What `paperboy ask "/paper cite key:..."` prints: the message (a long list names its attachment)."""
    return (await paper_cite(store, keys, base_url=base_url)).answer
