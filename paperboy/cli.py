"""The `paperboy` command line: global options, sub-commands and their dispatch."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date

from paperboy import config as config_mod
from paperboy import logs
from storage.db import file_error_in, store_error
from storage.errors import PaperboyError

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, config_mod.Config], Awaitable[int]]


def _as_of(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from exc


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from paperboy import _admin_commands as admin
    from paperboy import _data_commands as data

    parser = argparse.ArgumentParser(
        prog="paperboy",
        description="Keep a research group's papers in one store; search them, feed them, announce them.",
        epilog="Global options have environment twins: PAPERBOY_DB, PAPERBOY_CONFIG.",
    )
    parser.add_argument("--db", metavar="PATH", help="the SQLite database (env PAPERBOY_DB; wins over the config)")
    parser.add_argument("--config", metavar="PATH", help="a TOML config file (env PAPERBOY_CONFIG)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log verbosity")
    parser.add_argument("--log-format", choices=["text", "json"], help="log line format (default text)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(handler=handler)
        return cmd

    run = add("run", admin.cmd_run, "Run the service: ingest sources on schedule, serve feeds, run the bot.")
    run.add_argument("--config", dest="run_config", metavar="PATH", help="a TOML config file")

    ingest = add("ingest", data.cmd_ingest, "Store papers from listing, BibTeX, feed or export files.")
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="files to read")
    ingest.add_argument("--as-of", type=_as_of, metavar="YYYY-MM-DD",
                        help="date that year-less listing dates resolve against (default: file time)")
    ingest.add_argument("--owner", metavar="NAME", help="the person whose profile the listing was scraped from")
    ingest.add_argument("--source", metavar="NAME", help="source name to record (default: the file name)")
    ingest.add_argument("--json", action="store_true", help="print the counts as JSON")

    export = add("export", data.cmd_export, "Print every stored paper.")
    export.add_argument("--json", action="store_true", help="as a JSON array (the default and only format)")

    search = add("search", data.cmd_search, "Search titles and abstracts; acronyms and phrases expand.")
    search.add_argument("query", help="words to look for; any text is safe")
    search.add_argument("--limit", type=_positive, default=10, help="how many papers (default 10, at most 100)")
    search.add_argument("--json", action="store_true", help="print papers as JSON, each with what matched")
    search.add_argument("--explain", action="store_true",
                        help="say under each paper which words, phrases or expansions matched, and where")

    author = add("author", data.cmd_author, "Find an author (typos, order, initials forgiven) and show a profile.")
    author.add_argument("query", help="a name, e.g. 'Lee, Jae-Hun' or 'j lee'")
    author.add_argument("--json", action="store_true", help="print matches and profile as JSON")

    topics = add("topics", data.cmd_topics, "List learnt topics (acronyms, phrases, categories) with counts.")
    topics.add_argument("--json", action="store_true", help="print topics as JSON")

    ask = add("ask", data.cmd_ask, "Show what the Discord bot would answer to a slash command.")
    ask.add_argument("command_line", metavar="COMMAND", help='e.g. "/author name:Sangheum Hwang"')
    ask.add_argument("--json", action="store_true", help="print the Discord message payload as JSON")

    from paperboy import _cite_command

    _cite_command.add_parser(add)

    commands = add("commands", data.cmd_commands, "Print the slash commands that sync would upload.")
    commands.add_argument("--json", action="store_true", help="as Discord's application-command JSON")

    feed = add("feed", admin.cmd_feed, "Feed files.")
    feed_sub = feed.add_subparsers(dest="feed_command", metavar="ACTION", required=True)
    build = feed_sub.add_parser("build", help="Write every feed and the index as static files.",
                                description="Write every feed and the index as static files.")
    build.add_argument("--out", required=True, metavar="DIR", help="folder to write into")

    sources = add("sources", admin.cmd_sources, "List configured sources with their health, or poll them now.")
    sources.add_argument("--json", action="store_true", help="print sources as JSON")
    sources_sub = sources.add_subparsers(dest="sources_command", metavar="ACTION")
    poll = sources_sub.add_parser("poll", help="Poll sources now (all, or one by name).",
                                  description="Poll sources now (all, or one by name).")
    poll.add_argument("name", nargs="?", help="a source name from the config")

    db = add("db", admin.cmd_db, "Database care: migrate, check, backup, reindex.")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser("migrate", help="Apply pending schema migrations.",
                      description="Apply pending schema migrations.")
    db_sub.add_parser("check", help="Check integrity; exit 1 on any problem.",
                      description="Check integrity; exit 1 on any problem.")
    backup = db_sub.add_parser("backup", help="Copy the database safely while it is in use.",
                               description="Copy the database safely while it is in use.")
    backup.add_argument("path", help="where to write the copy (must not exist)")
    db_sub.add_parser("reindex", help="Rebuild the search index and the papers of each topic from the store.",
                      description="Rebuild the search index from the store.")

    cfg = add("config", admin.cmd_config, "Configuration.")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = cfg_sub.add_parser("check", help="Validate a config and print the effective settings, secrets masked.",
                               description="Validate a config and print the effective settings, secrets masked.")
    check.add_argument("path", nargs="?", help="the config file (default: --config / PAPERBOY_CONFIG)")
    return parser


def resolve_config_path(args: argparse.Namespace) -> str | None:
    return (
        getattr(args, "run_config", None)
        or (getattr(args, "path", None) if args.command == "config" else None)
        or args.config
        or os.environ.get("PAPERBOY_CONFIG")
        or None
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_mod.load(resolve_config_path(args), db=args.db)
    except PaperboyError as exc:
        print(f"paperboy: {exc}", file=sys.stderr)
        return 2
    logs.setup(args.log_level or config.logging.level, args.log_format or config.logging.format)
    try:
        return asyncio.run(args.handler(args, config))
    except PaperboyError as exc:
        print(f"paperboy: {exc}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:
        # A failure of the database file (busy, full, read-only, damaged) is one sentence.
        print(f"paperboy: {store_error(file_error_in(exc) or exc, config.store.path)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `paperboy export | head` closes the pipe early; that is not an error.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
