"""A writer killed mid-commit leaves files no commit names; the next writer must clear them.

Tantivy names a segment's delete file ``<segment>.<opstamp>.del``. A SIGKILL after that
file is written but before ``meta.json`` names it leaves an orphan whose name the next
commit computes again, and every later commit (searches included) then failed with
FileAlreadyExists. Here the kill is reproduced exactly: the commit runs, then the
folder's ``meta.json`` is put back as it was before, keeping the new files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from storage.search_index import IndexRow, SearchIndex


def _rows(n: int, tag: str = "") -> list[IndexRow]:
    return [IndexRow(i, f"paper {i} {tag}".strip(), f"about graphs and trees {tag}") for i in range(1, n + 1)]


def _commit_with_deletes(index: SearchIndex, seq: int) -> None:
    # Re-adding some of the papers deletes their old documents, so the commit writes a .del file
    # for the segment that keeps the others (a segment left with nothing is dropped instead).
    index.add_or_update(_rows(3, f"v{seq}"))
    index.commit(seq, "store-1")


def test_writer_clears_files_a_killed_commit_left(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    index = SearchIndex.open(folder)
    index.add_or_update(_rows(5))
    index.commit(1, "store-1")
    index.close()

    before = tmp_path / "before-kill"
    shutil.copytree(folder, before)
    index = SearchIndex.open(folder)
    _commit_with_deletes(index, 2)
    index.close()
    orphans = {p.name for p in folder.iterdir()} - {p.name for p in before.iterdir()}
    assert any(name.endswith(".del") for name in orphans), orphans
    # The kill: the files of commit 2 stay on disk (and in .managed.json, which Tantivy writes
    # before it creates a file), but meta.json is still that of commit 1.
    shutil.copy2(before / "meta.json", folder / "meta.json")

    index = SearchIndex.open(folder)
    try:
        assert index.count() == 5
        _commit_with_deletes(index, 2)  # the same opstamp, so the same .del name, as the lost commit
        assert index.count() == 5
        assert index.seen_version() == 2
        assert sorted(index.ids_mentioning(["graphs and trees v2"])) == [1, 2, 3]
    finally:
        index.close()
