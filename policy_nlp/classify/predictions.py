"""Out-of-fold predictions of a classifier evaluation, kept as one JSON file so plots need no re-run.

Rows are named by document id and paragraph text hash only (no text), so the file can describe
paragraphs of corpora that may not be copied into the repository.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifacts import Manifest, write_file
from ..errors import InputError
from .data import LabelledSet
from .evaluate import EvalResult, _scores, bootstrap_macro_f1

FORMAT_VERSION = 1
#: How in-sample results are named: no held-out document, so the figures are optimistic.
IN_SAMPLE_SCHEME = "in-sample: fixed models on the labelled real paragraphs (the fine-tuned one was trained on them)"


@dataclass(frozen=True)
class OutOfFoldPredictions:
    """Each model's held-out scores and decisions on the same labelled rows."""

    theme_model: str  # the theme model evaluated as "fine-tuned", folder@weights-hash
    scheme: str
    theme_ids: tuple[str, ...]
    doc_ids: tuple[str, ...]
    text_hashes: tuple[str, ...]
    y_true: np.ndarray  # (rows, themes) int8
    proba: dict[str, np.ndarray]  # model name -> (rows, themes) scores
    pred: dict[str, np.ndarray]  # model name -> (rows, themes) int8 decisions


def save_predictions(results: dict[str, EvalResult], labelled_set: LabelledSet, path: str | Path, *,
                     theme_model: str) -> Path:  # fmt: skip
    """Write the out-of-fold predictions of ``results`` (all computed on the same rows) to ``path``."""
    first = next(iter(results.values()))
    data = {
        "format_version": FORMAT_VERSION,
        "versions": Manifest.new("classifier-predictions", libraries=(np,)).versions,
        "produced_by": "policy-nlp evaluate classify" + (" --in-sample" if first.scheme == IN_SAMPLE_SCHEME else "")
                       + " --predictions FILE",
        "theme_model": theme_model,
        "scheme": first.scheme,
        "theme_ids": list(first.theme_ids),
        "doc_ids": labelled_set.doc_ids[first.rows].tolist(),
        "text_hashes": labelled_set.text_hashes[first.rows].tolist(),
        "y_true": first.y_true.astype(int).tolist(),
        "models": {
            name: {"proba": np.round(r.proba, 4).tolist(), "pred": r.y_pred.astype(int).tolist()}
            for name, r in results.items()
        },
    }
    path = Path(path)
    with write_file(path) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    return path


def load_predictions(path: str | Path) -> OutOfFoldPredictions:
    """Read a file written by ``save_predictions``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read classifier predictions {path}: {exc}") from None
    if data.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{path} is not a predictions file of format {FORMAT_VERSION}: "
                         "write it again with `policy-nlp evaluate classify --predictions FILE`")  # fmt: skip
    models = data["models"]
    return OutOfFoldPredictions(
        theme_model=data["theme_model"],
        scheme=data["scheme"],
        theme_ids=tuple(data["theme_ids"]),
        doc_ids=tuple(data["doc_ids"]),
        text_hashes=tuple(data["text_hashes"]),
        y_true=np.asarray(data["y_true"], dtype=np.int8),
        proba={name: np.asarray(m["proba"], dtype=float) for name, m in models.items()},
        pred={name: np.asarray(m["pred"], dtype=np.int8) for name, m in models.items()},
    )


def in_sample_results(labelled_set: LabelledSet, models: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, EvalResult]:
    """Results of fixed models, given as {name: (scores of the real rows, thresholds)}, on the real rows.

    A quick stand-in for cross-validation (seconds, not minutes) whose figures are optimistic for any
    model trained on these rows; ``scheme`` says so.
    """
    ls = labelled_set
    real = np.flatnonzero(~ls.synthetic)
    ids = ls.taxonomy.ids
    core = [ids.index(t) for t in ls.taxonomy.core_ids]
    y_true = ls.Y[real]
    results = {}
    for name, (proba, thresholds) in models.items():
        pred = (proba >= np.asarray(thresholds)).astype(np.int8)
        results[name] = EvalResult(
            scheme=IN_SAMPLE_SCHEME, n_rows=len(real), n_documents=len(np.unique(ls.doc_ids[real])), theme_ids=ids,
            theme_names=tuple(t.name_zh for t in ls.taxonomy.themes), rows=real, y_true=y_true, y_pred=pred,
            proba=proba, macro_f1_core_ci=bootstrap_macro_f1(y_true[:, core], pred[:, core], ls.doc_ids[real]),
            **_scores(y_true, pred, ids, core),
        )  # fmt: skip
    return results
