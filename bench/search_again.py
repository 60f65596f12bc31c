"""`python -m bench.search_again --papers N`: the search figures again, on the store a full run left.

A full `python -m bench` run takes most of an hour at 1M papers, and its search
rounds share the machine with whatever else runs then. This re-times only the
searches on the store, index and bare baselines that run left in
``<data>/run-<N>``: Store.search (as the service answers, on an event loop in its
own thread) takes turns with bare Tantivy and bare FTS5 on every query, so load
falls on all three alike.
"""

from __future__ import annotations

import argparse
import asyncio
import threading

from bench import search_bench
from bench.common import add_full_run_arguments, full_run_folder, render_table
from bench.corpus import CorpusGenerator
from bench.queries import search_mix
from storage.store import Store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search_again", description=__doc__.splitlines()[0])
    add_full_run_arguments(parser)
    parser.add_argument("--rounds", type=int, default=5, help="timed passes over the query mix")
    args = parser.parse_args(argv)
    run = full_run_folder(parser, args)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def on_loop(coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    store = on_loop(Store.open(run / "paperboy.db"))
    fts, tan = search_bench.BareFts5(run / "bare-fts5.db"), search_bench.BareTantivy(run / "bare-tantivy")
    try:
        mix = search_mix(CorpusGenerator(args.papers + 1_000, args.seed).vocab)
        timed = search_bench.time_interleaved(mix, {
            "store": lambda q: on_loop(store.search(q, 10)),
            "fts": fts.search,
            "tantivy": tan.search,
        }, args.rounds)
    finally:
        fts.close()
        on_loop(store.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
    figures = search_bench.search_figures(timed["store"], timed["fts"], timed["tantivy"],
                                          "search (Store.search)", headline=True)
    print(render_table(args.papers, figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
