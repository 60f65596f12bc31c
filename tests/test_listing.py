"""Where a listing's title ends and its author list begins, for every hard shape of either."""

from __future__ import annotations

from datetime import date

import pytest

from feeds.sources.listing import parse_listing

AS_OF = date(2026, 1, 1)


def one(title_line: str, abstract: str = "", **kwargs: object) -> tuple[str, tuple[str, ...]]:
    text = f"CVApr 3, 2023\n{title_line}\n{abstract}\n"
    result = parse_listing(text, as_of=AS_OF, **kwargs)  # type: ignore[arg-type]
    assert result.problems == []
    [record] = result.records
    return record.title, record.authors


def check(title: str, authors: list[str], abstract: str = "") -> None:
    assert one(title + ", ".join(authors), abstract) == (title, tuple(authors))


@pytest.mark.parametrize(
    ("title", "authors", "abstract"),
    [
        ("Contrastive Pretraining for SSL", ["Xiaolong Wang", "Abhinav Gupta"], ""),
        ("Tumour Scoring in TUPAC16", ["Mitko Veta", "Josien Pluim"], ""),
        ("Learning to Reconstruct 3D", ["Ben Mildenhall", "Pratul Srinivasan"], ""),
        ("Visual Grounding with GPT-4V", ["Ming Li", "Jie Tang"], ""),
        ("Robust Generation for LVLMs", ["Seulbi Lee"], ""),
        ("Is Attention All You Need?", ["Ashish Vaswani", "Noam Shazeer"], ""),
        ("What Makes a Good Prompt?", ["OpenAI"], ""),
        ("Residual Learning on ImageNet", ["Kaiming He", "Jian Sun"], "Results on ImageNet."),
        ("A Deep Learning Library in PyTorch", ["Adam Paszke", "Sam Gross"], "Uses PyTorch."),
        ("Improving OoDD", ["Jihyo Kim", "Sangheum Hwang"], "OoDD matters."),
        ("Personalising DreamBooth", ["JungWoo Chae"], "We extend DreamBooth."),
        ("Tumour proliferation: the TUPAC16 challenge", ["Mitko Veta"], ""),
        ("Training in Limited Data", ["JungWoo Chae", "Jiyoon Kim"], "Data is scarce."),
    ],
)
def test_title_endings(title: str, authors: list[str], abstract: str) -> None:
    check(title, authors, abstract)


@pytest.mark.parametrize(
    "authors",
    [
        ["Johannes van der Waals", "Ludwig von Mises", "Ana de Silva"],
        ["van der Berg", "Leonardo da Vinci", "Carlo di Marco"],
        ["Jean le Roux", "Talal bin Hassan", "Jan de Vries"],
        ["Jae-Hun Lee", "Hyo-Eun Kim", "Jean-Pierre Sartre"],
        ["Yujing J. Heng", "J Smith", "J.-P. Dupont", "A. B. Jones"],
        ["Frédéric Chopin", "Łukasz Kaiser", "Jürgen Müller", "Zoë Ångström"],
        ["ByeongMoon Ji", "SeokHyun Seo", "JaeWoong Choi"],
        ["OpenAI"],
        ["DeepMind", "Oriol Vinyals"],
        ["Cathy O'Neil", "Seán Ó Briain", "Lucia D'Angelo"],
        ["Ana María García-López", "Nguyễn Văn An"],
        ["Martin Luther King Jr.", "Henry Ford III"],
    ],
)
def test_name_shapes_after_an_ordinary_title(authors: list[str]) -> None:
    check("Scalable Learning of Representations", authors)
    check("Why Scale Matters?", authors)
    check("Planning for SSL", authors)


@pytest.mark.parametrize(
    "title",
    [
        "Detection, Segmentation, and Tracking of Cells",
        "Tasks: Detection, Segmentation and Tracking",
        "Faster, Smaller, Cheaper: Distilling Vision Models",
        "Vision, Language, and Action Models for Robots",
        "Gaussian, Poisson and Bernoulli Noise",
    ],
)
def test_titles_with_commas_and_capitalised_lists(title: str) -> None:
    check(title, ["Ana Lima", "Bo Chen", "Jihyo Kim"])
    check(title, ["Ana Lima"])


def test_camel_title_word_or_camel_given_name_decided_by_the_abstract() -> None:
    # The same glued text, read two ways depending on what the document says.
    line = "Training on ImageNetJian Sun, Kaiming He"
    assert one(line, "Accuracy on ImageNet improves.") == (
        "Training on ImageNet",
        ("Jian Sun", "Kaiming He"),
    )
    assert one("Limited DataJungWoo Chae", "Little data is available.") == (
        "Limited Data",
        ("JungWoo Chae",),
    )


def test_author_seen_elsewhere_in_the_document_decides() -> None:
    text = (
        "CVApr 3, 2023\nTraining on ImageNetJian Sun, Kaiming He\n"
        "CVApr 4, 2023\nAnother StudyKaiming He, Jian Sun\n"
    )
    records = parse_listing(text, as_of=AS_OF).records
    assert records[0].title == "Training on ImageNet"
    assert records[0].authors == ("Jian Sun", "Kaiming He")


def test_known_authors_decide_when_the_document_cannot() -> None:
    line = "Training on ImageNetJian Sun, Kaiming He"
    # Nothing in this one-entry document says whether "ImageNet" or "Jian" is a word;
    # the source's owner does.
    assert one(line, known_authors=["Sun, Jian"]) == (
        "Training on ImageNet",
        ("Jian Sun", "Kaiming He"),
    )
    assert one(line, known_authors=["Jian Sun"])[1][0] == "Jian Sun"


@pytest.mark.parametrize(
    ("tail", "truncated", "authors"),
    [
        (" et al.", True, ("Ana Lima", "Bo Chen")),
        (" et al", True, ("Ana Lima", "Bo Chen")),
        (", et al.", True, ("Ana Lima", "Bo Chen")),
        ("", False, ("Ana Lima", "Bo Chen")),
    ],
)
def test_et_al_marks_a_truncated_list(tail: str, truncated: bool, authors: tuple[str, ...]) -> None:
    text = f"LGMay 5, 2024\nSome Title HereAna Lima, Bo Chen{tail}\nAbstract.\n"
    [record] = parse_listing(text, as_of=AS_OF).records
    assert (record.title, record.authors, record.authors_truncated) == (
        "Some Title Here",
        authors,
        truncated,
    )


def test_whitespace_inside_names_and_titles_is_normalised() -> None:
    text = "CVApr 3, 2023\nA  Study\tof Things?Ana \u00a0Lima,   Bo  Chen\n"
    [record] = parse_listing(text, as_of=AS_OF).records
    assert record.title == "A Study of Things?"
    assert record.authors == ("Ana Lima", "Bo Chen")
