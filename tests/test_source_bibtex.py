"""Tests for the BibTeX parser, against a hand-written lab publication list."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from feeds.sources.bibtex import parse_bibtex
from storage.errors import SourceFormatError

RESOURCES = Path(__file__).parent / "resources" / "sources"


@pytest.fixture
def lab() -> tuple[dict, list, str]:
    text = (RESOURCES / "lab.bib").read_text(encoding="utf-8")
    result = parse_bibtex(text)
    return {r.title: r for r in result.records}, result.problems, text


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_good_entries_survive_a_broken_one(lab) -> None:
    records, problems, text = lab
    assert len(records) == 7
    assert [p.field for p in problems] == ["entry", "title"]
    broken, untitled = problems
    assert broken.line == line_of(text, "@article{broken2021entry")
    assert "closing" in broken.message
    assert untitled.line == line_of(text, "@article{notitle2018")
    assert "notitle2018" in untitled.message
    # The entry right after the broken one is still read.
    assert "Self-Transfer Learning for Fully Weakly Supervised Object Localization" in records


def test_last_first_names_month_macro_and_booktitle(lab) -> None:
    records, _, text = lab
    moon = records["Confidence-Aware Learning for Deep Neural Networks"]
    assert moon.authors == ("Jooyoung Moon", "Jihyo Kim", "Younghak Shin", "Sangheum Hwang")
    assert moon.authors_truncated is False
    assert moon.published == date(2020, 7, 1)
    assert moon.journal_ref == "Proceedings of the 37th International Conference on Machine Learning"
    assert moon.links[0].href == "https://proceedings.mlr.press/v119/moon20a.html"
    assert moon.line == line_of(text, "@inproceedings{moon2020confidence")


def test_and_others_and_arxiv_from_journal_text(lab) -> None:
    records, _, _ = lab
    few = records["Few-shot Fine-tuning is All You Need for Source-free Domain Adaptation"]
    assert few.authors == ("Suho Lee", "Seungwon Seo", "Jihyo Kim")
    assert few.authors_truncated is True
    assert few.arxiv_id == "2304.00792"
    assert few.published == date(2023, 4, 1)  # month = {April}
    assert few.code_url == "https://github.com/daintlab/fewshot-SFDA"
    assert few.has_code is True


def test_eprint_and_doi_url(lab) -> None:
    records, _, _ = lab
    stoch = records[
        "StochCA: A Novel Approach for Exploiting Pretrained Models with Cross-Attention"
    ]
    assert stoch.arxiv_id == "2402.16092"
    assert stoch.doi == "10.48550/arXiv.2402.16092"  # resolver prefix dropped
    assert stoch.published == date(2024, 2, 1)  # month = {2}


def test_latex_accents_dashes_and_name_particles(lab) -> None:
    records, _, _ = lab
    title = "Über die Robustheit von GANs – eine Étude für François"
    assert title in records
    paper = records[title]
    assert paper.authors == (
        "Jörg Müller",
        "José García-Pérez",
        "Jan van der Berg Jr.",
        "Søren Østergaard",
    )
    assert paper.journal_ref == "Zeitschrift für Maschinelles Lernen"
    assert paper.doi == "10.5555/zml.2019.042"
    assert paper.published == date(2019, 11, 1)
    assert paper.categories == ("robustness", "generative models")


def test_arxiv_url_missing_dates_and_odd_years(lab) -> None:
    records, _, _ = lab
    self_transfer = records["Self-Transfer Learning for Fully Weakly Supervised Object Localization"]
    assert (self_transfer.arxiv_id, self_transfer.arxiv_version) == ("1602.01625", 1)
    assert self_transfer.published == date(2016, 1, 1)
    deconv = records["Deconvolutional Feature Stacking for Weakly-Supervised Semantic Segmentation"]
    assert deconv.published is None  # year = {in press}
    undated = records["A Note Without Any Date"]
    assert undated.published is None and undated.authors == ("Jae-Hun Lee",)


def test_biblatex_date_field_and_duplicate_keys() -> None:
    text = """
@online{a2023, title = {First}, author = {Kim, Jihyo}, date = {2023-04-03}}
@online{a2023, title = {Second with the same key}, author = {Lee, Suho}, year = 2022}
"""
    result = parse_bibtex(text)
    assert [r.title for r in result.records] == ["First"]
    assert result.records[0].published == date(2023, 4, 3)
    [problem] = result.problems
    assert problem.field == "key" and "a2023" in problem.message
    assert problem.line == 3


def test_bom_and_empty_text() -> None:
    assert parse_bibtex("\ufeff@misc{k, title={T}}").records[0].title == "T"
    empty = parse_bibtex("")
    assert empty.records == [] and empty.problems == []


@pytest.mark.parametrize(
    "text",
    [
        "<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>",
        "title,author,year\nA paper,Someone,2020\n",
        "\x00\x01\x02binary\x00",
    ],
)
def test_documents_that_are_not_bibtex(text: str) -> None:
    with pytest.raises(SourceFormatError, match="BibTeX"):
        parse_bibtex(text)
