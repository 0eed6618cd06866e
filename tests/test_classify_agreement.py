"""Inter-annotator agreement between two labellings of the same texts."""

from __future__ import annotations

import json
import math

import pytest

from policy_nlp.classify.agreement import agreement
from policy_nlp.schema import text_hash

TEXTS = ["学校门口拆迁施工,渣土车来往,孩子上学很危险。", "孩子每天作业写到十一点,请管一管作业量。",
         "请问中考准考证什么时候发?", "举报学校党支部书记公款吃喝。"]  # fmt: skip


def write(path, themes_per_text, extra=()):
    rows = [{"doc_id": f"m{i}", "text_hash": text_hash(t), "themes": th} for i, (t, th) in enumerate(zip(TEXTS, themes_per_text))]
    rows += list(extra)
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_agreement_counts_kappa_and_f1_per_theme(tmp_path):
    first = write(tmp_path / "a.jsonl", [["safety"], ["double_reduction"], [], ["party_building"]])
    second = write(tmp_path / "b.jsonl", [["safety"], ["double_reduction", "safety"], [], ["party_building"]],
                   extra=[{"doc_id": "x", "text_hash": "0" * 16, "themes": []}])  # fmt: skip
    result = agreement(first, second)
    assert result.compared == 4 and result.unmatched == 1
    safety = result.per_theme["safety"]
    assert (safety.both, safety.first_only, safety.second_only) == (1, 0, 1)
    assert safety.f1 == pytest.approx(2 / 3) and safety.kappa == pytest.approx(0.5)
    assert result.per_theme["party_building"].kappa == 1.0
    assert math.isnan(result.per_theme["teachers"].f1)  # neither labeller used it
    assert result.macro_f1_core == pytest.approx((1 + 1 + 2 / 3) / 3)


def test_the_packaged_cross_readings_of_the_meiyu_paragraphs_are_all_labelled():
    """Each reader's blind second labelling of 70 paragraphs of the other's sheet compares with meiyu.jsonl."""
    from policy_nlp.resources import shipped

    result = agreement(shipped("data", "labels", "meiyu.jsonl"), shipped("data", "agreement", "themes_meiyu_cross.jsonl"))
    assert result.compared == 140 and result.per_theme["teachers"].both > 20
    assert result.per_theme["teachers"].kappa > 0.9 and result.per_theme["pe_arts_labour"].kappa > 0.8
