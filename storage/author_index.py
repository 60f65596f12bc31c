"""The author index: every author's key and paper count in a few flat arrays, ranked for look-up.

Authors are numbered by rank (most papers first, then key), so a list of
authors sorted by number is sorted by how prominent they are, and the best k
of any set are its k smallest numbers. What is held:

- the keys, UTF-8, one per line in rank order in one ``bytes`` (a look-up
  decodes only the keys it returns), with their offsets and paper counts;
- the sorted distinct names (pieces of keys, and given names of several
  pieces whole) and, per name, the authors who have it as surname or given
  name then those who have it as another piece, each run sorted by rank, all
  in one array, so the authors of every name starting with a prefix are one
  contiguous slice;
- for each prefix whose slice is long (one or two letters), its best ranks,
  so autocomplete never reads more than a few thousand numbers.

No Python object per author or per posting: at a million papers (431,279 authors)
the arrays take about 50 bytes an author and the process holds 64 MB more once the
index is built, where the dict-of-lists index before it held 164 MB.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterable, Iterator
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import OSA

from storage.authors import (
    PART,
    PIECES,
    PREFIX,
    Candidate,
    name_set,
    ranked,
    score_many,
    score_names,
)
from storage.packed import PackedStrings
from storage.text import author_key

_END = chr(0x10FFFF)
SCAN = 4_000  # postings a prefix reads directly; a prefix with more keeps its best ranks
TOP = 500  # best ranks kept per crowded prefix: several pages, since some are taken or filtered out
MAX_EXACT = 2_000  # authors with every typed piece as a whole name that are scored one by one
MAX_CANDIDATES = 1_000  # as the index before: a typo's driver authors looked at, most prolific first
PREFIX_TAKE = 100
MAX_TYPO_CANDIDATES = 300  # similarity is scored in Python: only the most prolific of a typo's namesakes


class AuthorRows:
    """Collects (key, paper count) rows, a chunk at a time, into the flat arrays of an AuthorIndex."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._blob = bytearray(b"\n")
        self._starts = array("I", [1])
        self._counts = array("I")
        self._by_rank = self._by_key = True
        self._last: tuple[int, str] | None = None

    def add(self, rows: Iterable[tuple[str, int]]) -> None:
        """Rows by key, as the store reads them (most papers first is fine too; any order is sorted at build)."""
        blob, starts, counts = self._blob, self._starts, self._counts
        for key, count in rows:
            if self._last is not None:
                if self._by_key and key < self._last[1]:
                    self._by_key = False
                if self._by_rank and (-count, key) < self._last:
                    self._by_rank = False
            self._last = (-count, key)
            blob += key.encode()
            blob += b"\n"
            starts.append(len(blob))
            counts.append(count)

    def build(self) -> AuthorIndex:
        index = AuthorIndex.__new__(AuthorIndex)
        self._finish(index)
        return index

    def _finish(self, index: AuthorIndex) -> None:
        if not self._by_rank:
            if self._by_key:
                self._rank_by_count()
            else:  # arbitrary order (tests, small stores): sort the rows themselves
                keys = self._blob[1:-1].decode().split("\n") if self._counts else []
                counts = self._counts
                self._reset()
                self.add(sorted(zip(keys, counts, strict=True), key=lambda row: (-row[1], row[0])))
        index._adopt(self._blob, self._starts, self._counts)  # the bytearray itself: no copy
        self._reset()

    def _rank_by_count(self) -> None:
        """Rows by key into rank order: a stable counting sort by paper count, most first.

        The store reads authors in key order straight off the key's index, so SQLite need not
        hold every row to sort them; this costs one more copy of the keys, briefly.
        """
        blob, starts, counts = self._blob, self._starts, self._counts
        place = array("I", bytes(4 * (max(counts) + 2)))  # per count, where its next author goes
        for count in counts:
            place[count] += 1
        total = 0
        for count in range(len(place) - 1, -1, -1):
            total, place[count] = total + place[count], total
        order = array("I", bytes(4 * len(counts)))
        for i, count in enumerate(counts):
            order[place[count]] = i
            place[count] += 1
        del place
        self._reset()
        out, out_starts, out_counts = self._blob, self._starts, self._counts
        for i in order:
            out += blob[starts[i]:starts[i + 1]]
            out_starts.append(len(out))
            out_counts.append(counts[i])


class AuthorIndex:
    """Ranked author keys with the postings of their names; build with ``AuthorIndex(rows)`` or AuthorRows."""

    def __init__(self, rows: Iterable[tuple[str, int]] = ()) -> None:
        """``rows``: (key, paper count) pairs, in any order."""
        collector = AuthorRows()
        collector.add(rows)
        collector._finish(self)

    def _adopt(self, blob: bytearray, starts: array, counts: array) -> None:
        self._blob, self._starts, self.counts = blob, starts, counts
        self._build_postings()

    # -- building -------------------------------------------------------------

    def _build_postings(self) -> None:
        # One pass numbers the names and lists (name, role) and rank per posting in two flat
        # arrays, counting each run; the runs are then laid out in name order. No Python object
        # per posting or per run, so building costs little more memory than the index itself.
        ids: dict[str, int] = {}
        slots = array("I")  # name id * 2 + 1 when the name is not the author's surname or given name
        ranks = array("I")
        sizes = array("I")  # per slot, how many postings
        add_slot, add_rank, find = slots.append, ranks.append, ids.get
        rank = 0
        for keys in self._key_chunks():
            for key in keys:
                pieces = key.split("-")
                surname = pieces[-1]
                if len(pieces) > 2:
                    given = "".join(pieces[:-1])
                    names: Iterable[str] = {*pieces, given}
                else:
                    given = pieces[0] if len(pieces) == 2 else ""
                    names = pieces if given != surname else pieces[1:]
                for name in names:
                    i = find(name)
                    if i is None:
                        i = ids[name] = len(ids)
                        sizes.extend((0, 0))
                    slot = 2 * i + (name != surname and name != given)
                    add_slot(slot)
                    add_rank(rank)
                    sizes[slot] += 1
                rank += 1
        names_sorted = sorted(ids)
        ends = array("I", bytes(4 * (2 * len(names_sorted) + 1)))
        fill = array("I", bytes(4 * len(sizes)))  # per slot, where its next posting goes
        total = 0
        for at, name in enumerate(names_sorted):
            i = 2 * ids[name]
            fill[i] = total
            total += sizes[i]
            ends[2 * at + 1] = total
            fill[i + 1] = total
            total += sizes[i + 1]
            ends[2 * at + 2] = total
        del ids, sizes
        postings = array("I", bytes(4 * len(ranks)))
        for slot, rank in zip(slots, ranks, strict=True):
            postings[fill[slot]] = rank  # ranks come in order, so each run is sorted
            fill[slot] += 1
        del slots, ranks, fill
        names = names_sorted
        self._postings, self._pstarts, self._splits = postings, ends[0::2], ends[1::2]
        # Typos are looked for among names of the same initial and a similar length only; each
        # such bucket is one string, split when a typo is looked for.
        by_shape: dict[tuple[str, int], list[str]] = {}
        for name in names:
            by_shape.setdefault((name[0], len(name)), []).append(name)
        self._by_shape = {shape: "\n".join(bucket) for shape, bucket in by_shape.items()}
        del by_shape
        self.names = PackedStrings(names)
        del names
        self._tops: dict[str, array] = {}
        self._fill_tops("", 0, len(self.names))

    def _fill_tops(self, prefix: str, lo: int, hi: int) -> None:
        """Keep the best ranks of every prefix whose authors are too many to read at look-up."""
        if self._pstarts[hi] - self._pstarts[lo] <= SCAN:
            return
        if prefix:
            self._tops[prefix] = array("I", sorted(set(self._postings[self._pstarts[lo]:self._pstarts[hi]]))[:TOP])
        names, depth = self.names, len(prefix)
        i = lo + 1 if names[lo] == prefix else lo
        while i < hi:
            child = names[i][: depth + 1]
            j = bisect.bisect_left(names, child + _END, i, hi)
            self._fill_tops(child, i, j)
            i = j

    # -- as flat parts (storage/author_build.py) ------------------------------

    # The flat parts, in order: (name, typecode). Everything else is a few small dicts.
    PARTS = (("blob", "B"), ("starts", "I"), ("counts", "I"), ("postings", "I"), ("pstarts", "I"),
             ("splits", "I"), ("names", "B"), ("name_ends", "I"))

    def parts(self) -> tuple[dict[str, Any], dict[tuple[str, int], str], dict[str, array]]:
        """The flat parts by name (see PARTS), the typo buckets and the crowded prefixes' best ranks."""
        flat = {"blob": self._blob, "starts": self._starts, "counts": self.counts, "postings": self._postings,
                "pstarts": self._pstarts, "splits": self._splits}
        flat["names"], flat["name_ends"] = self.names.parts()
        return flat, self._by_shape, self._tops

    @classmethod
    def from_parts(
        cls, flat: dict[str, Any], by_shape: dict[tuple[str, int], str], tops: dict[str, array]
    ) -> AuthorIndex:
        """An index from ``parts()``: each flat part anything that slices to bytes ("B") or indexes to ints ("I")."""
        index = cls.__new__(cls)
        index._blob, index._starts, index.counts = flat["blob"], flat["starts"], flat["counts"]
        index._postings, index._pstarts, index._splits = flat["postings"], flat["pstarts"], flat["splits"]
        index.names = PackedStrings.from_parts(flat["names"], flat["name_ends"])
        index._by_shape, index._tops = by_shape, tops
        return index

    # -- reading --------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.counts)

    def key(self, rank: int) -> str:
        return self._blob[self._starts[rank]:self._starts[rank + 1] - 1].decode()

    def _key_chunks(self, size: int = 8_192) -> Iterator[list[str]]:
        """Every key in rank order, a chunk decoded at a time."""
        blob, starts, n = self._blob, self._starts, len(self.counts)
        for lo in range(0, n, size):
            hi = min(n, lo + size)
            yield blob[starts[lo]:starts[hi] - 1].decode().split("\n")

    def _range(self, prefix: str) -> tuple[int, int]:
        """The names starting with ``prefix``: names[lo:hi]."""
        lo = bisect.bisect_left(self.names, prefix)
        return lo, bisect.bisect_left(self.names, prefix + _END, lo)

    def _exact(self, name: str) -> int:
        """The index of ``name`` among the names, or -1."""
        i = bisect.bisect_left(self.names, name)
        return i if i < len(self.names) and self.names[i] == name else -1

    def _slice(self, lo: int, hi: int) -> array:
        return self._postings[self._pstarts[lo]:self._pstarts[hi]]

    def _size(self, lo: int, hi: int) -> int:
        return self._pstarts[hi] - self._pstarts[lo]

    def _best_starting(self, prefix: str, take: int, skip: set[int]) -> list[int]:
        """The ``take`` best authors with a name starting with ``prefix``, leaving out ``skip``."""
        lo, hi = self._range(prefix)
        if lo == hi:
            return []
        if self._size(lo, hi) <= SCAN:
            found = sorted(set(self._slice(lo, hi)))
        else:
            found = self._tops[prefix]
        out: list[int] = []
        for rank in found:
            if rank not in skip:
                out.append(rank)
                if len(out) >= take:
                    break
        return out

    # -- look-up --------------------------------------------------------------

    def candidates(self, query: str, limit: int) -> list[Candidate]:
        key = author_key(query)
        if not key or limit <= 0 or not self.counts:
            return []
        pieces = key.split("-")
        if len(pieces) == 1:
            found = self._single(pieces[0], limit)
        else:
            found = self._multi(pieces, limit)
        if found and found[0].score >= PREFIX:
            return found
        # Nothing starts with what was typed: look for names a typo or two away.
        return self._typos(pieces, limit)

    def _single(self, q: str, limit: int) -> list[Candidate]:
        """One piece: its surnames and given names, its other pieces, then the names it starts."""
        out: list[Candidate] = []
        at = self._exact(q)
        if at >= 0:
            start, split, stop = self._pstarts[at], self._splits[at], self._pstarts[at + 1]
            out += [Candidate(r, PART) for r in self._postings[start:min(split, start + limit)]]
            if len(out) < limit:
                out += [Candidate(r, PIECES) for r in self._postings[split:min(stop, split + limit - len(out))]]
            if len(out) < limit:
                taken = {c.index for c in out}  # every author with the name itself
                out += [Candidate(r, PREFIX) for r in self._best_starting(q, limit - len(out), taken)]
            return out
        return [Candidate(r, PREFIX) for r in self._best_starting(q, limit, set())]

    def _multi(self, query_pieces: list[str], limit: int) -> list[Candidate]:
        """Several pieces: those with every piece as a name, then those whose names every piece starts."""
        distinct = list(dict.fromkeys(query_pieces))
        scored: dict[int, float] = {}

        def score(ranks: Iterable[int]) -> None:
            for rank in ranks:
                if rank not in scored:
                    scored[rank] = score_names(query_pieces, self.key(rank).split("-"))

        # Every piece a whole name of theirs: the intersection of exact postings, smallest first.
        exact = [self._exact(q) for q in distinct]
        if all(i >= 0 for i in exact):
            runs = sorted((self._slice(i, i + 1) for i in exact), key=len)
            both = set(runs[0])
            for run in runs[1:]:
                both.intersection_update(run)
            # Past the first page only a whole-name match can still rank: the rest are PIECES at best,
            # so only those with the typed letters' count are scored (every FULL form has it).
            letters = len("".join(query_pieces))
            ranks = sorted(both)[:MAX_EXACT]
            score(ranks[:limit])
            score(r for r in ranks[limit:] if (k := self.key(r)) and len(k) - k.count("-") == letters)
        # "jung woo" is the whole given name "jungwoo".
        whole = "".join(distinct)
        at = self._exact(whole)
        if at >= 0:
            score(self._postings[self._pstarts[at]:min(self._splits[at], self._pstarts[at] + limit)])
        better = sum(1 for s in scored.values() if s > PREFIX)
        if better < limit:
            score(self._all_start(distinct, limit - better, scored))
        strong = sum(1 for s in scored.values() if s >= PREFIX)
        if 0 < strong < limit:
            # Room left: near misses through the whole of what was typed ("jung woo" → "jungwook").
            joined = list(self._slice(at, at + 1)[:MAX_CANDIDATES]) if at >= 0 else []
            score(joined + self._best_starting(whole, PREFIX_TAKE, set(joined)))
        return ranked([Candidate(r, s) for r, s in scored.items() if s >= 0.5 * 75.0], limit)

    def _starts_all(self, rank: int, pieces: list[str]) -> bool:
        """Whether every one of ``pieces`` starts a name of the author at ``rank``."""
        key = self.key(rank)
        dashed = "-" + key
        for q in pieces:
            if "-" + q in dashed:
                continue  # starts a piece
            parts = key.split("-")
            if len(parts) > 2 and "".join(parts[:-1]).startswith(q):
                continue  # starts a given name of several pieces ("jaeh" → "jae-hun")
            return False
        return True

    def _all_start(self, distinct: list[str], take: int, skip: dict[int, float]) -> list[int]:
        """The ``take`` best authors, outside ``skip``, whose names every piece starts."""
        ranges = {q: self._range(q) for q in distinct}
        sizes = {q: self._size(*ranges[q]) for q in distinct}
        if not all(sizes.values()):
            return []
        order = sorted(distinct, key=sizes.__getitem__)
        driver, others = order[0], order[1:]
        out: list[int] = []
        authors = max(len(self), 1)
        shares = {q: min(1.0, sizes[q] / authors) for q in distinct}
        if sizes[driver] > SCAN and TOP * math.prod(shares[q] for q in others) >= 2 * take:
            # A crowded driver whose best authors likely hold the answer: they are kept.
            for rank in self._tops[driver]:
                if rank not in skip and self._starts_all(rank, others):
                    out.append(rank)
                    if len(out) >= take:
                        return out
            out.clear()
        found = set(self._slice(*ranges[driver]))
        check: list[str] = []
        passing = 1.0  # the share of candidates expected to pass the pieces left to test
        for q in others:
            # Reading a posting costs about 1/30 of testing one candidate's names; the candidates
            # tested before the answer is full are about take / the share passing (four times that,
            # since names are not drawn independently: "ji su k" is rarer than its parts suggest).
            tested = min(len(found), 4 * take / (passing * shares[q]))
            if sizes[q] <= 30 * tested:
                found.intersection_update(self._slice(*ranges[q]))
            else:
                check.append(q)
                passing *= shares[q]
        for rank in sorted(found):
            if rank in skip or (check and not self._starts_all(rank, check)):
                continue
            out.append(rank)
            if len(out) >= take:
                break
        return out

    # -- typos ----------------------------------------------------------------

    def _typo_names(self, q: str) -> set[str]:
        """Names one edit from ``q`` (two from seven letters on; two letters swapped count as one edit),
        among those of its initial and a length at most one off; two off only when that finds none."""
        if len(q) < 4:
            return set()
        cutoff = 1 if len(q) < 7 else 2
        found: set[str] = set()
        for lengths in ((len(q) - 1, len(q), len(q) + 1), (len(q) - 2, len(q) + 2)):
            if found or (cutoff < 2 and len(lengths) == 2):
                break
            for length in lengths:
                bucket = self._by_shape.get((q[0], length), "").split("\n")
                for name, _, _ in process.extract(
                        q, bucket, scorer=OSA.distance, score_cutoff=cutoff, limit=20):
                    found.add(name)
        return found

    def _authors_of(self, q: str, typos: set[str], take: int) -> list[int]:
        """The ``take`` best authors with a name ``q`` starts or one of ``typos``."""
        found = set(self._best_starting(q, take, set()))
        for name in typos:
            at = self._exact(name)
            found.update(self._slice(at, at + 1)[:take])
        return sorted(found)[:take]

    def _typos(self, query_pieces: list[str], limit: int) -> list[Candidate]:
        distinct = list(dict.fromkeys(query_pieces))
        # A piece that is somebody's whole name is taken as typed; the others may be typos.
        typos = {q: self._typo_names(q) if self._exact(q) < 0 else set() for q in distinct}
        if not any(typos.values()) and len(distinct) == 1:
            return []
        runs = {q: [self._range(q), *((i, i + 1) for i in map(self._exact, typos[q]))] for q in distinct}
        sizes = {q: sum(self._size(lo, hi) for lo, hi in runs[q]) for q in distinct}
        driver = min(distinct, key=sizes.__getitem__)
        ordered = self._authors_of(driver, typos[driver], MAX_CANDIDATES + PREFIX_TAKE)
        found = set(ordered)
        others = sorted((q for q in distinct if q != driver), key=sizes.__getitem__)
        if others:
            keep = set(ordered)
            check = []
            for q in others:
                if sizes[q] <= 30 * len(keep):  # cheaper to read its postings than to test each name
                    having: set[int] = set()
                    for lo, hi in runs[q]:
                        having.update(self._slice(lo, hi))
                    keep &= having
                else:
                    check.append(q)
            if check:
                keep = {r for r in keep if self._names_match(r, check, typos)}
            whole = "".join(distinct)
            found = keep | set(self._authors_of(whole, set(), MAX_CANDIDATES + PREFIX_TAKE))
            if not found:
                # No author has every piece: settle for those with most of them, each piece bringing
                # its own share, so a common given name does not crowd out the rare surname's people.
                for q in distinct:
                    found.update(self._authors_of(q, typos[q], MAX_TYPO_CANDIDATES // len(distinct)))
        best = sorted(found)[:MAX_TYPO_CANDIDATES]
        scores = score_many(query_pieces, [self.key(r).split("-") for r in best])
        return ranked([Candidate(r, s) for r, s in zip(best, scores, strict=True) if s >= 0.5 * 75.0], limit)

    def _names_match(self, rank: int, pieces: list[str], typos: dict[str, set[str]]) -> bool:
        names = name_set(self.key(rank).split("-"))
        return all(any(n.startswith(q) or n in typos[q] for n in names) for q in pieces)


__all__ = ["AuthorIndex", "AuthorRows"]
