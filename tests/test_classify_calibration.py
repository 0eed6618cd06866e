"""Calibration, thresholds and the uncertain flag of CalibratedThemeClassifier, on real Chinese texts
scored by the keyword rules (no embedding model needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from policy_nlp.classify import (
    CalibratedThemeClassifier,
    KeywordClassifier,
    load_labelled,
    load_taxonomy,
    tune_thresholds,
)
from policy_nlp.classify.calibration import (
    expected_calibration_error,
    half_best_f1_thresholds,
    platt_apply,
    platt_fit,
    reliability_table,
)

LABELS = Path(__file__).resolve().parents[1] / "policy_nlp" / "data" / "labels"
TAXONOMY = load_taxonomy()
SAFETY = TAXONOMY.ids.index("safety")


@pytest.fixture(scope="module")
def genres():
    return load_labelled(LABELS / "genres.jsonl")


def test_platt_scaling_is_monotone_and_fits_frequencies():
    rng = np.random.default_rng(0)
    raw = rng.random((2000, 2))
    truth = (rng.random((2000, 2)) < raw**3).astype(int)  # raw scores overstate the probability
    params = platt_fit(truth, raw)
    calibrated = platt_apply(params, raw)
    assert (params[:, 0] > 0).all()
    assert (np.diff(calibrated[np.argsort(raw[:, 0]), 0]) >= -1e-12).all()
    assert expected_calibration_error(truth, calibrated) < expected_calibration_error(truth, raw) / 2
    # a scorer that ranks backwards is left as it is, never flipped
    assert platt_fit(1 - truth, raw)[0].tolist() == [1.0, 0.0]


def test_reliability_table_counts_every_score_once():
    Y = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])
    P = np.array([[0.95, 0.05], [0.15, 0.12], [0.85, 0.55], [0.45, 0.58]])
    rows = reliability_table(Y, P, bins=10)
    assert sum(r["n"] for r in rows) == 8
    top = next(r for r in rows if r["bin"] == "0.9–1.0")
    assert top["n"] == 1 and top["observed"] == 1.0 and top["mean_predicted"] == pytest.approx(0.95)


def test_keyword_rules_calibrated_on_messages_get_thresholds_from_training_folds_only(genres):
    model = CalibratedThemeClassifier(KeywordClassifier(TAXONOMY), cv=3)
    model.fit(genres.texts, genres.Y, groups=genres.doc_ids)
    assert model.thresholds_.shape == (len(TAXONOMY),) and model.oof_proba_.shape == genres.Y.shape
    assert (model.calibration_[:, 0] > 0).all()
    P = model.predict_proba(["开展校园安全隐患排查,整改消防隐患,组织防溺水安全教育。", "请问中考准考证什么时候发?"])
    assert P[0, SAFETY] > P[1, SAFETY]
    assert ((P >= 0) & (P <= 1)).all()
    flags = model.uncertain(P)
    assert flags.tolist() == (np.abs(P - model.thresholds_) < model.margin).any(axis=1).tolist()


def test_fixed_thresholds_are_a_parameter_not_a_patch(genres):
    fixed = [0.9] * len(TAXONOMY)
    model = CalibratedThemeClassifier(KeywordClassifier(TAXONOMY), thresholds=fixed, calibrate=False)
    model.fit(genres.texts, genres.Y, groups=genres.doc_ids)
    assert model.thresholds_.tolist() == fixed and model.get_params()["thresholds"] == fixed
    texts = ["开展校园安全隐患排查,整改消防隐患。"]
    assert (model.predict(texts) == (model.predict_proba(texts) >= 0.9)).all()


def test_calibration_needs_two_documents(genres):
    with pytest.raises(ValueError, match="at least two documents"):
        CalibratedThemeClassifier(KeywordClassifier(TAXONOMY)).fit(genres.texts[:5], genres.Y[:5], groups=["d"] * 5)


def test_calibrated_thresholds_sit_at_half_the_best_f1():
    # theme 0: 4 positives scored 0.9 0.8 0.7 0.3, negatives 0.6 0.2 0.1 0.1; the best F1 is P >= 0.3 (all 4
    # and one false positive: 8/9 = 0.889; maximum F1 would pick 0.3), so the threshold is the grid value
    # nearest 0.444: 0.45. Theme 1 has no positives and keeps 0.5.
    Y = np.array([[1, 0], [1, 0], [1, 0], [1, 0], [0, 0], [0, 0], [0, 0], [0, 0]])
    P = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.3, 0.1], [0.6, 0.9], [0.2, 0.2], [0.1, 0.1], [0.1, 0.4]])
    assert half_best_f1_thresholds(Y, P).tolist() == [0.45, 0.5]


def test_a_calibrated_model_takes_half_best_f1_thresholds_and_a_raw_one_the_f1_peak(genres):
    calibrated = CalibratedThemeClassifier(KeywordClassifier(TAXONOMY), cv=3).fit(genres.texts, genres.Y, groups=genres.doc_ids)
    assert calibrated.thresholds_.tolist() == half_best_f1_thresholds(calibrated.oof_true_, calibrated.oof_proba_).tolist()
    raw = CalibratedThemeClassifier(KeywordClassifier(TAXONOMY), cv=3, calibrate=False).fit(
        genres.texts, genres.Y, groups=genres.doc_ids)
    assert raw.thresholds_.tolist() == tune_thresholds(raw.oof_true_, raw.oof_proba_).tolist()
