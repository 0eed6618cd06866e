"""Calibrated probabilities, per-theme thresholds and the `uncertain` flag, learned inside `fit`.

`CalibratedThemeClassifier` wraps any multi-label scorer with `fit(X, Y)` and `predict_proba(X)`.
Its `fit` collects out-of-fold scores of a grouped K-fold over the training rows (grouped by
document, so a document never scores itself), fits one Platt scaling per theme on them, chooses
each theme's threshold on the calibrated out-of-fold scores (half the best F1 they reach: the
F1-optimal threshold of calibrated probabilities), and then fits the wrapped scorer on all rows.
Nothing about thresholds is set from outside after `fit`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted

from .baselines import DEFAULT_GRID, f1_by_threshold, tune_thresholds

_EPS = 1e-4


def _logit(P: np.ndarray) -> np.ndarray:
    P = np.clip(P, _EPS, 1 - _EPS)
    return np.log(P / (1 - P))


def platt_fit(Y: np.ndarray, P: np.ndarray) -> np.ndarray:
    """(themes, 2) slope and intercept per theme on logit scores.

    Identity for a theme of one class, constant scores, or a fitted slope ≤ 0 (calibration never
    reverses a scorer's ranking).
    """
    Z, params = _logit(P), np.tile([1.0, 0.0], (P.shape[1], 1))
    for j in range(P.shape[1]):
        if 0 < Y[:, j].sum() < len(Y) and np.ptp(Z[:, j]) > 0:
            lr = LogisticRegression(C=100.0).fit(Z[:, [j]], Y[:, j])
            if lr.coef_[0, 0] > 0:
                params[j] = lr.coef_[0, 0], lr.intercept_[0]
    return params


def platt_apply(params: np.ndarray, P: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(_logit(P) * params[:, 0] + params[:, 1])))


def half_best_f1_thresholds(Y_true, P, grid: Sequence[float] = DEFAULT_GRID) -> np.ndarray:
    """Per-theme threshold from `grid` nearest half the best F1 that `P >= t` reaches on held-out rows.

    For calibrated probabilities the F1-optimal threshold is half the optimal F1 (Lipton, Elkan and
    Narayanaswamy, 2014); this reads the height of the F1 curve, which few positives estimate more
    steadily than the position of its peak. A theme without positives in Y_true keeps 0.5.
    """
    Y_true, P, grid = np.asarray(Y_true, dtype=bool), np.asarray(P, dtype=float), np.asarray(grid, dtype=float)
    best = f1_by_threshold(Y_true, P, grid).max(axis=0)
    nearest = grid[np.abs(grid[:, None] - best[None, :] / 2).argmin(axis=0)]
    return np.where(Y_true.any(axis=0), nearest, 0.5)


class CalibratedThemeClassifier(BaseEstimator):
    """Platt-calibrated scores, F1-tuned thresholds and an `uncertain` flag around a scorer.

    `cv`: grouped folds for the out-of-fold scores (needs `groups` in `fit`; fewer groups than
    `cv` use one fold per group). `thresholds`: fixed per-theme thresholds instead of tuned ones.
    Thresholds: half the best out-of-fold F1 (`half_best_f1_thresholds`); `calibrate=False` keeps
    the raw scores, and thresholds then maximise F1 on those (`tune_thresholds`).
    `margin`: a row is uncertain when some theme's calibrated probability is within `margin` of
    its threshold. Learned: `estimator_`, `calibration_` (themes, 2), `thresholds_`, `theme_ids_`,
    `n_themes_`, `oof_proba_` / `oof_true_` (the calibrated out-of-fold scores and their labels).
    """

    def __init__(self, estimator, cv: int = 3, calibrate: bool = True, thresholds: Sequence[float] | None = None,
                 margin: float = 0.1, grid: Sequence[float] = tuple(DEFAULT_GRID)):  # fmt: skip
        self.estimator = estimator
        self.cv = cv
        self.calibrate = calibrate
        self.thresholds = thresholds
        self.margin = margin
        self.grid = grid

    def fit(self, X, Y, groups=None, scored=None) -> CalibratedThemeClassifier:
        """`groups`: document id per row; `scored`: bool mask of rows whose out-of-fold scores count
        (default all; pass ~synthetic so written-for-training rows never tune thresholds)."""
        texts, Y = list(X), np.asarray(Y)
        groups = np.asarray(groups if groups is not None else np.arange(len(texts)))
        scored = np.asarray(scored if scored is not None else np.ones(len(texts), dtype=bool))
        rows = np.flatnonzero(scored)
        n_groups = len(np.unique(groups[rows]))
        if n_groups < 2:
            raise ValueError(f"calibration needs scored rows from at least two documents, got {n_groups}")
        oof = np.zeros((len(rows), Y.shape[1]))
        for _, held_pos in GroupKFold(n_splits=min(self.cv, n_groups)).split(rows, groups=groups[rows]):
            held = rows[held_pos]
            fit_rows = np.flatnonzero(~np.isin(groups, groups[held]))
            model = clone(self.estimator).fit([texts[i] for i in fit_rows], Y[fit_rows])
            oof[held_pos] = model.predict_proba([texts[i] for i in held])
        self.calibration_ = platt_fit(Y[rows], oof) if self.calibrate else np.tile([1.0, 0.0], (Y.shape[1], 1))
        self.oof_proba_ = platt_apply(self.calibration_, oof)
        self.oof_true_ = Y[rows].astype(np.int8)
        if self.thresholds is not None:
            self.thresholds_ = np.asarray(self.thresholds, dtype=float)
        else:
            rule = half_best_f1_thresholds if self.calibrate else tune_thresholds
            self.thresholds_ = rule(self.oof_true_, self.oof_proba_, self.grid)
        self.estimator_ = clone(self.estimator).fit(texts, Y)
        self.n_themes_ = Y.shape[1]
        self.theme_ids_ = tuple(getattr(self.estimator_, "theme_ids_", None) or range(self.n_themes_))
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return platt_apply(self.calibration_, self.estimator_.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X) >= self.thresholds_).astype(np.int8)

    def uncertain(self, P: np.ndarray) -> np.ndarray:
        """Per row of calibrated probabilities: is some theme within `margin` of its threshold?"""
        check_is_fitted(self, "thresholds_")
        return (np.abs(np.asarray(P) - self.thresholds_) < self.margin).any(axis=1)


def reliability_table(Y: np.ndarray, P: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Predicted probability against observed frequency, pooled over themes, in equal-width bins.

    Rows: {"bin": "0.0–0.1", "n": count, "mean_predicted": …, "observed": …}; empty bins left out.
    """
    y, p = np.asarray(Y).ravel(), np.asarray(P).ravel()
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append({"bin": f"{edges[b]:.1f}–{edges[b + 1]:.1f}", "n": int(inside.sum()),
                         "mean_predicted": float(p[inside].mean()), "observed": float(y[inside].mean())})  # fmt: skip
    return rows


def expected_calibration_error(Y: np.ndarray, P: np.ndarray, bins: int = 10) -> float:
    """Count-weighted mean |mean predicted − observed| over the reliability table's bins."""
    rows = reliability_table(Y, P, bins)
    total = sum(r["n"] for r in rows)
    return float(sum(r["n"] * abs(r["mean_predicted"] - r["observed"]) for r in rows) / total) if total else 0.0
