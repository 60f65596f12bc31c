"""`paperboy cite KEY... [--format bibtex|ris|csl-json]`: citations of stored papers on stdout."""

from __future__ import annotations

import argparse

from paperboy.config import Config
from storage import cite
from storage.errors import NotFoundError


async def cmd_cite(args: argparse.Namespace, config: Config) -> int:
    from paperboy._data_commands import open_store

    store = await open_store(config)
    try:
        papers = []
        missing = []
        for key in dict.fromkeys(args.keys):
            paper = await store.get_paper(key)
            if paper is None:
                missing.append(key)
            else:
                papers.append(paper)
    finally:
        await store.close()
    if missing:
        raise NotFoundError(
            f"no paper has the key{'s' if len(missing) > 1 else ''} {', '.join(repr(k) for k in missing)}; "
            "find keys with `paperboy search WORDS`"
        )
    base = config.public_base_url
    urls = {p.key: cite.paper_page(base, p.key) for p in papers}
    print(cite.render(papers, args.format, urls=urls), end="")
    return 0


def add_parser(add: object) -> None:
    """Register the command with the CLI's ``add(name, handler, help)``."""
    parser: argparse.ArgumentParser = add(  # type: ignore[operator]
        "cite", cmd_cite, "Print citations of papers by key (arXiv id, DOI or key) as BibTeX, RIS or CSL-JSON."
    )
    parser.add_argument("keys", nargs="+", metavar="KEY", help="paper keys, arXiv ids or DOIs")
    parser.add_argument("--format", choices=cite.FORMATS, default="bibtex", help="citation format (default bibtex)")
