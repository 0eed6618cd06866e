"""Honest evaluation: splits by document, by genre or onto a held-out set; calibration and thresholds
chosen inside the training folds only; per-theme support and a bootstrap interval on macro F1."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields

import numpy as np
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

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
    macro_f1_core_ci: tuple[float, float]  # 95% bootstrap interval over test documents
    rows: np.ndarray = field(repr=False)  # indices into the LabelledSet
    y_true: np.ndarray = field(repr=False)  # (n_rows, themes), reported themes only
    y_pred: np.ndarray = field(repr=False)
    proba: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        """The scores without the predictions, JSON-ready (tuples as lists, nan as None)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        d["per_theme"] = {t: asdict(s) for t, s in self.per_theme.items()}
        d["macro_f1_core_ci"] = [None if x != x else x for x in self.macro_f1_core_ci]
        return {k: list(v) if isinstance(v, tuple) else None if v != v else v for k, v in d.items()}


def document_splits(ls: LabelledSet, n_splits: int | None = None) -> tuple[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Grouped by document: (scheme, [(train rows, test rows)]).

    Leave-one-document-out when `n_splits` is None and there are at most 20 documents, else
    GroupKFold(n_splits or 10). Test folds hold only non-synthetic rows; a training fold holds every
    row (synthetic ones included) whose doc_id is not in the test fold, so synthetic rows written
    from a document (given its doc_id) never train the model that tests it.
    """
    real = np.flatnonzero(~ls.synthetic)
    n_docs = len(np.unique(ls.doc_ids[real]))
    if n_docs < 2:
        raise ValueError(f"grouped evaluation needs at least two documents, got {n_docs}")
    if n_splits is None and n_docs <= LOGO_MAX_DOCS:
        splitter, scheme = LeaveOneGroupOut(), f"LeaveOneGroupOut ({n_docs} folds)"
    else:
        k = min(n_splits or DEFAULT_SPLITS, n_docs)
        splitter, scheme = GroupKFold(n_splits=k), f"GroupKFold ({k} folds)"
    splits = []
    for _, test_pos in splitter.split(real, groups=ls.doc_ids[real]):
        test = real[test_pos]
        splits.append((np.flatnonzero(~np.isin(ls.doc_ids, ls.doc_ids[test])), test))
    return scheme, splits


def genre_split(ls: LabelledSet, test_genres: Sequence[str],
                train_genres: Sequence[str] | None = None) -> tuple[str, list[tuple[np.ndarray, np.ndarray]]]:  # fmt: skip
    """Train on some genres, test on others: (scheme, [(train rows, test rows)]).

    Test rows: non-synthetic rows of `test_genres`. Training rows: rows of `train_genres` (default:
    every other genre), never a test genre and never a test document.
    """
    test_mask = np.isin(ls.genres, list(test_genres))
    train_mask = np.isin(ls.genres, list(train_genres)) if train_genres is not None else ~test_mask
    test = np.flatnonzero(test_mask & ~ls.synthetic)
    train = np.flatnonzero(train_mask & ~test_mask & ~np.isin(ls.doc_ids, ls.doc_ids[test]))
    if not len(test) or not len(train):
        raise ValueError(f"no rows to train on or to test for genres {list(test_genres)}")
    trained_on = "+".join(sorted(set(ls.genres[train])))
    return f"train on {trained_on} → test on {'+'.join(test_genres)}", [(train, test)]


def held_out_split(ls: LabelledSet, held_out: np.ndarray) -> tuple[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Train on every row outside the `held_out` mask, test on the held-out rows (one split)."""
    held = np.asarray(held_out, dtype=bool)
    train = np.flatnonzero(~held & ~np.isin(ls.doc_ids, ls.doc_ids[held]))
    return f"held-out set ({int(held.sum())} texts never used in training or tuning)", [(train, np.flatnonzero(held))]


def evaluate_splits(
    estimator_factory: Callable[[], object],
    labelled_set: LabelledSet,
    splits: tuple[str, list[tuple[np.ndarray, np.ndarray]]],
    *,
    theme_ids: Sequence[str] | None = None,
    inner_splits: int = 3,
    calibrate: bool = True,
    n_bootstrap: int = 1000,
) -> EvalResult:
    """Fit a calibrated, threshold-tuned copy of a fresh estimator per split and score its test rows.

    Calibration and thresholds come from grouped out-of-fold scores inside each training fold only
    (`CalibratedThemeClassifier`, `inner_splits` folds, synthetic rows never scored; `calibrate=False`
    tunes thresholds on the raw scores), so the test
    rows never choose a parameter. `theme_ids` (ids or Chinese names) limits the report (default:
    every theme); the estimator always gets the full label matrix. `estimator_factory` returns a new
    unfitted estimator (a class such as TfidfLogRegClassifier will do). The core macro F1 gets a 95%
    bootstrap interval over test documents (`n_bootstrap` resamples, fixed seed).
    """
    from .calibration import CalibratedThemeClassifier

    ls = labelled_set
    scheme, folds = splits
    reported = [ls.taxonomy.ids.index(ls.taxonomy.get(t).id) for t in (theme_ids or ls.taxonomy.ids)]
    proba = np.zeros(ls.Y.shape)
    pred = np.zeros(ls.Y.shape, dtype=np.int8)
    tested = np.zeros(len(ls), dtype=bool)
    for train, test in folds:
        model = CalibratedThemeClassifier(estimator_factory(), cv=inner_splits, calibrate=calibrate)
        model.fit(_take(ls.texts, train), ls.Y[train], groups=ls.doc_ids[train], scored=~ls.synthetic[train])
        proba[test] = model.predict_proba(_take(ls.texts, test))
        pred[test] = (proba[test] >= model.thresholds_).astype(np.int8)
        tested[test] = True
    rows = np.flatnonzero(tested)
    cols = np.array(reported)
    names = tuple(ls.taxonomy.themes[j].name_zh for j in cols)
    ids = tuple(ls.taxonomy.ids[j] for j in cols)
    core = [ids.index(t) for t in ls.taxonomy.core_ids if t in ids]
    y_true, y_pred = ls.Y[np.ix_(rows, cols)], pred[np.ix_(rows, cols)]
    return EvalResult(
        scheme=scheme,
        n_rows=len(rows),
        n_documents=len(np.unique(ls.doc_ids[rows])),
        theme_ids=ids,
        theme_names=names,
        rows=rows,
        y_true=y_true,
        y_pred=y_pred,
        proba=proba[np.ix_(rows, cols)],
        macro_f1_core_ci=bootstrap_macro_f1(y_true[:, core], y_pred[:, core], ls.doc_ids[rows], n_bootstrap),
        **_scores(y_true, y_pred, ids, core),
    )


def leave_one_document_out(estimator_factory: Callable[[], object], labelled_set: LabelledSet, *,
                           n_splits: int | None = None, **kwargs) -> EvalResult:  # fmt: skip
    """`evaluate_splits` over `document_splits` (leave-one-document-out up to 20 documents)."""
    return evaluate_splits(estimator_factory, labelled_set, document_splits(labelled_set, n_splits), **kwargs)


def bootstrap_macro_f1(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray, n: int = 1000,
                       seed: int = 0) -> tuple[float, float]:  # fmt: skip
    """95% percentile interval of macro F1 (themes with support in the resample) over resampled groups."""
    if n <= 0 or not y_true.shape[1]:
        return (math.nan, math.nan)
    docs, inverse = np.unique(groups, return_inverse=True)
    per_doc = np.zeros((3, len(docs), y_true.shape[1]))
    for k, m in enumerate((y_true & y_pred, y_pred, y_true)):
        np.add.at(per_doc[k], inverse, m)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(docs), size=(n, len(docs)))
    tp, n_pred, support = (per_doc[k][picks].sum(axis=1) for k in range(3))  # (n, themes) each
    f1 = np.divide(2 * tp, n_pred + support, out=np.zeros_like(tp), where=n_pred + support > 0)
    f1 = np.where(support > 0, f1, np.nan)
    macro = np.nanmean(np.where(np.isnan(f1).all(axis=1, keepdims=True), 0.0, f1), axis=1)
    lo, hi = np.percentile(macro, [2.5, 97.5])
    return (float(lo), float(hi))


def _take(texts: list[str], idx: np.ndarray) -> list[str]:
    return [texts[i] for i in idx]


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
    cells = [f"{_fmt(results[m].macro_f1_core_ci[0])}–{_fmt(results[m].macro_f1_core_ci[1])}" for m in models]
    lines.append(f"| macro F1, core, 95% CI | | {' | '.join(cells)} |")
    lines.append(
        f"\nCells: F1 (precision/recall); support = positive texts. {first.scheme}: {first.n_rows} texts from "
        f"{first.n_documents} documents; interval: bootstrap over documents."
    )
    return "\n".join(lines)


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2f}"
