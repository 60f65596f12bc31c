"""CLI commands for running and looking after paperboy: run, feed build, sources, db, config."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import aiohttp

from paperboy.config import Config, masked
from paperboy.jobs import Jobs
from storage.db import connect, migrate
from storage.errors import StoreError
from storage.redact import mask_secrets, mask_url
from storage.store import Store


async def cmd_run(args: argparse.Namespace, config: Config) -> int:
    from paperboy.service import run

    return await run(config)


async def cmd_feed(args: argparse.Namespace, config: Config) -> int:
    from feeds.publish import FeedSettings
    from feeds.static import build_static

    settings = FeedSettings(
        title=config.feeds.title,
        subtitle=config.feeds.subtitle,
        base_url=config.public_base_url,
        entries=config.feeds.entries,
        author=config.feeds.author or None,
    )
    store = await Store.open(config.store.path)
    try:
        written = await build_static(store, settings, Path(args.out))
    finally:
        await store.close()
    print(f"wrote {len(written)} files to {args.out}")
    return 0


async def cmd_sources(args: argparse.Namespace, config: Config) -> int:
    from feeds.sources.fetch import Fetcher
    from paperboy.service import USER_AGENT, with_default_sources

    config = with_default_sources(config)
    store = await Store.open(config.store.path)
    try:
        if args.sources_command == "poll":
            async with aiohttp.ClientSession(trust_env=False) as session:
                jobs = Jobs(config, store, Fetcher(session, user_agent=USER_AGENT))
                await jobs.register_sources()
                names = [args.name] if args.name else [s.name for s in config.sources]
                failed = 0
                for name in names:
                    report = await jobs.poll_source(name)
                    if report is None:
                        source = await store.source(name)
                        print(f"{name}: failed: {source.last_error if source else 'unknown error'}")
                        failed += 1
                    else:
                        print(f"{name}: {report.new} new, {report.updated} updated, {report.unchanged} unchanged")
            return 1 if failed else 0
        sources = await store.sources()
    finally:
        await store.close()
    rows = [
        {
            "name": s.name,
            "kind": s.kind,
            "location": mask_url(s.location) if s.location else None,
            "owner": s.owner,
            "papers": s.papers,
            "last_polled_at": s.last_polled_at.isoformat() if s.last_polled_at else None,
            "last_success_at": s.last_success_at.isoformat() if s.last_success_at else None,
            "last_error": mask_secrets(s.last_error) if s.last_error else None,
        }
        for s in sources
    ]
    # Listing is a read and writes nothing: a configured source the store has not
    # seen yet is shown as never polled rather than registered here.
    stored = {row["name"] for row in rows}
    rows += [
        {"name": spec.name, "kind": spec.kind, "location": mask_url(spec.url) if spec.url else None,
         "owner": spec.owner or None, "papers": 0, "last_polled_at": None, "last_success_at": None, "last_error": None}
        for spec in config.sources
        if spec.name not in stored
    ]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    if not rows:
        print("No sources yet. Add [[sources]] to your config, or run `paperboy ingest FILE`.")
    for row in rows:
        health = f"error: {row['last_error']}" if row["last_error"] else "ok"
        print(
            f"{row['name']} ({row['kind']}) {row['papers']} papers; last success "
            f"{row['last_success_at'] or 'never'}; {health}\n    {row['location'] or ''}"
        )
    return 0


async def cmd_db(args: argparse.Namespace, config: Config) -> int:
    if args.db_command == "migrate":
        conn = await connect(config.store.path)
        try:
            applied = await migrate(conn)
        finally:
            await conn.close()
        if applied:
            print("applied: " + ", ".join(f"{m.version:04d}_{m.name}" for m in applied))
        else:
            print(f"{config.store.path} is up to date")
        return 0
    if args.db_command in ("check", "backup", "reindex") and not Path(config.store.path).exists():
        raise StoreError(f"no database at {config.store.path}; pass --db or run `paperboy ingest` first")
    store = await Store.open(config.store.path)
    try:
        if args.db_command == "check":
            problems = await store.check()
            for problem in problems:
                print(f"problem: {problem}")
            print(f"{config.store.path}: {'ok' if not problems else f'{len(problems)} problems'}"
                  f" ({await store.count_papers()} papers)")
            return 1 if problems else 0
        if args.db_command == "backup":
            await store.backup(args.path)
            print(f"backed up {config.store.path} to {args.path}")
            return 0
        await store.reindex()
        print(f"rebuilt the search index and the papers of each topic of {config.store.path}")
        return 0
    finally:
        await store.close()


async def cmd_config(args: argparse.Namespace, config: Config) -> int:
    print(f"# effective configuration{' from ' + config.path if config.path else ' (defaults)'}; secrets masked")
    json.dump(masked(config), sys.stdout, indent=2)
    print()
    return 0
