"""Frozen encoder or fine-tuned top layer: the recorded comparison, the decision rule and the card's section."""

from __future__ import annotations

import json

import pytest

from policy_nlp.classify.encoder_choice import FROZEN, TUNED, load_comparison, tuned_wins_clearly
from policy_nlp.classify.model_card import encoder_choice_section
from policy_nlp.errors import InputError


def scores(f1, lo, hi, n_rows=108):
    return {"n_rows": n_rows, "macro_f1_core": f1, "macro_f1_core_ci": [lo, hi]}


def record(tmp_path, schemes):
    path = tmp_path / "classify_tuned.json"
    path.write_text(json.dumps(schemes, ensure_ascii=False), encoding="utf-8")
    return path


def test_the_fine_tuned_layer_wins_only_when_ahead_everywhere_and_clearly_once(tmp_path):
    level = record(tmp_path, {
        "held-out": {FROZEN: scores(0.97, 0.94, 0.99), TUNED: scores(0.975, 0.95, 0.99), "keyword": scores(0.88, 0.8, 0.9)},
        "by document": {FROZEN: scores(0.80, 0.75, 0.85), TUNED: scores(0.79, 0.74, 0.84)},
        "messages → reports": {FROZEN: scores(None, None, None), TUNED: scores(0.5, 0.4, 0.6)},  # a core theme unseen
    })  # fmt: skip
    comparison = load_comparison(level)
    assert [c.scheme for c in comparison] == ["held-out", "by document"] and comparison[0].tuned_ci == (0.95, 0.99)
    assert not tuned_wins_clearly(comparison)  # behind by document
    ahead = load_comparison(record(tmp_path, {"held-out": {FROZEN: scores(0.80, 0.7, 0.9), TUNED: scores(0.86, 0.82, 0.9)},
                                              "by document": {FROZEN: scores(0.8, 0.7, 0.9), TUNED: scores(0.81, 0.7, 0.9)}}))  # fmt: skip
    assert tuned_wins_clearly(ahead)  # 0.82 > 0.80 on the held-out set
    barely = load_comparison(record(tmp_path, {"held-out": {FROZEN: scores(0.80, 0.7, 0.9), TUNED: scores(0.83, 0.78, 0.9)}}))
    assert not tuned_wins_clearly(barely) and not tuned_wins_clearly([])


def test_the_card_section_shows_the_figures_and_says_why_the_encoder_stays_frozen(tmp_path):
    comparison = load_comparison(record(tmp_path, {"held-out": {FROZEN: scores(0.97, 0.94, 0.99), TUNED: scores(0.96, 0.93, 0.99)}}))
    text = encoder_choice_section(comparison, {"tune_layers": 1, "encoder_epochs": 2}, shipped_tuned=False)
    assert "| held-out | 108 | 0.970 (0.94–0.99) | 0.960 (0.93–0.99) |" in text
    assert "does not win clearly" in text and "keeps the encoder frozen" in text and "tune_layers=1" in text
    absent = encoder_choice_section(load_comparison(tmp_path / "absent.json"), {}, shipped_tuned=False)
    assert "No comparison" in absent and "encoder stays frozen" in absent


def test_a_file_of_another_kind_is_refused_in_words(tmp_path):
    with pytest.raises(InputError, match="evaluate classify --tuned"):
        load_comparison(record(tmp_path, {"held-out": {FROZEN: {"f1": 1}, TUNED: {"f1": 1}}}))


def test_the_rendered_card_carries_the_section():
    from policy_nlp.classify.model_card import CardData, render_card

    data = CardData(base_model="m", base_sha256=None, hyper_parameters={"tune_layers": 0}, label_files=["a.jsonl"],
                    held_out_files=["b.jsonl"], n_real=1, n_documents=1, n_synthetic=0, genres={"report": 1},
                    label_counts={"safety": {"real": 1, "synthetic": 0}}, theme_names={"safety": "安全"},
                    core_ids=["safety"], thresholds={"safety": 0.5}, inner_splits=2)  # fmt: skip
    card = render_card(data)
    section = card[card.index("## Frozen encoder or fine-tuned top layer") : card.index("## Calibration")]
    assert "encoder stays frozen" in section
