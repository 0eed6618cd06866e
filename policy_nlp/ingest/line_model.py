"""The boilerplate line classifier: logistic regression over `line_features`, saved as an artefact folder.

`BoilerplateLineClassifier` follows scikit-learn's conventions (parameters in `__init__`, fitted
attributes ending in `_`, `fit` returns self). It standardises the features, fits a class-weighted
logistic regression, and calls a line boilerplate when its probability reaches `threshold`. A saved
model is a folder written by `artifacts.write_folder`: `config.json` (the common manifest; its settings
hold the feature names, threshold, C and intercept) and `weights.npy` (rows: mean, scale, coefficients).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from policy_nlp.artifacts import Manifest, read_manifest, write_folder
from policy_nlp.errors import ModelError

from .line_features import FEATURE_NAMES

ARTIFACT = "boilerplate-line-model"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.npy"
#: The shipped model, in package data.
PACKAGED_MODEL = "boilerplate_lines"


class BoilerplateLineClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression on standardised line features; class 1 is boilerplate."""

    def __init__(self, threshold: float = 0.5, C: float = 1.0):
        self.threshold = threshold
        self.C = C

    def fit(self, X: np.ndarray, y: np.ndarray) -> BoilerplateLineClassifier:
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        self.scale_ = np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
        model = LogisticRegression(C=self.C, class_weight="balanced", max_iter=2000)
        model.fit((X - self.mean_) / self.scale_, y)
        self.coef_ = model.coef_[0]
        self.intercept_ = float(model.intercept_[0])
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = ((np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_) @ self.coef_ + self.intercept_
        p = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= self.threshold).astype(int)

    def save(self, folder: Path) -> None:
        """Write the model to `folder` atomically; a second writer of the same folder waits."""
        settings = {"features": list(FEATURE_NAMES), "threshold": self.threshold, "C": self.C,
                    "intercept": self.intercept_}
        manifest = Manifest.new(ARTIFACT, counts={"features": len(FEATURE_NAMES)}, settings=settings,
                                libraries=(np, sklearn))
        with write_folder(folder, manifest, name=CONFIG_FILE) as tmp:
            np.save(tmp / WEIGHTS_FILE, np.vstack([self.mean_, self.scale_, self.coef_]))

    @classmethod
    def load(cls, folder: Path) -> BoilerplateLineClassifier:
        try:
            config = read_manifest(folder, ARTIFACT, name=CONFIG_FILE, legacy=_plain_config).settings
            weights = np.load(folder / WEIGHTS_FILE, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ModelError(f"boilerplate line model in {folder} cannot be read ({exc}); reinstall policy_nlp") from None
        if config.get("features") != list(FEATURE_NAMES):
            raise ModelError(f"boilerplate line model in {folder} was saved for other features; retrain it")
        model = cls(threshold=config["threshold"], C=config["C"])
        model.mean_, model.scale_, model.coef_ = weights
        model.intercept_ = config["intercept"]
        model.classes_ = np.array([0, 1])
        return model


def _plain_config(data: dict) -> Manifest:
    """A config written before the common manifest (format 1: plain fields) in the current shape."""
    if data["format_version"] != 1:
        raise ValueError(f"line model format {data['format_version']} is unknown")
    settings = {key: data[key] for key in ("features", "threshold", "C", "intercept")}
    return Manifest(ARTIFACT, counts={"features": len(data["features"])}, settings=settings,
                    versions=data["library_versions"], format_version=1)


def load_packaged() -> BoilerplateLineClassifier:
    """The classifier shipped with policy_nlp."""
    with resources.as_file(resources.files("policy_nlp") / "data" / PACKAGED_MODEL) as folder:
        return BoilerplateLineClassifier.load(Path(folder))
