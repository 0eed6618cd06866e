"""Training orchestration: the labelled data, the side-by-side evaluation, and the shipped model.

`evaluate_models` scores every model on the same rows under four schemes: grouped by document
(training files only), train on reports → test on citizen messages, the reverse, and the fixed
held-out set (`policy_nlp/data/labels/genres_heldout.jsonl`, never used for training or tuning).
`train_shipped_model` fits the shipped classifier on every training row (fixed seeds), with
calibration and thresholds from grouped out-of-fold scores, and writes it with its model card.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..resources import shipped
from .data import LabelledSet, load_labelled

LABELS_DIR = shipped("data", "labels")
LABEL_FILES = ("seeds.jsonl", "meiyu.jsonl", "synthetic.jsonl", "genres.jsonl")
HELD_OUT_FILES = ("genres_heldout.jsonl",)
#: The shipped model's hyper-parameters (FineTunedThemeClassifier); chosen on the training files only.
SHIPPED_PARAMS: dict = {}
#: The fine-tuned-encoder variant compared side by side: the top transformer layer and the head.
TUNED_PARAMS: dict = {"tune_layers": 1, "encoder_epochs": 2}
CV_SPLITS = 3  # grouped folds of the by-document scheme
INNER_SPLITS = 2  # grouped folds for calibration and thresholds inside every fit


def store_texts(home: str | Path | None) -> dict[tuple[str, str], str]:
    """(doc_id, text_hash) -> text of every paragraph in the corpus store under `home`."""
    from policy_nlp.corpus import CorpusStore
    from policy_nlp.home import resolve_home

    store = CorpusStore.in_home(resolve_home(home))
    try:
        return {(p.doc_id, p.text_hash): p.text for p in store.iter_paragraphs()}
    finally:
        store.close()


def load_training_data(home: str | Path | None = None, extra: Sequence[str | Path] = (), *,
                       held_out: bool = False) -> LabelledSet:  # fmt: skip
    """The training label files (plus `extra` files in the same format; with `held_out`, the held-out
    files too), text-less rows resolved against the corpus store in `home`."""
    files = [LABELS_DIR / f for f in LABEL_FILES] + [Path(p) for p in extra]
    files += [LABELS_DIR / f for f in HELD_OUT_FILES] if held_out else []
    try:
        return load_labelled(files, texts=store_texts(home))
    except InputError as exc:
        raise InputError(
            f"{exc}\nThe labelled data needs the seed reports and the 美育 corpus in the store: "
            f"`policy-nlp ingest corpus/seeds ../shared/corpus/meiyu` (same --home), then train again."
        ) from exc


def held_out_mask(ls: LabelledSet) -> np.ndarray:
    """Rows of the held-out files (by document id and text hash)."""
    held = load_labelled([LABELS_DIR / f for f in HELD_OUT_FILES])
    keys = set(zip(held.doc_ids, held.text_hashes))
    return np.array([k in keys for k in zip(ls.doc_ids, ls.text_hashes)], dtype=bool)


def subset(ls: LabelledSet, rows: np.ndarray) -> LabelledSet:
    return LabelledSet(texts=[ls.texts[i] for i in rows], doc_ids=ls.doc_ids[rows], text_hashes=ls.text_hashes[rows],
                       Y=ls.Y[rows], synthetic=ls.synthetic[rows], genres=ls.genres[rows], taxonomy=ls.taxonomy)  # fmt: skip


def model_factories(home: str | Path | None, ls: LabelledSet, *, tuned: bool = False) -> dict[str, Callable]:
    """Fresh-estimator factories of the compared models; every text is encoded once and shared."""
    from .backbone import PooledEncoder, get_backbone
    from .baselines import EmbeddingLogRegClassifier, KeywordClassifier, TfidfLogRegClassifier
    from .estimator import FineTunedThemeClassifier

    backbone = get_backbone(home)
    pooled = PooledEncoder(backbone)
    factories = {
        "keyword": lambda: KeywordClassifier(ls.taxonomy),
        "tfidf-logreg": TfidfLogRegClassifier,
        "e5-logreg": lambda: EmbeddingLogRegClassifier(encoder=pooled),
        "e5-head (frozen encoder)": lambda: FineTunedThemeClassifier(**SHIPPED_PARAMS, home=home),
    }
    if tuned:
        factories["e5-tuned (top layer)"] = lambda: FineTunedThemeClassifier(**TUNED_PARAMS, home=home)
    return factories


SCHEMES = ("by document", "reports → messages", "messages → reports", "held-out")


def evaluate_models(home: str | Path | None = None, *, progress: bool = True, tuned: bool = False,
                    schemes: Sequence[str] = SCHEMES, n_bootstrap: int = 1000,
                    models: Sequence[str] | None = None) -> dict[str, dict]:  # fmt: skip
    """{scheme: {model name: EvalResult}} for every model (or the named `models`) on the same rows of
    each of `schemes`.

    `tuned` adds the fine-tuned-encoder variant to every scheme (each of its fits trains a
    transformer layer: minutes on a small CPU).
    """
    from .backbone import get_backbone
    from .evaluate import document_splits, evaluate_splits, genre_split, held_out_split

    everything = load_training_data(home, held_out=True)
    held = held_out_mask(everything)
    train = subset(everything, np.flatnonzero(~held))
    _log(progress, f"encoding {len(everything)} labelled texts once")
    backbone = get_backbone(home)  # one pass keeps the last layer and, with `tuned`, the one below the tuned layers
    below = backbone.n_layers - TUNED_PARAMS["tune_layers"] if tuned else None
    backbone.states(everything.texts, 512, cache=True, layer=below)
    planned = {
        "by document": lambda: (train, document_splits(train, CV_SPLITS)),
        "reports → messages": lambda: (train, genre_split(train, ["message"], ["report"])),
        "messages → reports": lambda: (train, genre_split(train, ["report"], ["message"])),
        "held-out": lambda: (everything, held_out_split(everything, held)),
    }
    results: dict[str, dict] = {}
    for scheme in schemes:
        ls, splits = planned[scheme]()
        results[scheme] = {}
        for name, factory in model_factories(home, ls, tuned=tuned).items():
            if models is not None and name not in models:
                continue
            start = time.perf_counter()
            r = evaluate_splits(factory, ls, splits, inner_splits=INNER_SPLITS, n_bootstrap=n_bootstrap)
            results[scheme][name] = r
            _log(progress, f"{scheme} · {name}: macro F1 core {r.macro_f1_core:.3f} "
                           f"[{r.macro_f1_core_ci[0]:.2f}, {r.macro_f1_core_ci[1]:.2f}] ({time.perf_counter() - start:.0f} s)")  # fmt: skip
    return results


def train_shipped_model(home: str | Path | None = None, out_dir: str | Path | None = None, *,
                        labels: Sequence[str | Path] = (), progress: bool = True, evaluate: bool = True,
                        params: dict | None = None) -> dict:  # fmt: skip
    """Fit on every training row (plus the user's `labels` files), calibrate and tune thresholds on
    grouped out-of-fold scores, evaluate against the baselines (unless `evaluate` is false) and
    write the model folder with its card. Returns a summary (out_dir, seconds, thresholds, counts)."""
    from .backbone import BASE_MODEL_ID, get_backbone
    from .calibration import CalibratedThemeClassifier, expected_calibration_error, reliability_table
    from .encoder_choice import load_comparison
    from .estimator import FineTunedThemeClassifier
    from .evaluate import format_table
    from .model_card import CardData, label_counts, render_card
    from .persistence import SHIPPED_DIR, save_model, versions

    out_dir = Path(out_dir) if out_dir is not None else SHIPPED_DIR
    start = time.perf_counter()
    params = dict(SHIPPED_PARAMS if params is None else params)
    ls = load_training_data(home, labels)
    results = evaluate_models(home, progress=progress) if evaluate else {}
    _log(progress, f"fitting on {len(ls)} rows, calibration and thresholds on {INNER_SPLITS} grouped folds")
    model = CalibratedThemeClassifier(FineTunedThemeClassifier(**params, home=home), cv=INNER_SPLITS)
    model.fit(ls.texts, ls.Y, groups=ls.doc_ids, scored=~ls.synthetic)
    seconds = time.perf_counter() - start
    core = [ls.taxonomy.ids.index(t) for t in ls.taxonomy.core_ids]
    reliability = reliability_table(model.oof_true_[:, core], model.oof_proba_[:, core])
    real = ~ls.synthetic
    card = CardData(
        base_model=BASE_MODEL_ID,
        base_sha256=get_backbone(home).sha256,
        hyper_parameters={k: v for k, v in model.estimator_.get_params().items() if k != "home"},
        label_files=[f"policy_nlp/data/labels/{f}" for f in LABEL_FILES] + [str(p) for p in labels],
        held_out_files=[f"policy_nlp/data/labels/{f}" for f in HELD_OUT_FILES],
        n_real=int(real.sum()),
        n_documents=len(np.unique(ls.doc_ids[real])),
        n_synthetic=int(ls.synthetic.sum()),
        genres={g: int(n) for g, n in zip(*np.unique(ls.genres[real], return_counts=True))},
        label_counts=label_counts(ls),
        theme_names={t.id: t.name_zh for t in ls.taxonomy.themes},
        core_ids=list(ls.taxonomy.core_ids),
        thresholds=dict(zip(model.theme_ids_, model.thresholds_.tolist())),
        inner_splits=INNER_SPLITS,
        tables={scheme: format_table(r) for scheme, r in results.items()},
        reliability=reliability,
        ece=expected_calibration_error(model.oof_true_[:, core], model.oof_proba_[:, core]),
        seconds=seconds,
        versions=versions(),
        encoder_comparison=load_comparison(),
        tuned_parameters=TUNED_PARAMS,
    )
    extra = {
        "training": {"seconds": round(seconds, 1), "rows": len(ls), "real_rows": card.n_real,
                     "synthetic_rows": card.n_synthetic, "documents": card.n_documents,
                     "label_files": card.label_files, "label_counts": card.label_counts},  # fmt: skip
        "evaluation": {scheme: {name: r.to_dict() for name, r in rs.items()} for scheme, rs in results.items()},
        "reliability_core_out_of_fold": reliability,
    }
    out = save_model(model, out_dir, card=render_card(card), extra=extra)
    _log(progress, f"wrote {out} in {seconds:.0f} s")
    return {"out_dir": str(out), "seconds": seconds, "thresholds": card.thresholds, "label_counts": card.label_counts,
            "ece_core": card.ece}  # fmt: skip


def _log(progress: bool, message: str) -> None:
    if progress:
        print(f"[train] {message}", file=sys.stderr, flush=True)
