"""Theme classification: taxonomy, labelled data, baselines, the fine-tuned classifier, calibration,
evaluation and explanations.

Names are imported on first use, so that reading the taxonomy does not load scikit-learn.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

_WHERE = {
    "CachedEncoder": "baselines",
    "CalibratedThemeClassifier": "calibration",
    "FineTunedThemeClassifier": "estimator",
    "load_model": "persistence",
    "save_model": "persistence",
    "EmbeddingLogRegClassifier": "baselines",
    "KeywordClassifier": "baselines",
    "TfidfLogRegClassifier": "baselines",
    "tune_thresholds": "baselines",
    "LabelledSet": "data",
    "load_labelled": "data",
    "EvalResult": "evaluate",
    "ThemeScores": "evaluate",
    "format_table": "evaluate",
    "leave_one_document_out": "evaluate",
    "evaluate_splits": "evaluate",
    "Explanation": "explain",
    "explain_theme": "explain",
    "split_sentences": "explain",
    "Taxonomy": "taxonomy",
    "Theme": "taxonomy",
    "load_taxonomy": "taxonomy",
}
__all__ = sorted(_WHERE)

if TYPE_CHECKING:
    from .baselines import (
        CachedEncoder,
        EmbeddingLogRegClassifier,
        KeywordClassifier,
        TfidfLogRegClassifier,
        tune_thresholds,
    )
    from .calibration import CalibratedThemeClassifier
    from .data import LabelledSet, load_labelled
    from .estimator import FineTunedThemeClassifier
    from .evaluate import EvalResult, ThemeScores, evaluate_splits, format_table, leave_one_document_out
    from .persistence import load_model, save_model
    from .explain import Explanation, explain_theme, split_sentences
    from .taxonomy import Taxonomy, Theme, load_taxonomy


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module 'policy_nlp.classify' has no attribute '{name}'")
    return getattr(import_module(f".{_WHERE[name]}", __name__), name)
