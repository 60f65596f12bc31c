"""[search] in the config changes what `paperboy search` answers: the acronym dictionary and its overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paperboy.cli import main
from paperboy.config import from_mapping, search_acronyms
from storage import acronyms
from storage.errors import ConfigError
from tests.helpers import REPO

DEMO = REPO / "paperboy" / "demo" / "lab.txt"
FEW_SHOT = "few-shot-fine-tuning-is-all-you-need-for-source-free-domain-adaptation"
WEAK = {"deconvolutional-feature-stacking-for-weakly-supervised-semantic-segmentation",
        "self-transfer-learning-for-fully-weakly-supervised-object-localization"}
GTA = "gta-guided-transfer-of-spatial-attention-from-object-centric-representations"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("cfg") / "demo.db"
    assert main(["--db", str(path), "ingest", str(DEMO)]) == 0
    return str(path)


def keys(capsys: pytest.CaptureFixture[str], db: str, query: str, config: Path | None = None) -> list[str]:
    capsys.readouterr()
    argv = ["--db", db, *(["--config", str(config)] if config else []), "search", query, "--json"]
    assert main(argv) == 0
    return [hit["key"] for hit in json.loads(capsys.readouterr().out)]


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "paperboy.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_shipped_dictionary_expands_what_the_papers_do_not_define(capsys, db: str) -> None:
    # The demo listing never writes "domain adaptation (DA)"; the shipped dictionary knows it.
    assert acronyms.load()["DA"] == "domain adaptation"
    hits = keys(capsys, db, "DA")
    assert hits[0] == FEW_SHOT


def test_builtin_acronyms_off_drops_the_dictionary(capsys, db: str, tmp_path: Path) -> None:
    config = write(tmp_path, "[search]\nbuiltin_acronyms = false\n")
    assert keys(capsys, db, "DA", config) == []
    # What the lab's own papers define still expands.
    assert keys(capsys, db, "ViTs", config)[0] == GTA


def test_acronyms_add_remove_and_never_beat_the_papers(capsys, db: str, tmp_path: Path) -> None:
    config = write(tmp_path, '[search]\nacronyms = { WS = "weakly supervised", DA = "", '
                             'ViT = "variational inference trick" }\n')
    assert set(keys(capsys, db, "WS", config)[:2]) == WEAK
    assert keys(capsys, db, "WS") == []  # not without the config
    assert keys(capsys, db, "DA", config) == []  # removed from the shipped list
    # The demo abstracts define ViT as "vision transformer": that wins over the config's meaning.
    assert keys(capsys, db, "ViT", config)[0] == GTA


@pytest.mark.parametrize(("body", "needle"), [
    ('[search]\nacronyms = "OOD"\n', "expected a table"),
    ("[search]\nacronyms = { OOD = 3 }\n", "acronyms.OOD: expected the long form as a string"),
    ('[search]\nacronyms = { "two words" = "x y" }\n', "is not one word"),
    ('[search]\nacronyms = { OOD = "!!" }\n', "has no words"),
    ("[search]\nbuiltin_acronyms = 2\n", "expected true or false"),
])
def test_bad_search_settings_say_where(body: str, needle: str) -> None:
    import tomllib

    with pytest.raises(ConfigError, match=needle):
        from_mapping(tomllib.loads(body), path="paperboy.toml")


def test_effective_dictionary_is_shipped_plus_config() -> None:
    config = from_mapping({"search": {"acronyms": {"ood": "out-of-distribution samples", "ZSL": "zero-shot learning"}}})
    merged = search_acronyms(config)
    assert merged["ood"] == "out of distribution sample"  # replaced whatever the case, folded like learnt ones
    assert "OOD" not in merged and merged["ZSL"] == "zero shot learning" and merged["ViT"] == "vision transformer"
    assert search_acronyms(from_mapping({"search": {"builtin_acronyms": False}})) == {}


def test_explain_and_json_say_what_matched_where_on_the_demo(capsys, db: str) -> None:
    capsys.readouterr()
    assert main(["--db", db, "search", "ood", "--explain", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "matched 1 of 1 word: 'ood' as word in title" in out  # "OoD Detection"
    assert "matched 1 of 1 word: 'ood' as expansion 'OoDD' in title" in out
    plain = main(["--db", db, "search", "ood", "--limit", "2"]) == 0 and capsys.readouterr().out
    assert "matched" not in plain  # only with --explain
    assert main(["--db", db, "search", "weakly supervised segmentation", "--json"]) == 0
    top = json.loads(capsys.readouterr().out)[0]
    assert top["key"].startswith("deconvolutional-feature-stacking")
    assert top["match"]["words_matched"] == 3 == top["match"]["words"]
    assert {(m["query"], m["field"]) for m in top["match"]["matches"]} == {
        ("weakly", "title"), ("supervised", "title"), ("segmentation", "title")}
    assert "1 adjacent pair in the title" in top["match"]["signals"]  # "Weakly-Supervised", not "Segmentation"
