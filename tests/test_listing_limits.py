"""The listing parser's limits: linear in its input, over-long lines reported and skipped, parsed off the loop."""

from __future__ import annotations

import asyncio
import threading
from datetime import date
from pathlib import Path

import aiohttp

import feeds.sources.listing as listing
from feeds.sources.fetch import Fetcher
from feeds.sources.listing import MAX_LINE_CHARS, parse_listing
from feeds.sources.poll import SourceSpec, poll

AS_OF = date(2024, 6, 1)
GOOD = (
    "CVApr 3, 2023Code\n"
    "A Study of Robust ThingsJane Doe, John Smith\n"
    "We study things; code at https://example.org/things.\n"
    "LGMay 2, 2023\n"
    "Another Study of StuffAda Lovelace, Alan Turing et al.\n"
    "Stuff is studied.\n"
)


def _with_line(line: str) -> str:
    return GOOD + "CVApr 4, 2023\n" + line + "\nThe abstract of the long entry.\n" + GOOD.replace("Study", "Survey")


def test_a_five_megabyte_line_is_reported_with_file_and_line_and_the_rest_is_stored() -> None:
    huge = "Ab CdEf, " * (5_000_000 // 9)
    result = parse_listing(_with_line(huge), as_of=AS_OF, source="lab.txt")
    assert [r.title for r in result.records] == [
        "A Study of Robust Things", "Another Study of Stuff",
        "A Survey of Robust Things", "Another Survey of Stuff",
    ]
    [problem] = result.problems
    assert (problem.source, problem.line, problem.field) == ("lab.txt", 8, "line")
    assert f"{len(huge):,} characters" in problem.message and "65,536" in problem.message
    assert str(problem).startswith("lab.txt:8: line: ")


def test_a_line_at_the_cap_is_still_read() -> None:
    title = "A Title of Many Words " * 40
    authors = ", ".join(["Jane Doe"] * ((MAX_LINE_CHARS - len(title)) // 10))
    line = (title.strip() + "Jane Doe, " + authors)[:MAX_LINE_CHARS]
    line = line[: line.rfind(",")]
    assert len(line) <= MAX_LINE_CHARS
    result = parse_listing(_with_line(line), as_of=AS_OF, source="lab.txt")
    assert not result.problems
    long_one = result.records[2]
    assert long_one.title == title.strip()
    assert set(long_one.authors) == {"Jane Doe"} and len(long_one.authors) > 5_000


def test_thousands_of_name_shaped_segments_give_one_reading() -> None:
    # Every segment offers a split point ("Ab Cd|Ef"): the old search built a title and
    # an author tuple per candidate, quadratic in the segments; the reading must not change.
    line = "Camel Humps in CdEf" + "".join(", Ab CdEf" for _ in range(3_000))
    result = parse_listing(_with_line(line), as_of=AS_OF)
    record = result.records[2]
    assert record.title == "Camel Humps in Cd"
    assert record.authors[0] == "Ef" and len(record.authors) == 3_001


def test_a_wrapped_abstract_of_many_lines_is_joined_whole() -> None:
    text = GOOD + "CVApr 4, 2023\nWrapped AbstractsJane Doe\n" + "\n".join(f"part {i}" for i in range(8_000)) + "\n"
    result = parse_listing(text, as_of=AS_OF)
    abstract = result.records[-1].abstract
    assert abstract.startswith("part 0 part 1 ") and abstract.endswith("part 7999")


async def test_poll_parses_in_a_worker_thread(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "lab.txt"
    path.write_text(GOOD)
    seen: list[int] = []
    real = listing.parse_listing

    def spy(*args, **kwargs):  # records the thread, then runs the real parser
        seen.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr("feeds.sources.poll.parse_listing", spy)
    async with aiohttp.ClientSession() as session:
        outcome = await poll(SourceSpec(name="lab", kind="listing", url=str(path)), Fetcher(session))
    assert len(outcome.result.records) == 2
    assert seen and seen[0] != threading.get_ident()
    assert asyncio.get_running_loop().is_running()
