"""The full-text search index beside the store: a Tantivy folder derived from the papers table.

SQLite stays the source of truth. Every change to a paper's searchable text
appends a row to ``search_log`` in the writer's own transaction: an insert by
the store's one INSERT of papers (migration 0014), an update or a delete by
trigger (migration 0002). ``SearchIndex.sync`` applies the rows after the last one the
index committed, commits them together with a marker document that records
that row's number, and then writes the same number to ``meta`` in SQLite. A
crash anywhere in between leaves the marker at or behind the truth, and the
next sync replays from it; replaying is idempotent.

Queries are built from the plan a search is served by (``storage.search_rank``:
word tokens only, never Tantivy's query parser, which raises on ordinary text),
with the title boosted over the abstract, quoted runs read as phrases, and
learnt acronyms and their long forms as alternatives of each other. The whole
mix is answered by block-max WAND for single terms and by Tantivy's skipping
intersections otherwise.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import tantivy

from storage import search_log
from storage import search_rank as rank
from storage.errors import StoreError
from storage.search import Expansions
from storage.search_pairs import FIELD as PAIR_FIELD
from storage.search_pairs import Pairs
from storage.search_query import make_analyzer, plan_query
from storage.search_rank import Alt, Group, Plan
from storage.search_terms import TOKENIZER, TextTerms, index_analyzer

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4  # 3: the pairs field (storage.search_pairs); 4: analysed text (storage.search_terms)
MARKER_ID = 0  # papers have ids from 1; this document holds what the index has seen
_WRITER_HEAP = 64_000_000
_REBUILD_HEAP = 128_000_000  # the service's RSS budget is 300 MB
_BATCH = 2_000
_BULK_AT = 20_000  # pending papers from which a big writer pays for itself
_REBUILD_AT = 200_000  # pending log rows from which reading the whole table is cheaper


@dataclass(frozen=True, slots=True)
class IndexRow:
    """What the index needs of a paper."""

    paper_id: int
    title: str
    abstract: str


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one sync did: log rows read, documents written and deleted, the seq now seen."""

    applied: int = 0
    added: int = 0
    deleted: int = 0
    seen: int = 0
    rebuilt: bool = False
    read_only: bool = False


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # Signed: the bindings build i64 terms from Python ints, so deletes by term need an i64 field.
    builder.add_integer_field("id", stored=False, indexed=True, fast=True)
    # Each holds its text's terms as make_analyzer reads them, given by storage.search_terms.
    builder.add_text_field("title", stored=False, tokenizer_name=TOKENIZER, index_option="position")
    builder.add_text_field("abstract", stored=False, tokenizer_name=TOKENIZER, index_option="position")
    # Pairs of common words as single terms; only which papers hold them (storage.search_pairs).
    builder.add_text_field(PAIR_FIELD, stored=False, tokenizer_name="raw", index_option="basic")
    # Only the marker document carries these two.
    builder.add_unsigned_field("seq", stored=True, indexed=False, fast=False)
    builder.add_text_field("store", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_unsigned_field("schema", stored=True, indexed=False, fast=False)
    return builder.build()


# -- the index -----------------------------------------------------------------------------


class SearchIndex:
    """A Tantivy index of paper ids over title and abstract, kept in step with ``search_log``.

    Open with ``SearchIndex.open(folder)`` (``None`` keeps it in memory, for
    tests). One process at a time can write (Tantivy's lock); another process
    that opens the same folder searches what was last committed and leaves
    syncing to the writer (``SyncReport.read_only``).
    """

    def __init__(self, folder: Path | None, index: tantivy.Index, *, pair_field: bool = True) -> None:
        self.folder = folder
        self._index = index
        self._schema = index.schema
        self._analyzer = rank.Analyzer()
        self._terms = TextTerms(make_analyzer())
        # ``pair_field=False`` writes no pairs (for measuring what they cost; see bench.pairs_bench).
        self._pair_maker = Pairs(make_analyzer()) if pair_field else None
        # What queries use; None answers phrases without the pair field (for comparing the two).
        self.pairs: Pairs | None = self._pair_maker
        self._writer: tantivy.IndexWriter | None = None
        self._lock = threading.RLock()  # one writer at a time inside this process
        self._read_only = False

    @classmethod
    def open(cls, folder: str | Path | None, *, pair_field: bool = True) -> SearchIndex:
        """Open (or create) the index in ``folder``; an unreadable folder is started afresh."""
        if folder is None:
            return cls(None, cls._new_index(None), pair_field=pair_field)
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        try:
            index = tantivy.Index(_schema(), path=str(path), reuse=True)
            index.register_tokenizer(TOKENIZER, index_analyzer())
            probe = cls(path, index, pair_field=pair_field)
            probe._marker()  # fails on a folder holding another schema
            return probe
        except (ValueError, OSError) as exc:
            log.warning("search index at %s is unusable (%s); starting a new one", path, exc)
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
            return cls(path, cls._new_index(path), pair_field=pair_field)

    @staticmethod
    def _new_index(path: Path | None) -> tantivy.Index:
        index = tantivy.Index(_schema(), path=str(path) if path else None, reuse=False)
        index.register_tokenizer(TOKENIZER, index_analyzer())
        return index

    def close(self) -> None:
        self.release_writer()

    def release_writer(self) -> None:
        """Give up this process's writer (its folder lock) so another process can write; taken back on the next sync."""
        with self._lock:
            if self._writer is not None:
                self._writer.wait_merging_threads()
                self._writer = None

    # -- what the index holds -------------------------------------------------------------

    def _marker(self) -> tuple[int, str | None]:
        """(seq seen, store id) as committed in the index; (0, None) for a new index."""
        searcher = self._index.searcher()
        hits = searcher.search(tantivy.Query.term_query(self._schema, "id", MARKER_ID), 1, count=False).hits
        if not hits:
            return 0, None
        doc = searcher.doc(hits[0][1])
        if doc.get_first("schema") != SCHEMA_VERSION:
            raise ValueError(f"index schema {doc.get_first('schema')} is not {SCHEMA_VERSION}")
        return int(doc.get_first("seq") or 0), doc.get_first("store")

    def seen_version(self) -> int:
        """The last ``search_log.seq`` this index has committed."""
        return self._marker()[0]

    def count(self) -> int:
        """Papers in the index (the marker not counted)."""
        searcher = self._index.searcher()
        return searcher.num_docs - (1 if self._marker()[1] is not None else 0)

    # -- writing ----------------------------------------------------------------------------

    def _writer_or_none(self) -> tantivy.IndexWriter | None:
        """This process's writer, or None while another process holds the folder's lock.

        Tried again on every call, so a CLI that started beside the service takes
        over the writing once the service has stopped.
        """
        if self._writer is None:
            try:
                self._writer = self._index.writer(heap_size=_WRITER_HEAP, num_threads=1)
                self._read_only = False
                # Another process may have committed while this one had no writer: read its marker and docs.
                self._index.reload()
                self._collect_garbage()
            except ValueError as exc:
                if not self._read_only:
                    log.info("search index is written by another process (%s); searching only", exc)
                self._read_only = True
        return self._writer

    def _collect_garbage(self) -> None:
        """Delete files a killed writer left behind and no commit refers to.

        A SIGKILL between writing a delete file and committing leaves an orphan
        (``<segment>.<opstamp>.del``) whose name the next commit computes again: every
        later commit then failed with FileAlreadyExists, searches included.
        """
        assert self._writer is not None
        try:
            self._writer.garbage_collect_files()
        except ValueError as exc:
            log.warning("search index: could not remove files left by an earlier writer (%s)", exc)

    def begin_load(self) -> None:
        """Empty the index, uncommitted, and take the big writer: for ``add`` to fill and ``commit`` to end."""
        with self._lock:
            self._require_writer()
            self._bulk(True)
            self._require_writer().delete_all_documents()

    def add(self, rows: Iterable[IndexRow], *, replace: bool = False) -> int:
        """Add each row's document, replacing one of its id with ``replace`` (uncommitted until ``commit``)."""
        writer = self._require_writer()
        n = 0
        for row in rows:
            if replace:
                writer.delete_documents_by_term("id", row.paper_id)
            writer.add_document(self._document(row))
            n += 1
        return n

    def add_or_update(self, rows: Iterable[IndexRow]) -> int:
        """Replace each row's document (uncommitted until ``commit``); returns how many."""
        return self.add(rows, replace=True)

    def delete(self, ids: Iterable[int]) -> int:
        writer = self._require_writer()
        n = 0
        for paper_id in ids:
            writer.delete_documents_by_term("id", int(paper_id))
            n += 1
        return n

    def commit(self, seq: int, store_id: str) -> None:
        """Commit pending changes together with the marker saying ``seq`` has been seen."""
        writer = self._require_writer()
        writer.delete_documents_by_term("id", MARKER_ID)
        marker = tantivy.Document()
        marker.add_integer("id", MARKER_ID)
        marker.add_unsigned("seq", int(seq))
        marker.add_text("store", store_id)
        marker.add_unsigned("schema", SCHEMA_VERSION)
        writer.add_document(marker)
        writer.commit()
        self._index.reload()

    def _bulk(self, bulk: bool) -> None:
        """Swap the small incremental writer for a large multi-threaded one, or back."""
        if self._writer is not None:
            self._writer.wait_merging_threads()
            self._writer = None
        heap, threads = (_REBUILD_HEAP, 0) if bulk else (_WRITER_HEAP, 1)
        self._writer = self._index.writer(heap_size=heap, num_threads=threads)
        self._terms.bulk(bulk)

    def _require_writer(self) -> tantivy.IndexWriter:
        writer = self._writer_or_none()
        if writer is None:
            raise StoreError("the search index is being written by another process")
        return writer

    def _document(self, row: IndexRow) -> tantivy.Document:
        doc = tantivy.Document()
        doc.add_integer("id", row.paper_id)
        pairs = self._pair_maker
        for field, text in (("title", row.title), ("abstract", row.abstract or "")):
            terms = self._terms.of_text(text)
            doc.add_text(field, " ".join(terms))
            if pairs is not None:
                for term in pairs.of_document(terms, field):
                    doc.add_text(PAIR_FIELD, term)
        return doc

    # -- searching --------------------------------------------------------------------------

    def plan(self, text: str, expansions: Expansions | None = None) -> Plan:
        """What ``text`` means to a search (``storage.search_rank``), with approximate forms for rare words."""
        return self.approximate(rank.build_plan(text, self._analyzer, expansions))

    def approximate(self, plan: Plan) -> Plan:
        """The plan with approximate forms (a stem prefix, near terms) for the words papers rarely use."""
        groups = []
        for group in plan.groups:
            stem = rank.approximable(group)
            if stem is not None:
                df, papers = self.rarity(stem)
                if rank.is_rare(df, papers):
                    near = rank.near_terms(stem, self.vocabulary(stem[:3]))
                    prefix = rank.prefix_alt(stem, df)
                    group = group.with_alts([*([prefix] if prefix else []), *near])
            groups.append(group)
        return Plan(tuple(groups), plan.terms)

    def rarity(self, term: str) -> tuple[int, int]:
        """(papers whose title or abstract holds the analysed ``term``, documents in the index)."""
        searcher = self._index.searcher()
        df = int(searcher.doc_freq("title", term)) + int(searcher.doc_freq("abstract", term))
        return df, int(searcher.num_docs)

    def vocabulary(self, prefix: str, limit: int = 5_000) -> list[tuple[str, int]]:
        """Analysed terms of titles and abstracts starting with ``prefix``, with their paper counts."""
        searcher = self._index.searcher()
        counts: dict[str, int] = {}
        for field in ("title", "abstract"):
            for term, n in searcher.terms_with_prefix(field, prefix, limit=limit):
                counts[term] = counts.get(term, 0) + int(n)
        return list(counts.items())

    def plan_query(self, plan: Plan, *, any_group: bool = False) -> tantivy.Query | None:
        """Every required group (stop words optional), or with ``any_group`` any group."""
        return plan_query(self._schema, plan, any_group=any_group, pairs=self.pairs)

    def _top(self, query: tantivy.Query, limit: int, offset: int = 0) -> list[tuple[int, float]]:
        searcher = self._index.searcher()
        try:
            hits = searcher.search(query, limit, count=False, offset=offset).hits
            ids = searcher.fast_field_values("id", [address for _, address in hits])
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a Rust panic surfaces as a BaseException; a search must answer
            log.error("search failed in the index: %s", exc)
            return []
        return [(int(i), float(score)) for (score, _), i in zip(hits, ids, strict=True)]

    def candidates(self, plan: Plan, n: int) -> list[tuple[int, float]]:
        """Up to ``n`` papers holding every word, then, if fewer, the best holding any (for re-ranking)."""
        return self.run_candidates(self.plan_query(plan),
                                   self.plan_query(plan, any_group=True) if len(plan.groups) > 1 else None, n)

    def run_candidates(self, every: tantivy.Query | None, any_group: tantivy.Query | None, n: int
                       ) -> list[tuple[int, float]]:
        """``candidates`` for queries already built from a plan (``plan_query``)."""
        if every is None or n <= 0:
            return []
        found = self._top(every, n)
        if len(found) < n and any_group is not None:
            seen = {i for i, _ in found}
            found += [(i, s) for i, s in self._top(any_group, n) if i not in seen][: n - len(found)]
        return found

    def search(
        self, text: str, limit: int = 10, offset: int = 0, expansions: Expansions | None = None
    ) -> list[tuple[int, float]]:
        """(paper id, score) best first, from the plan a search is served by: every word, then any.

        The engine's own order, without the store's re-ranking (``storage.search_rank``).
        """
        limit = max(0, min(int(limit), 1000))
        offset = max(0, int(offset))
        if limit == 0:
            return []
        return self.candidates(self.plan(text, expansions), offset + limit)[offset:]

    def count_plan(self, plan: Plan) -> int:
        """How many papers hold every required group of ``plan``."""
        query = self.plan_query(plan)
        return 0 if query is None else int(self._index.searcher().search(query, 1, count=True).count)

    def count_matches(self, text: str, expansions: Expansions | None = None) -> int:
        """How many papers hold every word of ``text`` (by its words, phrases and acronyms, not approximately)."""
        return self.count_plan(rank.build_plan(text, self._analyzer, expansions))

    def ids_mentioning(self, spellings: Iterable[str]) -> list[int]:
        """Every paper whose title or abstract holds any spelling as a phrase (stemmed, case-folded).

        For linking a newly learnt topic to the papers already stored; the
        caller checks exact mentions, as the analyzer stems and folds.
        """
        alts = tuple(Alt(t, "phrase", s) for s in spellings if (t := self._analyzer.phrase(s)))
        query = self.plan_query(Plan((Group("", 1, alts),), ())) if alts else None
        if query is None:
            return []
        searcher = self._index.searcher()
        if not searcher.num_docs:
            return []
        # Ordered by the id field, so no hit is scored: only which papers, never how well. The
        # limit is every paper, not a count taken first: counting cost as much as the search.
        hits = searcher.search(query, searcher.num_docs, count=False, order_by_field="id").hits
        return sorted(int(i) for i in searcher.fast_field_values("id", [a for _, a in hits]))

    # -- following the store ----------------------------------------------------------------

    def sync(self, conn: sqlite3.Connection, *, verify: bool = False) -> SyncReport:
        """Apply the store's ``search_log`` after what this index has seen; heal what is off.

        ``conn`` is a plain sqlite3 connection in autocommit mode, not inside a
        transaction. Rebuilds from the papers table when the index was made for
        another database, is ahead of the store (a restored backup), or, with
        ``verify``, holds a different number of papers than the store.
        """
        with self._lock:
            if self._writer_or_none() is None:
                return SyncReport(seen=self.seen_version(), read_only=True)
            store_id, last_seq = search_log.store_state(conn)
            seen, index_store = self._marker()
            if index_store is None:
                # A new index: reading the papers table is quicker than replaying the log.
                if search_log.count_papers(conn) or self._index.searcher().num_docs:
                    return self.rebuild(conn)
            elif index_store != store_id or seen > last_seq:
                log.warning("search index does not belong to this database state; rebuilding")
                return self.rebuild(conn)
            elif seen < search_log.seen_in_store(conn):
                # The log rows this index still needs were pruned after another index saw them.
                log.warning("search index is behind the store's pruned change log; rebuilding")
                return self.rebuild(conn)
            pending = search_log.pending(conn, seen)
            if pending > max(_REBUILD_AT, self.count() // 5):
                # A bulk ingest elsewhere: streaming the papers table keeps memory flat.
                return self.rebuild(conn)
            report = self._apply(conn, seen, store_id)
            if verify and self.count() != search_log.count_papers(conn):
                log.warning("search index holds %d papers, the store %d; rebuilding",
                            self.count(), search_log.count_papers(conn))
                return self.rebuild(conn)
            return report

    def _apply(self, conn: sqlite3.Connection, seen: int, store_id: str) -> SyncReport:
        entries = conn.execute(
            "SELECT seq, paper_id, op FROM search_log WHERE seq > ? ORDER BY seq", (seen,)
        ).fetchall()
        if not entries:
            self._record_seen(conn, seen)
            return SyncReport(seen=seen)
        first_op: dict[int, str] = {}
        for _, paper_id, op in entries:
            first_op.setdefault(int(paper_id), op)
        bulk = len(first_op) >= _BULK_AT
        if bulk:
            self._bulk(True)
        writer = self._require_writer()
        added = deleted = 0
        ids = list(first_op)
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start : start + _BATCH]
            rows = {row.paper_id: row for row in _rows_by_id(conn, chunk)}
            for paper_id in chunk:
                # A paper whose first pending change is its insert cannot be in the index yet.
                if first_op[paper_id] != "i":
                    writer.delete_documents_by_term("id", paper_id)
                    deleted += 1
                row = rows.get(paper_id)
                if row is not None:
                    writer.add_document(self._document(row))
                    added += 1
        seq = int(entries[-1][0])
        self.commit(seq, store_id)
        if bulk:
            self._bulk(False)
        self._record_seen(conn, seq)
        log.info("search index: applied %d changes (%d papers) up to %d", len(entries), len(ids), seq)
        return SyncReport(applied=len(entries), added=added, deleted=deleted, seen=seq)

    def _record_seen(self, conn: sqlite3.Connection, seq: int) -> None:
        # An index in memory is one process's private copy: the log rows it has read may still
        # be owed to the index folder another process keeps, so only a folder prunes them.
        if self.folder is not None:
            search_log.record_seen(conn, seq)

    def rebuild(self, conn: sqlite3.Connection) -> SyncReport:
        """Index every paper afresh from the store; returns what was written."""
        with self._lock:
            self._require_writer()
            self._bulk(True)
            writer = self._require_writer()
            writer.delete_all_documents()
            conn.execute("BEGIN")  # one read snapshot: the rows and the seq they reflect
            try:
                store_id, last_seq = search_log.store_state(conn)
                n = 0
                cur = conn.execute("SELECT id, title, abstract FROM papers ORDER BY id")
                while batch := cur.fetchmany(_BATCH):
                    for paper_id, title, abstract in batch:
                        writer.add_document(self._document(IndexRow(paper_id, title, abstract)))
                    n += len(batch)
                self.commit(last_seq, store_id)
            except BaseException:
                writer.rollback()
                raise
            finally:
                conn.execute("COMMIT")
            self._bulk(False)
            self._record_seen(conn, last_seq)
            log.info("search index rebuilt: %d papers up to %d", n, last_seq)
            return SyncReport(added=n, seen=last_seq, rebuilt=True)


def _rows_by_id(conn: sqlite3.Connection, ids: Sequence[int]) -> list[IndexRow]:
    marks = ",".join("?" * len(ids))
    return [
        IndexRow(int(r[0]), r[1], r[2])
        for r in conn.execute(f"SELECT id, title, abstract FROM papers WHERE id IN ({marks})", list(ids))
    ]


__all__ = [
    "IndexRow",
    "SearchIndex",
    "SyncReport",
]
