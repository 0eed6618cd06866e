"""Grouped cross-validation by document, with thresholds tuned inside the training folds only."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields

import numpy as np
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

from .baselines import DEFAULT_GRID, tune_thresholds
from .data import LabelledSet

LOGO_MAX_DOCS = 20  # up to this many documents the default is leave-one-document-out
DEFAULT_SPLITS = 10  # GroupKFold folds beyond that


@dataclass(frozen=True)
class ThemeScores:
    precision: float
    recall: float
    f1: float
    support: int  # positive paragraphs in the test folds


@dataclass
class EvalResult:
    """Scores pooled over the test folds, and the out-of-fold predictions they came from."""

    scheme: str  # e.g. "LeaveOneGroupOut (7 folds)"
    n_rows: int  # evaluated (non-synthetic) paragraphs
    n_documents: int
    theme_ids: tuple[str, ...]
    theme_names: tuple[str, ...]
    per_theme: dict[str, ThemeScores]
    micro_f1: float  # over the reported themes
    macro_f1_core: float  # over the core themes; nan if one of them has no support
    macro_f1: float  # over the reported themes with support > 0
    rows: np.ndarray = field(repr=False)  # indices into the LabelledSet
    y_true: np.ndarray = field(repr=False)  # (n_rows, themes), reported themes only
    y_pred: np.ndarray = field(repr=False)
    proba: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        """The scores without the predictions, JSON-ready (tuples as lists, nan as None)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        d["per_theme"] = {t: asdict(s) for t, s in self.per_theme.items()}
        return {k: list(v) if isinstance(v, tuple) else None if v != v else v for k, v in d.items()}


def leave_one_document_out(
    estimator_factory: Callable[[], object],
    labelled_set: LabelledSet,
    *,
    theme_ids: Sequence[str] | None = None,
    n_splits: int | None = None,
    inner_splits: int = 3,
    grid: Sequence[float] = DEFAULT_GRID,
) -> EvalResult:
    """Cross-validate a fresh estimator per fold, grouped by doc_id.

    Folds: leave-one-document-out when `n_splits` is None and there are at most 20 documents,
    else GroupKFold(n_splits or 10). Test folds hold only non-synthetic rows; a training fold holds
    every row (synthetic ones included) whose doc_id is not in the test fold, so synthetic rows
    written from a document (given its doc_id) never train the model that tests it. Each fold's
    thresholds are tuned on out-of-fold predictions of an inner GroupKFold(`inner_splits`) over the
    training fold's documents (0.5 when it has fewer than two). `theme_ids` (ids or Chinese names)
    limits the report (default: every theme); the estimator always gets the full label matrix.
    `estimator_factory` returns a new unfitted estimator (a class such as TfidfLogRegClassifier
    will do).
    """
    ls = labelled_set
    reported = [ls.taxonomy.ids.index(ls.taxonomy.get(t).id) for t in (theme_ids or ls.taxonomy.ids)]
    real = np.flatnonzero(~ls.synthetic)
    n_docs = len(np.unique(ls.doc_ids[real]))
    if n_docs < 2:
        raise ValueError(f"grouped evaluation needs at least two documents, got {n_docs}")
    if n_splits is None and n_docs <= LOGO_MAX_DOCS:
        splitter, scheme = LeaveOneGroupOut(), f"LeaveOneGroupOut ({n_docs} folds)"
    else:
        k = min(n_splits or DEFAULT_SPLITS, n_docs)
        splitter, scheme = GroupKFold(n_splits=k), f"GroupKFold ({k} folds)"
    proba = np.zeros(ls.Y.shape)
    pred = np.zeros(ls.Y.shape, dtype=np.int8)
    for _, test_pos in splitter.split(real, groups=ls.doc_ids[real]):
        test = real[test_pos]
        train = np.flatnonzero(~np.isin(ls.doc_ids, ls.doc_ids[test]))
        thresholds = _inner_thresholds(estimator_factory, ls, train, inner_splits, grid)
        model = _fit(estimator_factory, ls, train)
        model.thresholds_ = thresholds
        proba[test] = model.predict_proba(_take(ls.texts, test))
        pred[test] = model.predict(_take(ls.texts, test))
    cols = np.array(reported)
    names = tuple(ls.taxonomy.themes[j].name_zh for j in cols)
    ids = tuple(ls.taxonomy.ids[j] for j in cols)
    core = [ids.index(t) for t in ls.taxonomy.core_ids if t in ids]
    y_true, y_pred = ls.Y[np.ix_(real, cols)], pred[np.ix_(real, cols)]
    return EvalResult(
        scheme=scheme,
        n_rows=len(real),
        n_documents=n_docs,
        theme_ids=ids,
        theme_names=names,
        rows=real,
        y_true=y_true,
        y_pred=y_pred,
        proba=proba[np.ix_(real, cols)],
        **_scores(y_true, y_pred, ids, core),
    )


def _take(texts: list[str], idx: np.ndarray) -> list[str]:
    return [texts[i] for i in idx]


def _fit(factory: Callable[[], object], ls: LabelledSet, rows: np.ndarray):
    return factory().fit(_take(ls.texts, rows), ls.Y[rows])


def _inner_thresholds(factory, ls: LabelledSet, train: np.ndarray, inner_splits: int, grid) -> np.ndarray:
    real = train[~ls.synthetic[train]]
    n_docs = len(np.unique(ls.doc_ids[real]))
    if n_docs < 2:
        return np.full(ls.Y.shape[1], 0.5)
    oof = np.zeros((len(real), ls.Y.shape[1]))
    for _, held_pos in GroupKFold(n_splits=min(inner_splits, n_docs)).split(real, groups=ls.doc_ids[real]):
        held = real[held_pos]
        fit_rows = train[~np.isin(ls.doc_ids[train], ls.doc_ids[held])]
        oof[held_pos] = _fit(factory, ls, fit_rows).predict_proba(_take(ls.texts, held))
    return tune_thresholds(ls.Y[real], oof, grid)


def _scores(y_true: np.ndarray, y_pred: np.ndarray, ids: tuple[str, ...], core: list[int]) -> dict:
    tp = (y_true & y_pred).sum(axis=0).astype(float)
    n_pred, support = y_pred.sum(axis=0).astype(float), y_true.sum(axis=0)
    precision = np.divide(tp, n_pred, out=np.zeros_like(tp), where=n_pred > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * tp, n_pred + support, out=np.zeros_like(tp), where=n_pred + support > 0)
    micro_denominator = n_pred.sum() + support.sum()
    with_support = np.flatnonzero(support > 0)
    return {
        "per_theme": {
            t: ThemeScores(float(precision[j]), float(recall[j]), float(f1[j]), int(support[j]))
            for j, t in enumerate(ids)
        },
        "micro_f1": float(2 * tp.sum() / micro_denominator) if micro_denominator else 0.0,
        "macro_f1_core": float(f1[core].mean()) if core and (support[core] > 0).all() else math.nan,
        "macro_f1": float(f1[with_support].mean()) if len(with_support) else math.nan,
    }


def format_table(results: dict[str, EvalResult]) -> str:
    """A markdown table of several models' results side by side: F1 (P/R) per theme, then averages."""
    if not results:
        raise ValueError("no results to format")
    first = next(iter(results.values()))
    for name, r in results.items():
        if r.theme_ids != first.theme_ids or r.n_rows != first.n_rows:
            raise ValueError(f"result {name!r} was computed on other themes or rows than the first; not comparable")
    models = list(results)
    lines = [
        f"| theme | support | {' | '.join(models)} |",
        "| --- | ---: |" + " ---: |" * len(models),
    ]
    for tid, name in zip(first.theme_ids, first.theme_names):
        scores = [results[m].per_theme[tid] for m in models]
        cells = [f"{s.f1:.2f} ({s.precision:.2f}/{s.recall:.2f})" for s in scores]
        lines.append(f"| {name} `{tid}` | {first.per_theme[tid].support} | {' | '.join(cells)} |")
    averages = (("micro F1", "micro_f1"), ("macro F1, core", "macro_f1_core"), ("macro F1, support > 0", "macro_f1"))
    for label, attr in averages:
        cells = [_fmt(getattr(results[m], attr)) for m in models]
        lines.append(f"| **{label}** | | {' | '.join(cells)} |")
    lines.append(
        f"\nCells: F1 (precision/recall). {first.scheme}, {first.n_rows} paragraphs from {first.n_documents} documents."
    )
    return "\n".join(lines)


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2f}"
