"""Citations: stable, collision-free keys; escaped BibTeX a parser reads back; RIS and CSL-JSON; CLI and /paper cite."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import bibtexparser
import pytest

from bot import citing
from feeds.sources.listing import parse_listing_file
from paperboy.cli import main
from storage import cite
from storage.models import Paper
from storage.store import Store
from tests.bot_fixtures import BASE_URL, running_bot

DEMO = Path(__file__).parent.parent / "paperboy" / "demo" / "lab.txt"


def paper(n: int = 1, **fields: object) -> Paper:
    base: dict[str, object] = {
        "id": n,
        "key": f"2304.{n:05d}",
        "title": "Self-Supervised Learning (SSL) for OOD",
        "authors": ("Jae-Hun Lee", "Doyoung Yoon"),
        "authors_truncated": False,
        "abstract": "An abstract.",
        "category": "CV",
        "published": date(2023, 4, 7),
        "has_code": False,
        "code_url": None,
        "first_seen_at": datetime(2024, 1, 1, tzinfo=UTC),
        "updated_at": datetime(2024, 1, 1, tzinfo=UTC),
        "arxiv_id": f"2304.{n:05d}",
    }
    base.update(fields)
    return Paper(**base)  # type: ignore[arg-type]


@pytest.fixture
async def store(tmp_path: Path) -> Store:
    store = await Store.open(tmp_path / "cite.db")
    await store.ingest(parse_listing_file(DEMO, as_of=date(2026, 6, 1)).records, source="lab.txt")
    yield store
    await store.close()


def test_keys_are_stable_readable_and_never_collide() -> None:
    first = paper(1)
    assert cite.citation_key(first) == cite.citation_key(replace(first, title=first.title, abstract="changed"))
    assert cite.citation_key(first).startswith("lee2023self-")
    # Same first author, year and first word: the tag from the store key still tells them apart.
    twins = [paper(n, key=f"same-title-{n}", title=first.title) for n in range(500)]
    assert len({cite.citation_key(p) for p in twins}) == 500
    odd = paper(2, authors=("Zoë Ångström-Ünal",), title="The <b>&</b> of ~x", published=None)
    assert cite.citation_key(odd).startswith("angstromunalnd")
    assert all(c.isalnum() or c == "-" for c in cite.citation_key(odd))


def test_latex_specials_are_escaped_and_the_entry_parses_back() -> None:
    hostile = paper(
        3,
        title="100% of {Braces} & $money$ #1 under_score ~tilde ^caret \\backslash in ResNet-50",
        authors=("Zoë Ångström", "O'Brien & Sons", "Łukasz van der Berg"),
        authors_truncated=True,
        doi="10.1000/a_b%c",
        journal_ref="Journal of A & B",
        code_url="https://github.com/x/y#readme",
    )
    text = cite.bibtex(hostile, url="https://papers.example.org/papers/2304.00003")
    title = text.split("title = ")[1].split("\n")[0]
    # Every LaTeX special is escaped: none stands without its backslash.
    assert not re.search(r"(?<!\\)[&%$#_]", title), title
    assert "{\\textbackslash}backslash" in title and "{\\textasciitilde}tilde" in title
    assert "100\\% of \\{Braces\\} \\& \\$money\\$ \\#1 under\\_score" in text
    assert "{ResNet-50}" in text  # case kept for styles that lower-case titles
    assert 'Zo\\"e \\r{A}ngstr\\"om and O\'Brien \\& Sons and {\\L}ukasz van der Berg and others' in text
    assert text.startswith("@article{angstrom2023100-")
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks
    (entry,) = library.entries
    assert entry.key == cite.citation_key(hostile)
    assert entry["author"].endswith(" and others")
    assert entry["doi"] == "10.1000/a\\_b\\%c"
    assert entry["year"] == "2023"


def test_ris_and_csl_json() -> None:
    p = paper(4, doi="10.1/x", authors=("Lee, Jae-Hun", "Ludwig van Beethoven"))
    ris = cite.ris(p, url="https://site/papers/2304.00004")
    lines = ris.splitlines()
    assert lines[0] == "TY  - GEN" and lines[-1] == "ER  -"
    assert "AU  - Lee, Jae-Hun" in lines and "AU  - van Beethoven, Ludwig" in lines
    assert "DO  - 10.1/x" in lines and "UR  - https://site/papers/2304.00004" in lines
    assert "DA  - 2023/04/07" in lines
    (item,) = json.loads(cite.render([p], "csl-json"))
    assert item["id"] == cite.citation_key(p)
    assert item["author"][1] == {"family": "van Beethoven", "given": "Ludwig"}
    assert item["issued"] == {"date-parts": [[2023, 4, 7]]}
    assert item["DOI"] == "10.1/x"
    with pytest.raises(ValueError, match="bibtex, ris, csl-json"):
        cite.render([p], "mla")


def test_cli_cite_prints_each_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "cli.db")

    async def build() -> list[Paper]:
        async with await Store.open(db) as store:
            await store.ingest(parse_listing_file(DEMO, as_of=date(2026, 6, 1)).records, source="lab.txt")
            return await store.latest(2)

    papers = asyncio.run(build())
    keys = [p.key for p in papers]
    config = tmp_path / "paperboy.toml"
    config.write_text('[http]\npublic_url = "https://papers.example.org/lab"\n')
    assert main(["--db", db, "--config", str(config), "cite", *keys]) == 0
    out = capsys.readouterr().out
    library = bibtexparser.parse_string(out)
    assert len(library.entries) == 2 and not library.failed_blocks
    # [http] public_url is where the cited page lives.
    assert f"url = {{https://papers.example.org/lab/papers/{keys[0]}}}" in out
    assert main(["--db", db, "cite", keys[0], "--format", "ris"]) == 0
    assert capsys.readouterr().out.startswith("TY  - GEN\nID  - ")
    assert main(["--db", db, "cite", keys[0], keys[1], "--format", "csl-json"]) == 0
    assert [i["id"] for i in json.loads(capsys.readouterr().out)] == [cite.citation_key(p) for p in papers]
    # `paperboy ask` shows what /paper cite would post.
    assert main(["--db", db, "ask", f"/paper cite key:{keys[0]}"]) == 0
    assert capsys.readouterr().out.startswith("```bibtex\n@misc{" + cite.citation_key(papers[0]) + ",")
    assert main(["--db", db, "cite", "no-such-key"]) != 0
    assert "no paper has the key 'no-such-key'" in capsys.readouterr().err


async def test_paper_cite_in_discord_code_block_then_file(store: Store) -> None:
    papers = await store.latest(20)
    async with running_bot(store) as h:
        one = await h.slash("paper", "cite", options={"key": papers[0].key})
        assert one.content.startswith("```bibtex\n@") and one.content.endswith("```")
        assert f"url = {{{BASE_URL}papers/{papers[0].key}}}" in one.content
        assert not one.message["attachments"]
        many = await h.slash("paper", "cite", options={"key": " ".join(p.key for p in papers)})
        assert "attached as" in many.content
        (attachment,) = many.message["attachments"]
        assert attachment["filename"] == "paperboy-20-papers.bib"
        assert attachment["size"] > 2000
        missing = await h.slash("paper", "cite", options={"key": "no-such-paper"})
        assert missing.ephemeral and "No paper has the key 'no-such-paper'" in missing.content
        assert h.emu.unhandled == []
    direct = await citing.paper_cite(store, ", ".join(p.key for p in papers), base_url=BASE_URL)
    assert direct.data is not None and len(bibtexparser.parse_string(direct.data.decode()).entries) == 20
