"""Shared test helpers: the seed's location and small record builders."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from storage.models import PaperRecord

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "seeds" / "000_c2aa908472245cfd.txt"
SEED_AS_OF = date(2026, 11, 25)
needs_seed = pytest.mark.skipif(not SEED.exists(), reason="needs ../shared (present in CI)")


def record(title: str, *authors: str, **fields: object) -> PaperRecord:
    """A record with sensible defaults for the fields a test does not care about."""
    fields.setdefault("published", date(2024, 1, 1))
    fields.setdefault("category", "CV")
    return PaperRecord(title=title, authors=tuple(authors) or ("Ada Lovelace",), **fields)  # type: ignore[arg-type]
