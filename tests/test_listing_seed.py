"""The seed listing parses field by field into the 22 papers it holds, and the demo mirrors it."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest

from feeds.sources.listing import parse_listing, parse_listing_file

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "seeds" / "000_c2aa908472245cfd.txt"
DEMO = REPO / "paperboy" / "demo" / "lab.txt"
EXAMPLE = REPO / "examples" / "lab.txt"
needs_seed = pytest.mark.skipif(not SEED.exists(), reason="needs ../shared (present in CI)")

GH = "https://github.com/"
# (line, category, published, has_code, code_url, title, authors, truncated, sha256(abstract)[:16])
# The abstracts are someone else's text: the table holds a digest of each, not the words.
EXPECTED = [
    (1, "CV", date(2023, 4, 3), True, GH + "daintlab/fewshot-SFDA",
     "Few-shot Fine-tuning is All You Need for Source-free Domain Adaptation",
     ("Suho Lee", "Seungwon Seo", "Jihyo Kim"), True,
     "154a38ca75913a6f"),
    (4, "CV", date(2023, 4, 7), False, None,
     "Rethinking Evaluation Protocols of Visual Representations Learned via "
     "Self-supervised Learning",
     ("Jae-Hun Lee", "Doyoung Yoon", "ByeongMoon Ji"), True,
     "8905f7d9930027e5"),
    (7, "CV", date(2023, 3, 25), False, None,
     "Deep Active Learning with Contrastive Learning Under Realistic Data Pool Assumptions",
     ("Jihyo Kim", "Jeonghyeon Kim", "Sangheum Hwang"), False,
     "502d2142c74d7369"),
    (10, "CV", date(2024, 10, 19), True, GH + "daintlab/ReGuide",
     "Reflexive Guidance: Improving OoDD in Vision-Language Models via Self-Guided "
     "Image-Adaptive Concept Generation",
     ("Jihyo Kim", "Seulbi Lee", "Sangheum Hwang"), False,
     "92dee77aa7becc87"),
    (13, "CV", date(2024, 2, 25), True, GH + "daintlab/stochastic_cross_attention",
     "StochCA: A Novel Approach for Exploiting Pretrained Models with Cross-Attention",
     ("Seungwon Seo", "Suho Lee", "Sangheum Hwang"), False,
     "a2dca10264a54063"),
    (16, "CV", date(2021, 12, 1), True, GH + "daintlab/unknown-detection-benchmarks",
     "A Unified Benchmark for the Unknown Detection Capability of Deep Neural Networks",
     ("Jihyo Kim", "Jiin Koo", "Sangheum Hwang"), False,
     "2e5e8257bfd22a3f"),
    (19, "LG", date(2020, 6, 22), True, GH + "lgcnsai/PS-KD-Pytorch",
     "Self-Knowledge Distillation with Progressive Refinement of Targets",
     ("Kyungyul Kim", "ByeongMoon Ji", "Doyoung Yoon"), True,
     "aeab4afd84efb3ad"),
    (22, "CV", date(2026, 2, 23), False, None,
     "Localized Concept Erasure in Text-to-Image Diffusion Models via High-Level "
     "Representation Misdirection",
     ("Uichan Lee", "Jeonghyeon Kim", "Sangheum Hwang"), False,
     "14aab8ceef87aa6b"),
    (25, "CV", date(2025, 7, 3), False, None,
     "APT: Adaptive Personalized Training for Diffusion Models with Limited Data",
     ("JungWoo Chae", "Jiyoon Kim", "JaeWoong Choi"), True,
     "dd6f7d7517fb1b64"),
    (28, "CV", date(2026, 2, 19), False, None,
     "Selective Training for Large Vision Language Models via Visual Information Gain",
     ("Seulbi Lee", "Sangheum Hwang"), False,
     "1ecbe77c4e7717d8"),
    (31, "LG", date(2025, 10, 14), False, None,
     "Reference-Specific Unlearning Metrics Can Hide the Truth: A Reality Check",
     ("Sungjun Cho", "Dasol Hwang", "Frederic Sala"), True,
     "4e9225297e451a66"),
    (34, "CV", date(2025, 5, 31), False, None,
     "Parallel Rescaling: Rebalancing Consistency Guidance for Personalized Diffusion Models",
     ("JungWoo Chae", "Jiyoon Kim", "Sangheum Hwang"), False,
     "d555f4bd253748ca"),
    (37, "CV", date(2025, 3, 24), False, None,
     "Enhanced OoD Detection through Cross-Modal Alignment of Multi-Modal Representations",
     ("Jeonghyeon Kim", "Sangheum Hwang"), False,
     "5fa6fd14e69c7c89"),
    (40, "CV", date(2024, 1, 5), False, None,
     "GTA: Guided Transfer of Spatial Attention from Object-Centric Representations",
     ("SeokHyun Seo", "Jinwoo Hong", "JungWoo Chae"), True,
     "1c9f55efaac5f46d"),
    (43, "LG", date(2021, 11, 2), False, None,
     "Elucidating Robust Learning with Uncertainty-Aware Corruption Pattern Estimation",
     ("Jeongeun Park", "Seungyoun Shin", "Sangheum Hwang"), True,
     "c85165a2d64a3617"),
    (46, "LG", date(2020, 7, 3), False, None,
     "Confidence-Aware Learning for Deep Neural Networks",
     ("Jooyoung Moon", "Jihyo Kim", "Younghak Shin"), True,
     "76724c66e80e2945"),
    (49, "CV", date(2018, 7, 22), False, None,
     "Predicting breast tumor proliferation from whole-slide images: the TUPAC16 challenge",
     ("Mitko Veta", "Yujing J. Heng", "Nikolas Stathonikos"), True,
     "fb6596edf1ef56bc"),
    (52, "CV", date(2017, 8, 2), False, None,
     "Accurate Lung Segmentation via Network-Wise Training of Convolutional Networks",
     ("Sangheum Hwang", "Sunggyun Park"), False,
     "8ddae2c4e9cf622e"),
    (55, "CV", date(2016, 12, 21), False, None,
     "A Unified Framework for Tumor Proliferation Score Prediction in Breast Histopathology",
     ("Kyunghyun Paeng", "Sangheum Hwang", "Sunggyun Park"), True,
     "16e3e0972421c7d3"),
    (58, "LG", date(2016, 11, 4), False, None,
     "Semantic Noise Modeling for Better Representation Learning",
     ("Hyo-Eun Kim", "Sangheum Hwang", "Kyunghyun Cho"), False,
     "b1dffcf49582c829"),
    (61, "CV", date(2016, 2, 16), False, None,
     "Deconvolutional Feature Stacking for Weakly-Supervised Semantic Segmentation",
     ("Hyo-Eun Kim", "Sangheum Hwang"), False,
     "1e1eaabedef53345"),
    (64, "CV", date(2016, 2, 4), False, None,
     "Self-Transfer Learning for Fully Weakly Supervised Object Localization",
     ("Sangheum Hwang", "Hyo-Eun Kim"), False,
     "a9e7f16418cc3e1e"),
]  # fmt: skip


@needs_seed
def test_seed_every_field_of_every_paper() -> None:
    result = parse_listing_file(SEED, as_of=date(2026, 11, 25))
    assert result.problems == []
    assert len(result.records) == len(EXPECTED) == 22
    for record, expected in zip(result.records, EXPECTED, strict=True):
        line, digest = expected[0], expected[8]
        got = (
            record.line, record.category, record.published, record.has_code,
            record.code_url, record.title, record.authors, record.authors_truncated,
        )  # fmt: skip
        assert got == expected[:8], f"seed line {line}"
        assert hashlib.sha256(record.abstract.encode()).hexdigest()[:16] == digest, f"seed line {line}"
        assert record.abstract == record.abstract.strip()
        assert "  " not in record.abstract


@needs_seed
def test_seed_year_less_dates_follow_as_of() -> None:
    text = SEED.read_text(encoding="utf-8")
    late = {r.line: r.published for r in parse_listing(text, as_of=date(2026, 11, 25)).records}
    assert (late[22], late[28]) == (date(2026, 2, 23), date(2026, 2, 19))
    # Between the two days: Feb 23 has not come yet in 2026, Feb 19 has.
    early = {r.line: r.published for r in parse_listing(text, as_of=date(2026, 2, 20)).records}
    assert (early[22], early[28]) == (date(2025, 2, 23), date(2026, 2, 19))


def test_demo_copies_are_identical() -> None:
    assert DEMO.read_bytes() == EXAMPLE.read_bytes()


def test_demo_parses_cleanly_with_code_links_in_summaries() -> None:
    result = parse_listing_file(DEMO, as_of=date(2026, 11, 25))
    assert result.problems == []
    assert len(result.records) == 22
    for record in result.records:
        assert record.abstract and record.abstract.endswith(".")
        if record.has_code:
            assert record.code_url and record.code_url in record.abstract
        else:
            assert record.code_url is None


@needs_seed
def test_demo_has_the_seed_facts_but_its_own_summaries() -> None:
    seed = parse_listing_file(SEED, as_of=date(2026, 11, 25)).records
    # The demo carries full years, so its as_of must not matter.
    demo = parse_listing_file(DEMO, as_of=date(2030, 1, 1)).records
    assert len(demo) == len(seed) == 22
    for s, d in zip(seed, demo, strict=True):
        assert (d.title, d.authors, d.authors_truncated) == (s.title, s.authors, s.authors_truncated)
        assert (d.published, d.category, d.has_code, d.code_url) == (
            s.published, s.category, s.has_code, s.code_url,
        )  # fmt: skip
        assert d.abstract != s.abstract
        # Our own words: no run of eight words taken from the seed's abstract.
        seed_words = s.abstract.split()
        shingles = {tuple(seed_words[i : i + 8]) for i in range(len(seed_words) - 7)}
        demo_words = d.abstract.split()
        assert not any(
            tuple(demo_words[i : i + 8]) in shingles for i in range(len(demo_words) - 7)
        ), d.title
