"""Baseline multi-label theme classifiers with scikit-learn's estimator conventions.

Every estimator takes Y as an (n, n_themes) 0/1 matrix in taxonomy order, returns per-theme
scores in [0, 1] from `predict_proba` and applies the per-theme `thresholds_` (0.5 after `fit`;
set them, e.g. with `tune_thresholds`, to trade precision for recall) in `predict`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from ..errors import ModelError
from .taxonomy import Taxonomy, load_taxonomy

DEFAULT_GRID = np.round(np.arange(0.05, 1.0, 0.05), 2)


class Encoder(Protocol):
    def encode_passages(self, texts: list[str]) -> np.ndarray: ...


class CachedEncoder:
    """Wraps an encoder and remembers each text's embedding, so cross-validation encodes every text once."""

    def __init__(self, encoder: Encoder):
        self.encoder = encoder
        self._cache: dict[str, np.ndarray] = {}

    def __deepcopy__(self, memo: dict) -> CachedEncoder:
        return self  # a shared service: estimators cloned by scikit-learn keep using one cache

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        new = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if new:
            self._cache.update(zip(new, np.asarray(self.encoder.encode_passages(new), dtype=np.float32)))
        return np.stack([self._cache[t] for t in texts])


class _MultiLabelClassifier(BaseEstimator):
    """Shared `predict`: the subclass's `predict_proba` scores compared with `thresholds_`."""

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "thresholds_")
        return (self.predict_proba(X) >= self.thresholds_).astype(np.int8)

    def _start_fit(self, Y, n_rows: int, n_themes: int | None = None) -> np.ndarray:
        Y = np.asarray(Y)
        if Y.ndim != 2 or Y.shape[0] != n_rows or (n_themes is not None and Y.shape[1] != n_themes):
            raise ValueError(f"Y must be a ({n_rows}, n_themes) 0/1 matrix, got shape {Y.shape}")
        if not np.isin(Y, (0, 1)).all():
            raise ValueError("Y must contain only 0 and 1")
        self.n_themes_ = Y.shape[1]
        self.thresholds_ = np.full(self.n_themes_, 0.5)
        return Y.astype(np.int8)


def _texts(X) -> list[str]:
    if isinstance(X, str):
        raise TypeError("X must be a list of texts, not one string")
    texts = list(X)
    if not all(isinstance(t, str) for t in texts):
        raise TypeError("X must be a list of texts")
    return texts


class KeywordClassifier(_MultiLabelClassifier):
    """Seed-keyword rules: score 1 - 0.5**k for k distinct keywords of the theme found (0.5 for one)."""

    def __init__(self, taxonomy: Taxonomy | None = None):
        self.taxonomy = taxonomy

    def fit(self, X, Y=None) -> KeywordClassifier:
        """Records the themes; learns nothing from the data."""
        self.themes_ = (self.taxonomy or load_taxonomy()).themes
        self.theme_ids_ = tuple(t.id for t in self.themes_)
        texts = _texts(X)
        if Y is None:
            Y = np.zeros((len(texts), len(self.themes_)), dtype=np.int8)
        self._start_fit(Y, len(texts), len(self.themes_))
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "themes_")
        counts = np.array([[len(t.matches(text)) for t in self.themes_] for text in _texts(X)], dtype=float)
        return (1.0 - 0.5**counts).reshape(-1, len(self.themes_))


def _fit_heads(F, Y: np.ndarray, C: float, class_weight) -> list[LogisticRegression | float]:
    """One logistic regression per theme; a constant score for a theme that is all 0 (or all 1)."""
    heads: list[LogisticRegression | float] = []
    for j in range(Y.shape[1]):
        y = Y[:, j]
        if y.min() == y.max():
            heads.append(float(y[0]))
        else:
            heads.append(LogisticRegression(C=C, class_weight=class_weight, solver="liblinear").fit(F, y))
    return heads


def _heads_proba(heads: list[LogisticRegression | float], F) -> np.ndarray:
    n = F.shape[0]
    cols = [np.full(n, h) if isinstance(h, float) else h.predict_proba(F)[:, 1] for h in heads]
    return np.column_stack(cols) if cols else np.zeros((n, 0))


class TfidfLogRegClassifier(_MultiLabelClassifier):
    """Character n-gram TF-IDF + one logistic regression per theme."""

    def __init__(self, ngram_range: tuple[int, int] = (1, 3), C: float = 10.0, class_weight: str | None = "balanced"):
        self.ngram_range = ngram_range
        self.C = C
        self.class_weight = class_weight

    def fit(self, X, Y) -> TfidfLogRegClassifier:
        texts = _texts(X)
        Y = self._start_fit(Y, len(texts))
        self.vectorizer_ = TfidfVectorizer(analyzer="char", ngram_range=self.ngram_range, sublinear_tf=True)
        self.heads_ = _fit_heads(self.vectorizer_.fit_transform(texts), Y, self.C, self.class_weight)
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "heads_")
        return _heads_proba(self.heads_, self.vectorizer_.transform(_texts(X)))


class EmbeddingLogRegClassifier(_MultiLabelClassifier):
    """Frozen sentence embeddings + one logistic regression per theme.

    X is either a list of texts (embedded with `encoder.encode_passages`) or an (n, d) array of
    precomputed embeddings; fit and predict may mix the two as long as d matches.
    """

    def __init__(self, encoder: Encoder | None = None, C: float = 10.0, class_weight: str | None = "balanced"):
        self.encoder = encoder
        self.C = C
        self.class_weight = class_weight

    def fit(self, X, Y) -> EmbeddingLogRegClassifier:
        F = self._embed(X)
        Y = self._start_fit(Y, F.shape[0])
        self.n_features_in_ = F.shape[1]
        self.heads_ = _fit_heads(F, Y, self.C, self.class_weight)
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "heads_")
        F = self._embed(X)
        if F.shape[1] != self.n_features_in_:
            raise ValueError(f"embeddings have {F.shape[1]} dimensions, the model was fitted on {self.n_features_in_}")
        return _heads_proba(self.heads_, F)

    def _embed(self, X) -> np.ndarray:
        if isinstance(X, np.ndarray) and X.dtype.kind == "f":
            if X.ndim != 2:
                raise ValueError(f"embeddings must be an (n, d) array, got shape {X.shape}")
            return X
        texts = _texts(X)
        if self.encoder is None:
            raise ModelError("EmbeddingLogRegClassifier got texts but no encoder: pass encoder=… or embeddings")
        return np.asarray(self.encoder.encode_passages(texts), dtype=np.float32)


def f1_by_threshold(Y_true: np.ndarray, P: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """F1 of `P >= t` per grid value and theme, shape (grid, themes)."""
    pred = P[None, :, :] >= grid[:, None, None]  # (grid, n, themes)
    tp = (pred & Y_true).sum(axis=1)
    return 2 * tp / np.maximum(pred.sum(axis=1) + Y_true.sum(axis=0), 1)


def tune_thresholds(Y_true, P, grid: Sequence[float] = DEFAULT_GRID) -> np.ndarray:
    """Per-theme threshold from `grid` maximising F1 of `P >= t` on held-out predictions.

    Ties go to the threshold nearest 0.5; a theme without positives in Y_true keeps 0.5.
    """
    Y_true, P, grid = np.asarray(Y_true, dtype=bool), np.asarray(P, dtype=float), np.asarray(grid, dtype=float)
    if Y_true.shape != P.shape or Y_true.ndim != 2:
        raise ValueError(f"Y_true {Y_true.shape} and P {P.shape} must be matrices of one shape")
    f1 = f1_by_threshold(Y_true, P, grid)
    thresholds = np.full(P.shape[1], 0.5)
    for j in np.flatnonzero(Y_true.any(axis=0)):
        best = grid[np.isclose(f1[:, j], f1[:, j].max())]
        thresholds[j] = best[np.argmin(np.abs(best - 0.5))]
    return thresholds
