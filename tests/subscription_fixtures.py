"""Helpers for the subscription tests: papers as export JSON, ingested by a real `paperboy ingest` process."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

PAPERBOY = Path(sys.executable).with_name("paperboy")


def paper(title: str, *authors: str, category: str | None = "CV", days_old: int | None = 1,
          published: date | None = None, abstract: str = "") -> dict[str, Any]:
    """One paper in `paperboy export --json` shape; ``days_old=None`` leaves it undated."""
    when = published or (date.today() - timedelta(days=days_old) if days_old is not None else None)
    return {
        "title": title,
        "authors": list(authors) or ["Zed Newcomer"],
        "category": category,
        "published": when.isoformat() if when else None,
        "abstract": abstract or f"We present {title.lower()}.",
    }


async def ingest_elsewhere(db: Path, papers: list[dict[str, Any]], folder: Path, *, source: str = "later",
                           config: Path | None = None) -> dict[str, Any]:
    """Run `paperboy ingest --json` in another process on the same database; returns the file's counts."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source}-{len(list(folder.iterdir()))}.json"
    path.write_text(json.dumps(papers), encoding="utf-8")
    args = [str(PAPERBOY), "--db", str(db)]
    if config is not None:
        args += ["--config", str(config)]
    args += ["ingest", "--json", "--source", source, str(path)]
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)["files"][0]


def titles_posted(messages: list[dict[str, Any]]) -> Counter:
    """How often each paper title was announced in these messages (embed titles)."""
    return Counter(m["embeds"][0]["title"] for m in messages if m.get("embeds"))


async def paperboy_stdout(*args: str) -> str:
    """What `paperboy ARGS` prints, run as another process (it must succeed)."""
    proc = await asyncio.create_subprocess_exec(str(PAPERBOY), *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()
