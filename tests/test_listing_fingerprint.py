"""The listing parser's whole output on generated and roughened listings matches a stored digest.

Why a digest: the parser is tuned for speed (issue 16), and a faster parser must
read every listing exactly as before: every title/author boundary, every
cleaned abstract, every problem message and line number. The digests below
are what the parser printed *before* the speed work (commit 5c4c2e0, the
original line-by-line parser), and the fast parser must reproduce them bit
for bit.

The inputs are built here, from a fixed seed, so the test needs no data
outside the repository: ``bench.corpus.CorpusGenerator`` writes 2,000 papers
(its output is frozen by ``CORPUS_VERSION``), and a second copy is roughened
the way real files are (CRLF, a byte-order mark, no-break and doubled
spaces, tabs, zero-width and control characters, blank lines, wrapped
abstracts, broken headers, year-less dates, a lone title, "…" endings)
and parsed with an owner name, which takes the known-authors path.

Updating: only when a change of the parser's output is intended. Then run
``python -m tests.test_listing_fingerprint`` from the repository root, check
the differences it prints by hand (``--show`` lists every record), and paste
the new digests with a commit message saying which readings changed and why.
"""

from __future__ import annotations

import hashlib
import random
import sys
from datetime import date

from bench.corpus import CorpusGenerator
from feeds.sources.listing import parse_listing, render_listing
from storage.models import ParseResult

AS_OF = date(2020, 3, 1)
PAPERS = 2_000
SEED = 11

EXPECTED = {
    "generated": "d89ef9a2f3206199c612f934f93ccd4a07205f16fa6c87533dcc23c421eba9a4",  # 2000 records
    "roughened": "8c3f643c72c24494c8f5a6a1685c8be5a6cb5dee87a2f5e3f2e65260064c2893",  # 1920, 80 problems
}


def _generated() -> str:
    return render_listing(CorpusGenerator(PAPERS, seed=SEED))


def _roughened(text: str) -> str:
    """The same listing made as untidy as scraped files are, deterministically."""
    rng = random.Random(SEED)
    out: list[str] = []
    for i, line in enumerate(text.split("\n")):
        roll = rng.random()
        kind = i % 3  # 0 header, 1 title/authors, 2 abstract
        if kind == 0 and roll < 0.02:
            line = line.replace(", 20", " ", 1)  # year-less date, resolved against as_of
        elif kind == 0 and roll < 0.025:
            line = line.replace("Code", "Cdoe") if "Code" in line else line + "Draft"
        elif kind == 0 and roll < 0.03:
            line = line[:2] + "Feb 30, 2019"
        elif kind == 0 and roll < 0.033:
            line = line[2:]  # no category
        elif kind == 1 and roll < 0.05:
            line = line.replace(" ", "  ", 3)
        elif kind == 1 and roll < 0.08:
            line = line.replace(" ", "\u00a0", 1) + " \u00a0"
        elif kind == 1 and roll < 0.09:
            line = line.replace(" et al.", "…")
        elif kind == 1 and roll < 0.10:
            line = "\u200b" + line.replace(" ", "\u200d ", 2)
        elif kind == 1 and roll < 0.105:
            line = line.split(",")[0].lower()  # a title with no author list
        elif kind == 2 and roll < 0.05:
            cut = len(line) // 2
            line = line[:cut] + "\n" + line[cut:]  # a wrapped abstract
        elif kind == 2 and roll < 0.08:
            line = "\t" + line.replace(". ", ".\x0b ", 1) + "\x85"
        elif kind == 2 and roll < 0.09:
            line += "\n"  # a blank line between entries
        out.append(line)
    return "\ufeff" + "\r\n".join(out)


def digest(result: ParseResult) -> str:
    """A digest of every field the listing parser fills, and of every problem, in order."""
    h = hashlib.sha256()
    for r in result.records:
        fields = (
            r.line, r.title, r.authors, r.authors_truncated, r.abstract, r.category,
            r.categories, r.published, r.has_code, r.code_url,
        )  # fmt: skip
        h.update(repr(fields).encode())
    for p in result.problems:
        h.update(repr((p.line, p.field, p.message, p.source)).encode())
    return h.hexdigest()


def results() -> dict[str, ParseResult]:
    text = _generated()
    return {
        "generated": parse_listing(text, as_of=AS_OF, source="generated.txt"),
        "roughened": parse_listing(
            _roughened(text), as_of=AS_OF, source="rough.txt", known_authors=["Lee, Jae-Hun"]
        ),
    }


def test_parser_output_is_unchanged() -> None:
    got = results()
    # Sanity first, so a broken input builder cannot pass by producing nothing.
    assert len(got["generated"].records) == PAPERS
    assert not got["generated"].problems
    rough = got["roughened"]
    assert 0 < len(rough.problems) < len(rough.records) < PAPERS
    assert {p.field for p in rough.problems} >= {"date", "flag", "category", "authors"}
    assert {name: digest(result) for name, result in got.items()} == EXPECTED


if __name__ == "__main__":
    for name, result in results().items():
        print(f'    "{name}": "{digest(result)}",  # {len(result.records)} records, {len(result.problems)} problems')
        if "--show" in sys.argv:
            for r in result.records:
                print(r.line, r.title, "|", r.authors, r.authors_truncated)
            for p in result.problems:
                print(p)
