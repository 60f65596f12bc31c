"""The CLI contract, run in-process on real SQLite files: commands, JSON shapes, exit codes, help."""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

import pytest

from paperboy.cli import build_parser, main
from storage.models import INGEST_STEPS
from tests.helpers import REPO, SEED, needs_seed

DEMO = REPO / "examples" / "lab.txt"
EXPORT_FIELDS = {"key", "title", "authors", "authors_truncated", "category", "published", "has_code",
                 "code_url", "abstract", "first_seen_at"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_command_has_help() -> None:
    def walk(parser: argparse.ArgumentParser, path: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                for name, sub in action.choices.items():
                    if not helps.get(name) or not sub.description:
                        missing.append(f"{path} {name}")
                    missing += walk(sub, f"{path} {name}")
            elif action.dest != "help" and not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        return missing

    assert walk(build_parser(), "paperboy") == []


def test_ingest_demo_then_again_is_unchanged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "d.db")
    code, out, _ = run(capsys, "--db", db, "ingest", str(DEMO), "--json")
    assert code == 0
    totals = json.loads(out)["totals"]
    assert totals == {"new": 22, "updated": 0, "unchanged": 0, "skipped": 0}
    # Where the store's time went, step by step, as the library's IngestReport.seconds says.
    seconds = json.loads(out)["files"][0]["seconds"]
    assert list(seconds) == list(INGEST_STEPS) and all(value >= 0 for value in seconds.values())
    assert seconds["papers"] > 0 and seconds["index"] > 0
    code, out, _ = run(capsys, "--db", db, "ingest", str(DEMO), "--json")
    assert json.loads(out)["files"][0]["seconds"] == {}  # the same bytes: nothing stored, nothing timed
    code, out, _ = run(capsys, "--db", db, "ingest", str(DEMO))
    assert code == 0 and "0 new, 0 updated, 22 unchanged, 0 skipped" in out


def test_export_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "d.db")
    run(capsys, "--db", db, "ingest", str(DEMO))
    code, out, _ = run(capsys, "--db", db, "export", "--json")
    papers = json.loads(out)
    assert code == 0 and len(papers) == 22
    for paper in papers:
        assert EXPORT_FIELDS <= set(paper)
        assert isinstance(paper["authors"], list) and paper["authors"]
        assert len(paper["published"]) == 10 and paper["first_seen_at"].endswith("+00:00")
    coded = [p for p in papers if p["has_code"]]
    assert coded and all(p["code_url"].startswith("https://") for p in coded)


def test_export_ingest_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, db2 = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    run(capsys, "--db", db, "ingest", str(DEMO), "--owner", "Sangheum Hwang")
    _, out, _ = run(capsys, "--db", db, "export", "--json")
    dump = tmp_path / "dump.json"
    dump.write_text(out)
    code, _, _ = run(capsys, "--db", db2, "ingest", str(dump))
    assert code == 0
    _, out2, _ = run(capsys, "--db", db2, "export", "--json")
    strip = ("updated_at",)
    a = [{k: v for k, v in p.items() if k not in strip} for p in json.loads(out)]
    b = [{k: v for k, v in p.items() if k not in strip} for p in json.loads(out2)]
    assert a == b


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"", "empty"),
        ("blob.bin", bytes(range(256)) * 8, "binary"),
        ("table.csv", b"title,author,year\nA,B,2020\nC,D,2021\n", "CSV"),
    ],
)
def test_garbage_input_fails_and_leaves_db_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes, message: str
) -> None:
    db = tmp_path / "g.db"
    run(capsys, "--db", str(db), "ingest", str(DEMO))
    before = sqlite3.connect(db).execute("SELECT count(*), max(updated_at) FROM papers").fetchone()
    bad = tmp_path / name
    bad.write_bytes(content)
    code, _, err = run(capsys, "--db", str(db), "ingest", str(DEMO), str(bad))
    assert code == 2
    assert name in err and message.lower() in err.lower()
    after = sqlite3.connect(db).execute("SELECT count(*), max(updated_at) FROM papers").fetchone()
    assert before == after


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--db", str(tmp_path / "x.db"), "ingest", str(tmp_path / "nope.txt"))
    assert code == 2 and "nope.txt" in err and "no such file" in err


def test_a_store_in_memory_is_refused_with_the_way_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["ingest", str(DEMO)], ["search", "graph"]):
        code, out, err = run(capsys, "--db", ":memory:", *argv)
        assert code == 2 and out == ""
        assert "not in memory" in err and "point --db at a file" in err
        assert "Traceback" not in err
    assert not (Path.cwd() / ":memory:").exists()


def test_malformed_entry_reported_with_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    lines[3] = "CVNotADate, 2023"  # the second entry's header
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "--db", str(tmp_path / "b.db"), "ingest", str(bad), "--json")
    assert code == 0
    report = json.loads(out)["files"][0]
    assert report["new"] == 21
    assert [s["line"] for s in report["skipped"]] == [4]


def test_search_author_topics_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "s.db")
    run(capsys, "--db", db, "ingest", str(DEMO), "--owner", "Sangheum Hwang")
    code, out, _ = run(capsys, "--db", db, "search", "out-of-distribution detection", "--json", "--limit", "3")
    results = json.loads(out)
    assert code == 0 and 1 <= len(results) <= 3 and EXPORT_FIELDS <= set(results[0])
    code, out, _ = run(capsys, "--db", db, "author", "hwang sangheum", "--json")
    data = json.loads(out)
    assert data["matches"][0]["name"] == "Sangheum Hwang" and data["matches"][0]["papers"] == 22
    profile = data["profile"]
    dates = [p["published"] for p in profile["papers"]]
    assert dates == sorted(dates, reverse=True)
    assert profile["coauthors"][0]["papers"] >= profile["coauthors"][-1]["papers"]
    assert profile["years_active"][0] <= profile["years_active"][1]
    code, out, _ = run(capsys, "--db", db, "topics", "--json")
    topics = json.loads(out)
    assert any(t["kind"] == "acronym" and t["expansion"] for t in topics)
    assert all(t["papers"] >= 1 for t in topics)


def test_search_text_for_no_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "s.db")
    run(capsys, "--db", db, "ingest", str(DEMO))
    code, out, _ = run(capsys, "--db", db, "search", 'NEAR("zzz')
    assert code == 0 and "No papers match" in out


def test_db_env_and_flag_precedence(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    env_db, flag_db = tmp_path / "env.db", tmp_path / "flag.db"
    monkeypatch.setenv("PAPERBOY_DB", str(env_db))
    run(capsys, "ingest", str(DEMO))
    assert env_db.exists()
    run(capsys, "--db", str(flag_db), "ingest", str(DEMO))
    assert flag_db.exists()
    config = tmp_path / "c.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "cfg.db"}"\n')
    monkeypatch.delenv("PAPERBOY_DB")
    run(capsys, "--config", str(config), "ingest", str(DEMO))
    assert (tmp_path / "cfg.db").exists()


def test_db_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.db")
    code, out, _ = run(capsys, "--db", db, "db", "migrate")
    assert code == 0
    run(capsys, "--db", db, "ingest", str(DEMO))
    code, out, _ = run(capsys, "--db", db, "db", "check")
    assert code == 0 and "ok" in out and "22 papers" in out
    code, out, _ = run(capsys, "--db", db, "db", "backup", str(tmp_path / "bk.db"))
    assert code == 0
    code, out, _ = run(capsys, "--db", str(tmp_path / "bk.db"), "db", "check")
    assert code == 0
    code, _, err = run(capsys, "--db", db, "db", "backup", str(tmp_path / "bk.db"))
    assert code == 2 and "already exists" in err
    code, _, err = run(capsys, "--db", str(tmp_path / "none.db"), "db", "check")
    assert code == 2 and "no database" in err


def test_bad_config_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[http]\nport = 70000\n")
    code, _, err = run(capsys, "--config", str(bad), "topics")
    assert code == 2 and "[http] port" in err and "0 to 65535" in err


@needs_seed
def test_seed_ingest_with_as_of(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "seed.db")
    code, out, _ = run(capsys, "--db", db, "ingest", str(SEED), "--as-of", "2026-11-25",
                       "--owner", "Sangheum Hwang", "--json")
    assert code == 0 and json.loads(out)["totals"]["new"] == 22
    _, out, _ = run(capsys, "--db", db, "export", "--json")
    dates = {p["title"]: p["published"] for p in json.loads(out)}
    erasure = next(t for t in dates if t.startswith("Localized Concept Erasure"))
    assert dates[erasure] == "2026-02-23"
