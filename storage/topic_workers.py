"""Matching a big batch's papers against the topic index in worker processes, one per core.

Linking a paper to the topics its text names is pure Python over its words (a fifth
of a million-paper ingest); once a batch has learnt its topics, every paper's match
is independent of every other's. Below ``AT_LEAST`` papers, starting the processes
and sending them the index costs more than it saves, and the caller matches in-process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from storage.text import phrase_words
from storage.topics import TopicIndex

AT_LEAST = 50_000  # papers in a batch before matching moves to worker processes
_CHUNK = 4_000  # papers a worker matches per call

Text = tuple[int, str, str]  # paper id, title, abstract

# The worker process's copy of the index, set once by _start (a spawned process imports this
# module afresh, so nothing here is shared with the parent or outlives the pool).
_index: TopicIndex | None = None


def workers() -> int:
    """Processes to match in: one per core, at most four."""
    return max(1, min(os.cpu_count() or 1, 4))


def matches(index: TopicIndex, texts: Sequence[Text]) -> Iterator[tuple[int, set[int]]]:
    """Each paper's topics, in the order of ``texts``, in this process."""
    for paper_id, title, abstract in texts:
        yield paper_id, index.topics_in(phrase_words(title) + phrase_words(abstract), f"{title}. {abstract}")


def matches_in_workers(index: TopicIndex, texts: Sequence[Text], processes: int) -> Iterator[tuple[int, set[int]]]:
    """``matches`` computed in ``processes`` spawned workers; two chunks per worker in flight at most.

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
            pending: deque[Future[list[tuple[int, set[int]]]]] = deque()
            warm = True
            for start in range(0, len(texts), _CHUNK):
                pending.append(pool.submit(_match, list(texts[start : start + _CHUNK])))
                if len(pending) >= 2 * processes:
                    if warm:
                        # While the first chunks are matched, this process builds its own look-ups,
                        # which the next small ingest needs (0.36 s at a million papers' topics).
                        index.warm()
                        warm = False
                    yield from pending.popleft().result()
            if warm:
                index.warm()
            while pending:
                yield from pending.popleft().result()


def _start(saved: str) -> None:
    global _index
    gc.disable()  # the index is a few hundred thousand objects that each collection would walk again
    with open(saved, "rb") as index_file:
        phrases, acronyms = pickle.load(index_file)  # written by this module's parent just before
    _index = TopicIndex(phrases=phrases, acronyms=acronyms)


def _match(texts: list[Text]) -> list[tuple[int, set[int]]]:
    assert _index is not None, "the pool's initializer sets the index"
    return list(matches(_index, texts))


__all__ = ["AT_LEAST", "Text", "matches", "matches_in_workers", "workers"]
