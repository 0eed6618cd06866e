"""Grouped evaluation: no document in both train and test, synthetic rows never tested,
thresholds tuned without the test fold, and the metric arithmetic."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.metrics import precision_recall_fscore_support

from policy_nlp.classify import LabelledSet, format_table, leave_one_document_out, load_taxonomy
from policy_nlp.classify.evaluate import bootstrap_macro_f1, evaluate_splits, genre_split, held_out_split

TAXONOMY = load_taxonomy()
K = len(TAXONOMY)
SAFETY = TAXONOMY.ids.index("safety")


class Log(list):
    """A list that sklearn's `clone` shares instead of copying, so every fitted clone reports here."""

    def __deepcopy__(self, memo):
        return self


class Lookup(BaseEstimator):
    """Scores each text from a fixed table and records what it was fitted on and asked to score."""

    def __init__(self, table: dict[str, np.ndarray], log: list):
        self.table = table
        self.log = log

    def fit(self, X, Y):
        self.fitted_ = list(X)
        self.scored_: list[str] = []
        self.log.append(self)
        return self

    def predict_proba(self, X):
        self.scored_ += list(X)
        return np.array([self.table[x] for x in X])


def doc_of(text: str) -> str:
    return text.split("|")[0]


def spy_set() -> tuple[LabelledSet, dict[str, np.ndarray]]:
    """Five documents of three paragraphs, plus synthetic rows: two of their own and one tied to d0.
    Safety positives score 0.3 and negatives 0.1 everywhere: below 0.5, yet calibration and tuned
    thresholds inside the training folds must separate them."""
    records, table = [], {}
    for d in range(5):
        for i in range(3):
            records.append({"doc_id": f"d{d}", "text": f"d{d}|段落{i}", "themes": ["safety"] if i != 1 else ["teachers"]})
    records += [
        {"doc_id": "syn", "text": "syn|防溺水", "themes": ["safety"], "synthetic": True},
        {"doc_id": "syn", "text": "syn|县管校聘", "themes": ["teachers"], "synthetic": True},
        {"doc_id": "d0", "text": "d0|改写", "themes": ["safety"], "synthetic": True},
    ]
    for r in records:
        scores = np.zeros(K)
        scores[SAFETY] = 0.3 if "safety" in r["themes"] else 0.1
        table[r["text"]] = scores
    return LabelledSet.from_records(records, TAXONOMY), table


def test_no_document_is_both_trained_on_and_tested_and_synthetic_rows_are_never_tested():
    ls, table = spy_set()
    log = Log()
    result = leave_one_document_out(lambda: Lookup(table, log), ls)
    real_docs = {f"d{d}" for d in range(5)}
    synthetic = {t for t, s in zip(ls.texts, ls.synthetic) if s}
    for model in log:
        assert not {doc_of(t) for t in model.fitted_} & {doc_of(t) for t in model.scored_}
        assert not synthetic & set(model.scored_)
    touched = [({doc_of(t) for t in m.fitted_ + m.scored_} & real_docs) for m in log]
    outer = [m for m, docs in zip(log, touched) if docs == real_docs]
    inner = [docs for docs in touched if docs != real_docs]
    # one outer model per document, which scores exactly that document
    assert sorted(doc_of(m.scored_[0]) for m in outer) == sorted(real_docs)
    assert all(len({doc_of(t) for t in m.scored_}) == 1 for m in outer)
    # threshold tuning (the inner models) never touches the outer test document
    assert len(inner) == 5 * 3 and all(len(docs) == 4 for docs in inner)
    for m in outer:
        test_doc = doc_of(m.scored_[0])
        assert {"syn|防溺水", "syn|县管校聘"} <= set(m.fitted_)
        assert ("d0|改写" in m.fitted_) == (test_doc != "d0")
    assert result.n_rows == 15 and not ls.synthetic[result.rows].any()
    assert result.per_theme["safety"].f1 == 1.0
    assert result.scheme == "LeaveOneGroupOut (5 folds)"


def test_group_k_fold_when_asked_or_when_there_are_many_documents():
    ls, table = spy_set()
    assert leave_one_document_out(lambda: Lookup(table, Log()), ls, n_splits=2).scheme == "GroupKFold (2 folds)"
    many = LabelledSet.from_records(
        [{"doc_id": f"d{i}", "text": f"d{i}|x", "themes": ["safety"] * (i % 2)} for i in range(25)], TAXONOMY
    )
    table = {t: np.full(K, 0.0) for t in many.texts}
    assert leave_one_document_out(lambda: Lookup(table, Log()), many).scheme == "GroupKFold (10 folds)"


# Fixed toy case: 4 documents, predictions fixed as 0/1 scores, so every threshold gives the same labels.
TRUE = {"party_building": [1, 1, 0, 0, 1, 0, 0, 0], "double_reduction": [0, 1, 1, 0, 0, 0, 1, 1],
        "teachers": [0, 0, 0, 1, 1, 0, 0, 0], "safety": [0, 0, 0, 0, 0, 0, 0, 0], "preschool": [1, 0, 0, 0, 0, 0, 0, 0]}
PRED = {"party_building": [1, 0, 0, 0, 1, 1, 0, 0], "double_reduction": [0, 1, 1, 0, 0, 0, 1, 1],
        "teachers": [0, 1, 0, 0, 0, 0, 0, 0], "safety": [0, 0, 1, 0, 0, 0, 0, 0], "preschool": [0, 0, 0, 0, 0, 0, 0, 0]}


def toy_result(**kwargs):
    texts = [f"d{i // 2}|{i}" for i in range(8)]
    records = [{"doc_id": doc_of(t), "text": t, "themes": [k for k, v in TRUE.items() if v[i]]} for i, t in enumerate(texts)]
    table = {}
    for i, t in enumerate(texts):
        table[t] = np.zeros(K)
        for k, v in PRED.items():
            table[t][TAXONOMY.ids.index(k)] = v[i]
    ls = LabelledSet.from_records(records, TAXONOMY)
    return leave_one_document_out(lambda: Lookup(table, Log()), ls, calibrate=False, **kwargs)


def test_metric_arithmetic_matches_sklearn():
    result = toy_result()
    y_true = np.array([TRUE.get(t, [0] * 8) for t in TAXONOMY.ids]).T
    y_pred = np.array([PRED.get(t, [0] * 8) for t in TAXONOMY.ids]).T
    np.testing.assert_array_equal(result.y_true, y_true)
    np.testing.assert_array_equal(result.y_pred, y_pred)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    for j, tid in enumerate(TAXONOMY.ids):
        got = result.per_theme[tid]
        assert (got.precision, got.recall, got.f1, got.support) == pytest.approx((p[j], r[j], f[j], s[j]))
    assert result.micro_f1 == pytest.approx(precision_recall_fscore_support(y_true, y_pred, average="micro")[2])
    # by hand: party_building tp=2 fp=1 fn=1; macro over themes with support: pb 2/3, dr 1, teachers 0, preschool 0
    assert result.per_theme["party_building"].f1 == pytest.approx(2 / 3)
    assert result.macro_f1 == pytest.approx((2 / 3 + 1 + 0 + 0) / 4)
    assert math.isnan(result.macro_f1_core)  # safety has no support: the core average is not claimed


def test_restricting_themes_and_the_core_average():
    result = toy_result(theme_ids=["party_building", "双减", "teachers"])
    assert result.theme_ids == ("party_building", "double_reduction", "teachers")
    assert result.theme_names == ("党建", "双减", "师资")
    assert result.macro_f1_core == pytest.approx((2 / 3 + 1 + 0) / 3)
    # micro over the three themes: tp=2+4+0, predicted=3+4+1, true=3+4+2
    assert result.micro_f1 == pytest.approx(2 * 6 / (8 + 9))
    d = result.to_dict()
    assert d["per_theme"]["teachers"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert "y_pred" not in d and d["theme_ids"] == ["party_building", "double_reduction", "teachers"]
    assert toy_result().to_dict()["macro_f1_core"] is None
    json.dumps(d, allow_nan=False)


def test_format_table_puts_models_side_by_side():
    a, b = toy_result(), toy_result()
    table = format_table({"keyword": a, "tfidf": b})
    lines = table.splitlines()
    assert lines[0] == "| theme | support | keyword | tfidf |"
    assert "| 党建 `party_building` | 3 | 0.67 (0.67/0.67) | 0.67 (0.67/0.67) |" in lines
    assert "| **macro F1, core** | | n/a | n/a |" in lines
    assert "LeaveOneGroupOut (4 folds): 8 texts from 4 documents" in table
    assert any(line.startswith("| macro F1, core, 95% CI |") for line in lines)
    with pytest.raises(ValueError, match="not comparable"):
        format_table({"all": a, "three": toy_result(theme_ids=["safety"])})


def genre_set() -> tuple[LabelledSet, dict[str, np.ndarray]]:
    """Two reports of three paragraphs, four citizen messages, one synthetic report row."""
    records = [{"doc_id": f"r{d}", "text": f"r{d}|{i}", "themes": ["safety"] if i else []} for d in range(2) for i in range(3)]
    records += [{"doc_id": f"m{i}", "text": f"m{i}|孩子在学校食堂吃坏了肚子", "themes": ["safety"] if i % 2 else [],
                 "genre": "message"} for i in range(4)]  # fmt: skip
    records.append({"doc_id": "syn", "text": "syn|防溺水", "themes": ["safety"], "synthetic": True})
    table = {r["text"]: np.where(np.arange(K) == SAFETY, 0.8 if r["themes"] else 0.2, 0.0) for r in records}
    return LabelledSet.from_records(records, TAXONOMY), table


def test_genre_split_never_trains_on_the_test_genre():
    ls, table = genre_set()
    log = Log()
    result = evaluate_splits(lambda: Lookup(table, log), ls, genre_split(ls, ["message"]))
    assert result.n_rows == 4 and set(ls.genres[result.rows]) == {"message"}
    assert all(not any(t.startswith("m") for t in m.fitted_) for m in log)
    assert "syn|防溺水" in log[-1].fitted_ and result.scheme.startswith("train on report → test on message")
    back = evaluate_splits(lambda: Lookup(table, Log()), ls, genre_split(ls, ["report"], ["message"]))
    assert set(ls.genres[back.rows]) == {"report"} and not ls.synthetic[back.rows].any()


def test_held_out_rows_are_only_scored():
    ls, table = genre_set()
    log = Log()
    held = np.isin(ls.doc_ids, ["m0", "m1"])
    result = evaluate_splits(lambda: Lookup(table, log), ls, held_out_split(ls, held))
    assert sorted(ls.doc_ids[result.rows]) == ["m0", "m1"]
    assert all(not {"m0|孩子在学校食堂吃坏了肚子", "m1|孩子在学校食堂吃坏了肚子"} & set(m.fitted_) for m in log)


def test_bootstrap_interval_brackets_the_point_estimate_and_is_wide_for_few_documents():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 2, size=(200, 4))
    y_pred = np.where(rng.random((200, 4)) < 0.8, y_true, 1 - y_true)
    groups = np.repeat(np.arange(40), 5)
    lo, hi = bootstrap_macro_f1(y_true, y_pred, groups)
    tp, n_pred, support = (y_true & y_pred).sum(0), y_pred.sum(0), y_true.sum(0)
    point = np.mean(2 * tp / (n_pred + support))
    assert lo < point < hi and hi - lo < 0.2
    few_lo, few_hi = bootstrap_macro_f1(y_true[:10], y_pred[:10], groups[:10])
    assert few_hi - few_lo > hi - lo
    assert bootstrap_macro_f1(y_true, y_pred, groups) == (lo, hi)  # fixed seed
