"""Citations of stored papers: stable BibTeX keys and BibTeX, RIS and CSL-JSON records.

Lives in storage/ so the web pages (feeds/), Discord (bot/) and the CLI all format a
citation the same way without importing each other.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from pylatexenc.latexencode import unicode_to_latex

from storage.models import Paper
from storage.text import fold, reorder_name

FORMATS = ("bibtex", "ris", "csl-json")
_WORD = re.compile(r"[a-z0-9]+")
# Words a citation key skips when it picks the title's first meaningful word.
_STOP = frozenset("a an the on of for in to and with via is are from by at as towards toward".split())
# Characters BibTeX itself cannot carry even escaped (controls); dropped before encoding.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")
# A word with a capital after its first letter (SSL, CLIP, ResNet, BERT-2): braced so
# bibliography styles that lower-case titles keep it as written.
_KEEP_CASE = re.compile(r"\S*[A-Z]\S*[A-Z0-9]\S*|\S*\d\S*[A-Z]\S*")


def paper_path(key: str) -> str:
    """The path (from the site root, no leading slash) of a paper's web page; DOI slashes stay slashes."""
    return "papers/" + quote(_one_line(key), safe="/:@-._~!$&'()*+,;=")


def paper_page(base_url: str, key: str) -> str:
    """The absolute URL of a paper's page under ``base_url`` (the site's public address)."""
    return base_url.rstrip("/") + "/" + paper_path(key)


def _one_line(text: str | None) -> str:
    return _SPACES.sub(" ", _CONTROL.sub("", text or "")).strip()


def split_name(name: str) -> tuple[str, str]:
    """(given, family) of a display name; "Lee, Jae-Hun" and "Jae-Hun Lee" agree.

    Particles (van, de, von, ...) stay with the family name.
    """
    text = _one_line(reorder_name(_one_line(name)))
    parts = text.split(" ")
    if len(parts) == 1:
        return "", parts[0]
    start = len(parts) - 1
    while start > 1 and parts[start - 1].lower() in {"van", "von", "de", "der", "den", "del", "da", "di", "le", "la"}:
        start -= 1
    return " ".join(parts[:start]), " ".join(parts[start:])


def citation_key(paper: Paper) -> str:
    """A BibTeX key: first author's family name, year, first title word, and a tag from the paper's key.

    The tag is a hash of the store key, which never changes and is unique in the store,
    so the citation key is stable across rebuilds and two papers never share one even
    when author, year and first word agree.
    """
    family = split_name(paper.authors[0])[1] if paper.authors else "anon"
    surname = "".join(_WORD.findall(fold(family))) or "anon"
    year = str(paper.published.year) if paper.published else "nd"
    words = [w for w in _WORD.findall(fold(paper.title)) if w not in _STOP]
    word = words[0] if words else "untitled"
    tag = hashlib.sha1(paper.key.encode("utf-8")).hexdigest()[:6]
    return f"{surname[:24]}{year}{word[:20]}-{tag}"


def latex(text: str | None) -> str:
    """Text as LaTeX: specials (& % $ # _ { } ~ ^ \\) escaped, accents spelt as commands."""
    return unicode_to_latex(_one_line(text), non_ascii_only=False, unknown_char_policy="replace")


def _latex_title(title: str) -> str:
    out: list[str] = []
    for word in _one_line(title).split(" "):
        encoded = latex(word)
        out.append("{" + encoded + "}" if _KEEP_CASE.fullmatch(word) else encoded)
    return " ".join(out)


def _authors(paper: Paper) -> list[str]:
    return [n for n in (_one_line(a) for a in paper.authors) if n]


def bibtex(paper: Paper, *, url: str | None = None) -> str:
    """One BibTeX entry: @article when a journal is known, else @misc (with arXiv eprint fields)."""
    kind = "article" if paper.journal_ref else "misc"
    fields: list[tuple[str, str]] = [("title", "{" + _latex_title(paper.title) + "}")]
    names = [latex(n) for n in _authors(paper)]
    if paper.authors_truncated:
        names.append("others")
    if names:
        fields.append(("author", "{" + " and ".join(names) + "}"))
    if paper.published:
        fields.append(("year", str(paper.published.year)))
        fields.append(("month", paper.published.strftime("%b").lower()))
    if paper.journal_ref:
        fields.append(("journal", "{" + latex(paper.journal_ref) + "}"))
    if paper.arxiv_id:
        fields += [("eprint", "{" + latex(paper.arxiv_id) + "}"), ("archiveprefix", "{arXiv}")]
        if paper.category:
            fields.append(("primaryclass", "{" + latex(paper.category) + "}"))
    if paper.doi:
        fields.append(("doi", "{" + latex(paper.doi) + "}"))
    link = url or paper.url
    if link:
        # \url{} takes the address verbatim except for the characters that end or break it.
        fields.append(("url", "{" + _one_line(link).replace("\\", "%5C").replace("{", "%7B").replace("}", "%7D")
                       .replace("%", "\\%").replace("#", "\\#") + "}"))
    if paper.code_url:
        fields.append(("note", "{Code: \\url{" + _one_line(paper.code_url).replace("{", "%7B").replace("}", "%7D")
                       .replace("%", "\\%").replace("#", "\\#") + "}}"))
    body = ",\n".join(f"  {name} = {value}" for name, value in fields)
    return f"@{kind}{{{citation_key(paper)},\n{body}\n}}\n"


def ris(paper: Paper, *, url: str | None = None) -> str:
    """One RIS record (the tagged format reference managers import)."""
    lines = [("TY", "JOUR" if paper.journal_ref else "GEN"), ("ID", citation_key(paper))]
    lines.append(("TI", _one_line(paper.title)))
    lines += [("AU", f"{family}, {given}" if given else family)
              for family, given in ((split_name(n)[1], split_name(n)[0]) for n in _authors(paper))]
    if paper.published:
        lines.append(("PY", str(paper.published.year)))
        lines.append(("DA", paper.published.strftime("%Y/%m/%d")))
    if paper.journal_ref:
        lines.append(("JO", _one_line(paper.journal_ref)))
    if paper.doi:
        lines.append(("DO", _one_line(paper.doi)))
    for link in dict.fromkeys(x for x in (url, paper.url, paper.pdf_url, paper.code_url) if x):
        lines.append(("UR", _one_line(link)))
    if paper.abstract.strip():
        lines.append(("AB", _one_line(paper.abstract)))
    for term in dict.fromkeys(t for t in (paper.category, *paper.categories) if t):
        lines.append(("KW", _one_line(term)))
    lines.append(("ER", ""))
    return "".join(f"{tag}  - {value}".rstrip() + "\n" for tag, value in lines)


def csl(paper: Paper, *, url: str | None = None) -> dict[str, Any]:
    """One CSL-JSON item (what Zotero, Pandoc and citeproc read)."""
    item: dict[str, Any] = {
        "id": citation_key(paper),
        "type": "article-journal" if paper.journal_ref else "article",
        "title": _one_line(paper.title),
    }
    authors = []
    for name in _authors(paper):
        given, family = split_name(name)
        authors.append({"family": family, "given": given} if given else {"literal": family})
    if authors:
        item["author"] = authors
    if paper.published:
        d = paper.published
        item["issued"] = {"date-parts": [[d.year, d.month, d.day]]}
    if paper.journal_ref:
        item["container-title"] = _one_line(paper.journal_ref)
    if paper.doi:
        item["DOI"] = _one_line(paper.doi)
    if url or paper.url:
        item["URL"] = _one_line(url or paper.url)
    if paper.arxiv_id:
        item["number"] = f"arXiv:{_one_line(paper.arxiv_id)}"
    if paper.abstract.strip():
        item["abstract"] = _one_line(paper.abstract)
    return item


def render(papers: Sequence[Paper], fmt: str, *, urls: dict[str, str] | None = None) -> str:
    """Several papers in one format; ``urls`` maps paper keys to the link to cite (e.g. its page)."""
    urls = urls or {}
    if fmt == "bibtex":
        return "\n".join(bibtex(p, url=urls.get(p.key)) for p in papers)
    if fmt == "ris":
        return "\n".join(ris(p, url=urls.get(p.key)) for p in papers)
    if fmt == "csl-json":
        return json.dumps([csl(p, url=urls.get(p.key)) for p in papers], ensure_ascii=False, indent=2) + "\n"
    raise ValueError(f"unknown citation format {fmt!r}; use one of {', '.join(FORMATS)}")
