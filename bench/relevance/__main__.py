"""`python -m bench.relevance [--queries] [--json]`: nDCG@5 and recall@10 of search beside plain BM25."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections import defaultdict

from bench.relevance import ENGINES, SEED, Scores, datasets, evaluate, load_judgments


def _table(name: str, judged_kinds: dict[str, str], scores: dict[str, Scores], per_query: bool) -> list[str]:
    lines = [f"== {name}: {len(judged_kinds)} judged queries", f"{'engine':<34} {'nDCG@5':>7} {'recall@10':>10}"]
    for engine, s in scores.items():
        lines.append(f"{engine:<34} {s.ndcg5:>7.3f} {s.recall10:>10.3f}")
    kinds: dict[str, list[str]] = defaultdict(list)
    for text, kind in judged_kinds.items():
        kinds[kind].append(text)
    lines.append("")
    lines.append("nDCG@5 by kind of query: " + " / ".join(e.split(" (")[0] if e == ENGINES[0] else "BM25"
                                                          for e in scores))
    for kind, texts in kinds.items():
        means = [sum(s.per_query[t][0] for t in texts) / len(texts) for s in scores.values()]
        lines.append(f"  {kind:<20} ({len(texts):>2}) " + "  ".join(f"{m:.3f}" for m in means))
    if per_query:
        lines.append("")
        lines.append("per query nDCG@5 / recall@10, " + " | ".join(scores))
        for text in judged_kinds:
            cells = " | ".join(f"{s.per_query[text][0]:.2f}/{s.per_query[text][1]:.2f}" for s in scores.values())
            lines.append(f"  {text[:44]:<44} {cells}")
    return lines


async def _run(args: argparse.Namespace) -> int:
    judged = load_judgments()
    kinds = {q.text: q.kind for q in judged}
    report = {}
    for name, listing, as_of in datasets():
        scores = await evaluate(listing, judged, as_of=as_of)
        report[name] = scores
        if not args.json:
            print("\n".join(_table(name, kinds, scores, args.queries)))
            print()
    if not SEED.exists() and not args.json:
        print(f"(the seed listing {SEED} is absent: only the demo listing was judged)")
    if args.json:
        json.dump({
            name: {engine: {"ndcg@5": round(s.ndcg5, 4), "recall@10": round(s.recall10, 4),
                            "queries": {t: {"ndcg@5": round(v[0], 4), "recall@10": round(v[1], 4)}
                                        for t, v in s.per_query.items()}}
                   for engine, s in scores.items()}
            for name, scores in report.items()
        }, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.relevance", description=__doc__.splitlines()[0])
    parser.add_argument("--queries", action="store_true", help="also print every query's figures")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return asyncio.run(_run(args))


if __name__ == "__main__":
    raise SystemExit(main())
