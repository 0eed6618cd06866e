"""Saved out-of-fold predictions: the round trip, and the project's file agrees with the labels and the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from policy_nlp.api import DEFAULT_CLASSIFY_PREDICTIONS, Workspace
from policy_nlp.classify import LabelledSet, load_taxonomy
from policy_nlp.classify.evaluate import EvalResult, ThemeScores
from policy_nlp.classify.predictions import IN_SAMPLE_SCHEME, in_sample_results, load_predictions, save_predictions
from policy_nlp.errors import ConfigError, InputError

REPO = Path(__file__).resolve().parents[1]
TAXONOMY = load_taxonomy()


def _result(proba: np.ndarray, y_true: np.ndarray, rows: np.ndarray) -> EvalResult:
    ids = TAXONOMY.ids
    return EvalResult(scheme="LeaveOneGroupOut (2 folds)", n_rows=len(rows), n_documents=2, theme_ids=ids,
                      theme_names=tuple(TAXONOMY.get(t).name_zh for t in ids),
                      per_theme={t: ThemeScores(0, 0, 0, 0) for t in ids}, micro_f1=0, macro_f1_core=0, macro_f1=0, macro_f1_core_ci=(0.0, 0.0),
                      rows=rows, y_true=y_true, y_pred=(proba >= 0.5).astype(np.int8), proba=proba)  # fmt: skip


def test_round_trip_keeps_rows_scores_and_decisions(tmp_path):
    records = [
        {"doc_id": "A", "text": "筑牢校园安全屏障,开展联合执法检查18次。", "themes": ["safety"]},
        {"doc_id": "B", "text": "深化县管校聘管理改革,推进教师交流轮岗。", "themes": ["teachers"]},
        {"doc_id": "B", "text": "严格落实双减要求,规范校外培训。", "themes": ["double_reduction"], "synthetic": True},
    ]
    ls = LabelledSet.from_records(records, TAXONOMY)
    rows = np.array([0, 1])
    proba = np.random.default_rng(0).random((2, len(TAXONOMY)))
    path = save_predictions({"m": _result(proba, ls.Y[rows], rows)}, ls, tmp_path / "p.json", theme_model="x@1")
    assert "筑牢" not in path.read_text(encoding="utf-8")  # rows are named by document and text hash only
    saved = load_predictions(path)
    assert saved.doc_ids == ("A", "B") and saved.text_hashes == tuple(ls.text_hashes[:2])
    assert np.allclose(saved.proba["m"], proba, atol=1e-4)
    assert (saved.pred["m"] == (proba >= 0.5)).all() and (saved.y_true == ls.Y[:2]).all()
    assert saved.theme_model == "x@1" and saved.theme_ids == TAXONOMY.ids


def test_a_file_of_another_format_is_refused(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"format_version": 0}), encoding="utf-8")
    with pytest.raises(InputError, match="policy-nlp evaluate classify --predictions"):
        load_predictions(path)
    with pytest.raises(InputError, match="cannot read"):
        load_predictions(tmp_path / "absent.json")


def test_the_project_file_matches_the_labels_and_the_shipped_model(tmp_path):
    saved = load_predictions(DEFAULT_CLASSIFY_PREDICTIONS)
    labels = {}
    for name in ("seeds.jsonl", "meiyu.jsonl", "genres.jsonl"):  # every real (not synthetic) training file
        for line in (REPO / "policy_nlp" / "data" / "labels" / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            labels[(row["doc_id"], row["text_hash"])] = set(row["themes"])
    assert len(saved.doc_ids) == len(labels) and set(saved.doc_ids) == {doc for doc, _ in labels}
    for i, key in enumerate(zip(saved.doc_ids, saved.text_hashes)):
        assert {t for t, y in zip(saved.theme_ids, saved.y_true[i]) if y} == labels[key]
    assert {"keyword", "fine-tuned"} <= set(saved.proba)  # in-sample: these two; cross-validated: four
    ws = Workspace(tmp_path)
    try:
        assert saved.theme_model == ws.current_theme_model()
        evaluation = ws.classify_evaluation()
    finally:
        ws.close()
    f1 = evaluation.per_theme.set_index(["model", "theme"])["f1"]
    assert f1["fine-tuned", "double_reduction"] > f1["keyword", "double_reduction"]
    assert set(evaluation.ece) == set(saved.proba) and all(0 <= e <= 1 for e in evaluation.ece.values())


def test_in_sample_results_score_fixed_models_on_the_real_rows_only():
    records = [
        {"doc_id": "A", "text": "筑牢校园安全屏障,开展联合执法检查18次。", "themes": ["safety"]},
        {"doc_id": "B", "text": "深化县管校聘管理改革,推进教师交流轮岗。", "themes": ["teachers"]},
        {"doc_id": "B", "text": "严格落实双减要求,规范校外培训。", "themes": ["double_reduction"], "synthetic": True},
    ]
    ls = LabelledSet.from_records(records, TAXONOMY)
    proba = np.zeros((2, len(TAXONOMY)))
    proba[0, TAXONOMY.ids.index("safety")] = 0.9
    proba[1, TAXONOMY.ids.index("safety")] = 0.4  # a false positive at threshold 0.3, not at 0.5
    proba[1, TAXONOMY.ids.index("teachers")] = 0.8
    results = in_sample_results(ls, {"strict": (proba, np.full(len(TAXONOMY), 0.5)),
                                     "loose": (proba, np.full(len(TAXONOMY), 0.3))})
    strict, loose = results["strict"], results["loose"]
    assert strict.scheme == IN_SAMPLE_SCHEME and strict.n_rows == 2 and strict.n_documents == 2
    assert strict.per_theme["safety"].f1 == 1.0 and strict.per_theme["teachers"].f1 == 1.0
    assert loose.per_theme["safety"].precision == 0.5 and loose.per_theme["safety"].recall == 1.0
    assert strict.per_theme["double_reduction"].support == 0  # the synthetic row is never scored


def test_predictions_come_from_the_in_sample_check_or_the_by_document_scheme(tmp_path):
    with Workspace(tmp_path) as ws, pytest.raises(ConfigError, match='--scheme "by document"'):
        ws.evaluate_classify(schemes=["held-out"], predictions=tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()
