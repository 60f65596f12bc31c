"""CLI commands that read and write papers: ingest, export, search, author, topics, ask."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from feeds.sources.fetch import stat_validator
from feeds.sources.listing import ListingStream
from paperboy.config import Config, search_acronyms
from paperboy.inputs import is_long_listing, paper_json, read_records
from paperboy.progress import Progress
from storage.authors import also_matching
from storage.errors import InvalidInputError, NotAListingError, PaperboyError
from storage.models import Paper, PaperRecord, ParseProblem
from storage.search_rank import SearchHit
from storage.store import Store


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


async def open_store(config: Config) -> Store:
    store = await Store.open(config.store.path, announce_max_age=config.max_age)
    store.use_acronyms(search_acronyms(config))
    return store


def _fingerprint(path: Path, args: argparse.Namespace) -> str:
    """What decides the records a file yields: its bytes and the options that read them."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    digest.update(f"|as_of={args.as_of}|owner={args.owner}".encode())
    return digest.hexdigest()


def _validator(path: Path, args: argparse.Namespace) -> str | None:
    """The file's size and modification time with the options that read it; None if not a settled file."""
    try:
        stat = path.stat()
    except OSError:
        return None
    if not path.is_file():
        return None
    return stat_validator(stat, f"|as_of={args.as_of}|owner={args.owner}")


def _by_source(records: list[PaperRecord], default: str) -> dict[str, list[PaperRecord]]:
    """Group records by the source names an export kept, so a restore recreates them."""
    groups: dict[str, list[PaperRecord]] = {}
    for record in records:
        for name in record.restore_sources or (default,):
            groups.setdefault(name, []).append(record)
    return groups


def _file_report(path: Path, kind: str, counts: dict[str, int], skipped: list[ParseProblem],
                 seconds: dict[str, float]) -> dict[str, Any]:
    return {
        "path": str(path),
        "kind": kind,
        **counts,
        "skipped": [{"line": p.line, "field": p.field, "reason": p.message} for p in skipped],
        # Where the store's time went, by step (storage.models.INGEST_STEPS), over the file's batches.
        "seconds": {step: round(value, 4) for step, value in seconds.items()},
    }


async def cmd_ingest(args: argparse.Namespace, config: Config) -> int:
    reports = []
    totals = {"new": 0, "updated": 0, "unchanged": 0, "skipped": 0}
    store = await open_store(config)
    try:
        # Parse everything before writing anything: a file that is not a listing
        # stops the run, so the database stays as it was.
        parsed = []
        validators: dict[Path, str | None] = {}
        stale_validators: dict[Path, str | None] = {}
        for name in args.paths:
            path = Path(name)
            source_name = args.source or path.name
            known = await store.source(source_name)
            validator = _validator(path, args)
            if validator and known and known.content_hash and known.etag == validator:
                # Size and modification time as when it was last hashed: not even read.
                fingerprint: str | None = known.content_hash
            else:
                fingerprint = _fingerprint(path, args) if path.is_file() else None
            validators[path] = validator
            stale_validators[path] = known.etag if known else None
            if fingerprint and known and known.content_hash == fingerprint:
                # The same bytes read the same way: every paper is as stored.
                parsed.append((path, source_name, known.kind, None, fingerprint, known.papers))
                continue
            if len(args.paths) == 1 and is_long_listing(path):
                # One long listing: stored as its blocks are parsed, in one transaction, so a
                # block that cannot be read still leaves the database as it was.
                stream = ListingStream(path, as_of=args.as_of, known_authors=(args.owner,) if args.owner else (),
                                       for_store=True)
                parsed.append((path, source_name, "listing", stream, fingerprint, 0))
                continue
            kind, result = read_records(path, as_of=args.as_of, owner=args.owner)
            if not result.records and not result.problems:
                raise NotAListingError(f"{path}: holds no papers")
            parsed.append((path, source_name, kind, result, fingerprint, 0))
        for path, source_name, kind, result, fingerprint, known_papers in parsed:
            if result is None:
                if validators.get(path) and validators[path] != stale_validators.get(path):
                    # Hashed again because the file was touched: remember its new size and time.
                    await store.record_poll(source_name, content_hash=fingerprint, etag=validators[path])
                item = {"path": str(path), "kind": kind, "new": 0, "updated": 0, "unchanged": known_papers,
                        "skipped": [], "queued_deliveries": 0, "seconds": {}}
            elif isinstance(result, ListingStream):
                progress = Progress(f"ingesting {path.name}", result.size_hint, estimate=True)
                report = await store.ingest(result, source=source_name, kind=kind, location=str(path.resolve()),
                                            owner=args.owner, progress=progress.update, size_hint=result.size_hint)
                progress.close()
                await store.record_poll(source_name, content_hash=fingerprint, etag=validators.get(path))
                counts = {key: getattr(report, key) for key in ("new", "updated", "unchanged", "queued_deliveries")}
                item = _file_report(path, kind, counts, [*result.problems, *report.skipped], report.seconds)
            else:
                counts = {"new": 0, "updated": 0, "unchanged": 0, "queued_deliveries": 0}
                seconds: dict[str, float] = {}
                skipped = list(result.problems)
                for name, records in _by_source(result.records, source_name).items():
                    progress = Progress(f"ingesting {path.name}", len(records))
                    report = await store.ingest(
                        records,
                        source=name,
                        kind=kind,
                        location=str(path.resolve()),
                        owner=args.owner,
                        progress=progress.update,
                    )
                    progress.close()
                    for key in counts:
                        counts[key] += getattr(report, key)
                    for step, value in report.seconds.items():
                        seconds[step] = seconds.get(step, 0.0) + value
                    skipped += report.skipped
                await store.record_poll(source_name, content_hash=fingerprint, etag=validators.get(path))
                item = _file_report(path, kind, counts, skipped, seconds)
            reports.append(item)
            for key in ("new", "updated", "unchanged"):
                totals[key] += item[key]
            totals["skipped"] += len(item["skipped"])
        # Topics this run learnt are linked to the papers stored before it.
        await store.link_pending_topics()
    finally:
        await store.close()
    if args.json:
        _print_json({"database": config.store.path, "files": reports, "totals": totals})
        return 0
    for item in reports:
        print(
            f"{item['path']} ({item['kind']}): {item['new']} new, {item['updated']} updated, "
            f"{item['unchanged']} unchanged, {len(item['skipped'])} skipped"
        )
        for skip in item["skipped"]:
            print(f"  skipped {item['path']}:{skip['line']}: {skip['field']}: {skip['reason']}")
    print(f"database: {config.store.path}")
    return 0


async def cmd_export(args: argparse.Namespace, config: Config) -> int:
    store = await open_store(config)
    try:
        papers = await store.all_papers()
    finally:
        await store.close()
    _print_json([paper_json(p) for p in papers])
    return 0


def _line(paper: Paper) -> str:
    authors = ", ".join(paper.authors[:3]) + (" et al." if len(paper.authors) > 3 or paper.authors_truncated else "")
    when = paper.published.isoformat() if paper.published else "undated"
    return f"{paper.title}\n    {authors} · {paper.category or '-'} · {when} · {paper.key}"


def explain_line(hit: SearchHit) -> str:
    """Why a hit is where it is, in one line: words matched, each match and its field, signals."""
    r = hit.ranked
    parts = []
    for m in r.matches:
        how = m.kind if m.matched == m.query else f"{m.kind} {m.matched!r}"
        if m.kind in ("prefix", "fuzzy"):
            how += f" → {m.found}"
        parts.append(f"{m.query!r} as {how} in {m.field}")
    text = f"matched {r.coverage} of {r.words} word{'s' if r.words != 1 else ''}: " + ("; ".join(parts) or "nothing")
    if r.signals:
        text += " · " + "; ".join(r.signals)
    return text


async def cmd_search(args: argparse.Namespace, config: Config) -> int:
    if len(args.query) > 5000:
        raise InvalidInputError("the query is longer than 5,000 characters; shorten it")
    store = await open_store(config)
    try:
        hits = await store.search_hits(args.query, limit=min(args.limit, 100))
    finally:
        await store.close()
    if args.json:
        _print_json([{**paper_json(h.paper), "match": h.explain()} for h in hits])
    elif not hits:
        print(f"No papers match {args.query!r}. Try fewer or different words, or `paperboy topics`.")
    else:
        for rank, hit in enumerate(hits, 1):
            print(f"{rank:>2}. {_line(hit.paper)}")
            if args.explain:
                print(f"    {explain_line(hit)}")
    return 0


async def cmd_author(args: argparse.Namespace, config: Config) -> int:
    store = await open_store(config)
    try:
        matches = await store.match_authors(args.query, limit=25)
        profile = await store.author_profile(matches[0].key) if matches else None
    finally:
        await store.close()
    if args.json:
        _print_json({
            "matches": [{"name": m.name, "key": m.key, "papers": m.papers, "score": m.score} for m in matches],
            "profile": None if profile is None else {
                "name": profile.name,
                "key": profile.key,
                "papers": [paper_json(p) for p in profile.papers],
                "coauthors": [{"name": n, "papers": c} for n, c in profile.coauthors],
                "years_active": list(profile.years) if profile.years else None,
                "topics": [{"name": n, "papers": c} for n, c in profile.topics],
            },
        })
        return 0
    if profile is None:
        print(f"No author resembles {args.query!r}. Try a surname alone, or `paperboy export`.")
        return 1
    years = f"{profile.years[0]}–{profile.years[1]}" if profile.years else "no dated papers"
    print(f"{profile.name} — {len(profile.papers)} papers, {years}")
    others = [matches[i] for i in also_matching([m.score for m in matches])]
    if others:
        print("Also matching: " + ", ".join(f"{m.name} ({m.papers} paper{'s' if m.papers != 1 else ''})"
                                            for m in others))
    print("\nPapers (newest first):")
    for paper in profile.papers:
        print(f"  - {_line(paper)}")
    if profile.coauthors:
        print("\nCo-authors: " + ", ".join(f"{n} ({c})" for n, c in profile.coauthors[:15]))
    if profile.topics:
        print("Topics: " + ", ".join(f"{n} ({c})" for n, c in profile.topics[:10]))
    return 0


async def cmd_topics(args: argparse.Namespace, config: Config) -> int:
    store = await open_store(config)
    try:
        topics = await store.topics()
    finally:
        await store.close()
    if args.json:
        _print_json([
            {"slug": t.slug, "name": t.name, "kind": t.kind, "papers": t.papers, "expansion": t.expansion}
            for t in topics
        ])
        return 0
    if not topics:
        print("No topics yet: ingest some papers first (`paperboy ingest FILE`).")
    for topic in topics:
        meaning = f" = {topic.expansion}" if topic.expansion else ""
        print(f"{topic.papers:>4}  {topic.name}{meaning}  [{topic.kind}]")
    return 0


async def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    try:
        from bot.answers import ask_payload
    except ImportError as exc:
        raise PaperboyError("the Discord answer layer is not installed in this build") from exc
    store = await open_store(config)
    try:
        payload = await ask_payload(store, args.command_line, base_url=config.public_base_url)
    finally:
        await store.close()
    if args.json:
        _print_json(payload)
    else:
        from bot.answers import payload_text

        print(payload_text(payload))
    return 0


async def cmd_commands(args: argparse.Namespace, config: Config) -> int:
    try:
        from bot.commands_payload import application_commands
    except ImportError as exc:
        raise PaperboyError("the Discord layer is not installed in this build") from exc
    _print_json(application_commands())
    return 0
