"""Reading what a big batch's papers teach, and matching them against the topic index, in worker processes.

Both are pure Python over each paper's words and independent of every other paper's:
reading the acronym definitions and title phrases a batch teaches was two fifths of a
million-paper ingest, linking each paper to the topics its text names a fifth. Below
``AT_LEAST`` papers, starting the processes (and sending them the index) costs more
than it saves, and the caller works in-process.
"""

from __future__ import annotations

import functools
import gc
import multiprocessing
import os
import pickle
import tempfile
from array import array
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from storage.phrase_counts import ChunkCounts, count_titles
from storage.text import phrase_words
from storage.topic_links import LINK_SHIFT
from storage.topics import TopicIndex, find_definitions

AT_LEAST = 50_000  # papers in a batch before matching moves to worker processes
_CHUNK = 4_000  # papers a worker reads or matches per call (at most phrase_counts.COUNT_LIMIT)

# Paper id, title, abstract, and the topic id of its category (0 when it has none).
Linked = tuple[int, str, str, int]
# Paper id, title, abstract ("" when neither holds a parenthesis: no acronym is defined
# there, and the abstract need not travel to a worker), and whether its title phrases count.
Teaching = tuple[int, str, str, bool]
_Out = TypeVar("_Out")

# The worker process's copy of the index, set once by _start (a spawned process imports this
# module afresh, so nothing here is shared with the parent or outlives the pool).
_index: TopicIndex | None = None


@dataclass(slots=True)
class Lessons:
    """What a chunk of papers teaches: the acronyms each defines, and how many fresh titles hold each phrase."""

    definitions: dict[int, list[tuple[str, str]]]  # paper id -> (acronym, long form), for papers defining any
    phrases: ChunkCounts


def workers() -> int:
    """Processes to match in: one per core, at most four."""
    return max(1, min(os.cpu_count() or 1, 4))


def packed_links(index: TopicIndex, texts: Sequence[Linked]) -> array:
    """The links of ``texts`` (topics their words name, and their category's), packed and sorted.

    ``texts`` come in ascending paper id, and every id fits a packed link
    (``topic_links.packable``, which the caller checks). A worker sends back one array per
    chunk instead of a set per paper, and the writing process builds no tuple per link.
    """
    out = array("Q")
    extend = out.extend
    for paper_id, title, abstract, category in texts:
        found = index.topics_in(phrase_words(title) + phrase_words(abstract), f"{title}. {abstract}")
        if category:
            found.add(category)
        extend(map((paper_id << LINK_SHIFT).__or__, sorted(found)))
    return out


def links_here(index: TopicIndex, texts: Sequence[Linked]) -> Iterator[tuple[int, array]]:
    """``packed_links`` of each chunk of ``texts``, in this process, with how many texts it held."""
    return _here(functools.partial(packed_links, index), texts)


def lessons(texts: Sequence[Teaching]) -> Lessons:
    """What one chunk of ``texts`` (at most ``_CHUNK``) teaches, read in this process."""
    definitions: dict[int, list[tuple[str, str]]] = {}
    for paper_id, title, abstract, _ in texts:
        if abstract or "(" in title:
            found = find_definitions(f"{title}. {abstract}")
            if found:
                definitions[paper_id] = [(d.acronym, d.phrase) for d in found]
    return Lessons(definitions, count_titles([title for _, title, _, fresh in texts if fresh]))


def lessons_here(texts: Sequence[Teaching]) -> Iterator[tuple[int, Lessons]]:
    """``lessons`` of each chunk of ``texts``, read in this process, with how many texts it held."""
    return _here(lessons, texts)


def _here(work: Callable[[Sequence], _Out], items: Sequence) -> Iterator[tuple[int, _Out]]:
    """``work`` of each chunk of ``items`` in this process, in order, with the chunk's size (as ``_in_flight``)."""
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        yield len(chunk), work(chunk)


def lessons_in_workers(texts: Sequence[Teaching], processes: int) -> Iterator[tuple[int, Lessons]]:
    """``lessons`` of each chunk of ``texts``, read in ``processes`` spawned workers, with how many texts it held.

    In order, two chunks per worker in flight at most. Raises what the pool raises
    (``BrokenProcessPool``, ``OSError``) for the caller to read the rest in-process.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context, initializer=gc.disable) as pool:
        yield from _in_flight(pool, lessons, texts, processes)


def _in_flight(pool: ProcessPoolExecutor, work: Callable[[list], _Out], items: Sequence,
               processes: int, ahead: Callable[[], None] | None = None) -> Iterator[tuple[int, _Out]]:
    """``work`` of each chunk of ``items`` from ``pool``, in order, with the chunk's size.

    ``ahead`` runs once, here, while the first chunks are worked on.
    """
    pending: deque[tuple[int, Future[_Out]]] = deque()
    for start in range(0, len(items), _CHUNK):
        chunk = list(items[start : start + _CHUNK])
        pending.append((len(chunk), pool.submit(work, chunk)))
        if len(pending) >= 2 * processes:
            if ahead is not None:
                ahead()
                ahead = None
            size, future = pending.popleft()
            yield size, future.result()
    if ahead is not None:
        ahead()
    while pending:
        size, future = pending.popleft()
        yield size, future.result()


def links_in_workers(index: TopicIndex, texts: Sequence[Linked], processes: int) -> Iterator[tuple[int, array]]:
    """``links_here`` computed in ``processes`` spawned workers; two chunks per worker in flight at most.

    The index reaches the workers through a temporary file, not the pool's start-up
    arguments: those travel in the pipe a new process is started through, and a
    process that died before reading them left the parent blocked on that pipe for
    good. Raises what the pool raises (``BrokenProcessPool``, ``OSError``) for the
    caller to go on in-process from the first paper it did not get.
    """
    with tempfile.TemporaryDirectory(prefix="paperboy-topics-") as folder:
        saved = Path(folder) / "index.pickle"
        with saved.open("wb") as out:
            pickle.dump((index.phrases, index.acronyms), out, protocol=pickle.HIGHEST_PROTOCOL)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=processes, mp_context=context, initializer=_start,
                                 initargs=(str(saved),)) as pool:
            # While the first chunks are matched, this process builds its own look-ups, which
            # the next small ingest needs (0.36 s at a million papers' topics).
            yield from _in_flight(pool, _links, texts, processes, ahead=index.warm)


def _start(saved: str) -> None:
    global _index
    gc.disable()  # the index is a few hundred thousand objects that each collection would walk again
    with open(saved, "rb") as index_file:
        phrases, acronyms = pickle.load(index_file)  # written by this module's parent just before
    _index = TopicIndex(phrases=phrases, acronyms=acronyms)


def _links(texts: list[Linked]) -> array:
    assert _index is not None, "the pool's initializer sets the index"
    return packed_links(_index, texts)


__all__ = ["AT_LEAST", "Lessons", "Linked", "Teaching",
           "lessons", "lessons_here", "lessons_in_workers", "links_here", "links_in_workers",
           "packed_links", "workers"]
