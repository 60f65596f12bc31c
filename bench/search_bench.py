"""Search and author figures: the service's latencies beside bare FTS5 and bare Tantivy on the same rows."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import tantivy

from bench.common import Figure, ms, percentile, read_only
from bench.queries import SEARCH_CLASSES
from storage.text import words

log = logging.getLogger(__name__)


def _tokens(text: str) -> tuple[list[str], bool]:
    """Word tokens and whether the text asked for them as one phrase."""
    stripped = text.strip()
    phrase = stripped.startswith('"') and stripped.endswith('"') and len(stripped) > 1
    return words(text[:5000])[:24], phrase


class BareFts5:
    """FTS5 as it comes: MATCH on quoted tokens, ORDER BY bm25, LIMIT 10."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(str(path))

    def search(self, text: str) -> list[int]:
        tokens, phrase = _tokens(text)
        if not tokens:
            return []
        quoted = ['"' + t.replace('"', '""') + '"' for t in tokens]
        match = ('"' + " ".join(tokens).replace('"', '""') + '"') if phrase else " ".join(quoted)
        rows = self.conn.execute(
            "SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT 10", (match,)
        ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self.conn.close()


class BareTantivy:
    """Tantivy as it comes: default tokenizer, every token required in title or abstract, top 10."""

    def __init__(self, path: Path) -> None:
        self.index = tantivy.Index.open(str(path))
        self.schema = self.index.schema
        self.analyzer = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.remove_long(40))
            .filter(tantivy.Filter.lowercase())
            .build()
        )

    def _field_query(self, field: str, terms: list[str]) -> tantivy.Query:
        if len(terms) == 1:
            return tantivy.Query.term_query(self.schema, field, terms[0])
        return tantivy.Query.phrase_query(self.schema, field, terms)

    def search(self, text: str) -> list[int]:
        tokens, phrase = _tokens(text)
        groups = [self.analyzer.analyze(" ".join(tokens))] if phrase else [self.analyzer.analyze(t) for t in tokens]
        groups = [g for g in groups if g]
        if not groups:
            return []
        should = tantivy.Occur.Should
        queries = [
            tantivy.Query.boolean_query([(should, self._field_query(f, g)) for f in ("title", "abstract")])
            for g in groups
        ]
        query = queries[0] if len(queries) == 1 else tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, q) for q in queries]
        )
        searcher = self.index.searcher()
        hits = searcher.search(query, 10, count=False).hits
        return searcher.fast_field_values("id", [a for _, a in hits])


def time_interleaved(
    mix: list[tuple[str, str]], engines: dict[str, Callable[[str], object]], rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Per engine, seconds per query by class; engines take turns on each query so that
    whatever else the machine is doing falls on all of them alike."""
    for _, text in mix:
        for fn in engines.values():
            fn(text)
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in engines}
    for _ in range(rounds):
        for cls, text in mix:
            for name, fn in engines.items():
                start = time.perf_counter()
                fn(text)
                samples[name].setdefault(cls, []).append(time.perf_counter() - start)
    return samples


def time_bare(mix: list[tuple[str, str]], fn: Callable[[str], object], rounds: int) -> dict[str, list[float]]:
    for _, text in mix:
        fn(text)
    samples: dict[str, list[float]] = {}
    for _ in range(rounds):
        for cls, text in mix:
            start = time.perf_counter()
            fn(text)
            samples.setdefault(cls, []).append(time.perf_counter() - start)
    return samples


def _all(samples: dict[str, list[float]]) -> list[float]:
    return [s for values in samples.values() for s in values]


def search_figures(
    product: dict[str, list[float]],
    fts: dict[str, list[float]],
    tan: dict[str, list[float]],
    label: str,
    *,
    headline: bool,
    compare_common: bool = False,
) -> list[Figure]:
    """Overall p50/p99 and per-class p50, each beside both bare engines."""
    def base(fn: Callable[[list[float]], float], key: str | None = None) -> dict[str, float]:
        pick = (lambda s: s.get(key, [])) if key else _all
        return {"bare FTS5": ms(fn(pick(fts))), "bare Tantivy": ms(fn(pick(tan)))}

    p50 = lambda s: percentile(s, 50)  # noqa: E731
    p99 = lambda s: percentile(s, 99)  # noqa: E731
    figures = [
        Figure(f"{label} p50, whole mix", ms(p50(_all(product))), "ms", base(p50),
               target=10.0 if headline else None, target_text="< 10 ms" if headline else ""),
        Figure(f"{label} p99, whole mix", ms(p99(_all(product))), "ms", base(p99),
               target=100.0 if headline else None, target_text="< 100 ms" if headline else ""),
    ]
    for cls in SEARCH_CLASSES:
        if cls not in product:
            continue
        fig = Figure(f"{label} p50, {cls}", ms(p50(product[cls])), "ms", base(p50, cls))
        if cls in ("common", "two common") and (headline or compare_common):
            bare = ms(p50(tan.get(cls, [])))
            fig.target = 2 * bare
            fig.target_text = f"<= {2 * bare:.2f} (2x bare Tantivy)"
        figures.append(fig)
    return figures


def author_figures(samples: dict[str, list[float]], build_s: float, bare: dict[str, list[float]]) -> list[Figure]:
    everything = _all(samples)
    base_all = _all(bare)
    figures = [
        Figure("author autocomplete p50", ms(percentile(everything, 50)), "ms",
               {"bare SQLite key range": ms(percentile(base_all, 50))}),
        Figure("author autocomplete p99", ms(percentile(everything, 99)), "ms",
               {"bare SQLite key range": ms(percentile(base_all, 99))}, target=10.0, target_text="< 10 ms"),
    ]
    for cls, values in samples.items():
        figures.append(Figure(f"author autocomplete p99, {cls}", ms(percentile(values, 99)), "ms",
                              {"bare SQLite key range": ms(percentile(bare.get(cls, []), 99))}))
    figures.append(Figure("author index build (first look-up)", build_s, "s"))
    return figures


class BareAuthors:
    """The least an autocomplete can do: a range scan of author keys by the typed prefix."""

    def __init__(self, db: Path) -> None:
        self.conn = read_only(db)

    def lookup(self, text: str) -> list[str]:
        key = "-".join(w.lower() for w in words(text))
        rows = self.conn.execute(
            "SELECT name FROM authors WHERE key >= ? AND key < ? LIMIT 25", (key, key + "\uffff")
        ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self.conn.close()


__all__ = [
    "BareAuthors",
    "BareFts5",
    "BareTantivy",
    "author_figures",
    "search_figures",
    "time_bare",
    "time_interleaved",
]


def build_worker_figure(authored: dict) -> Figure:
    """The author index build's own process (storage/author_build.py), beside the service's figures."""
    return Figure("author index build worker peak RSS", authored.get("build_worker_peak_mb", 0.0), "MB",
                  note=f"a process of its own, ended after the build ({authored['build_seconds']:.2f} s"
                  " to the first answer); 0 when the index was built in the service")
