"""Corpus-wide analyses behind the research notebooks: template text across governments, first
appearances of an initiative, and precision / recall with intervals and calibration of a classifier.

Every function takes and returns pandas frames or numpy arrays, so the notebooks only plot.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .search.dedup import SIMILARITY_THRESHOLD, shingles

#: Levels of government, highest first: of two bureaus with the same text in the same year, the higher is the source.
LEVELS = ("national", "province", "city", "district", "county")
#: z for a 95 % interval.
Z95 = 1.959963984540054


def near_duplicate_groups(paragraphs: pd.DataFrame, *, threshold: float = SIMILARITY_THRESHOLD,
                          min_chars: int = 40, across: str = "bureau") -> pd.DataFrame:  # fmt: skip
    """Paragraphs that share (near-)identical text with a paragraph of another ``across`` value.

    Similarity is the Jaccard index of character 3-grams, as in search's near-duplicate grouping;
    paragraphs linked by a similarity of at least ``threshold`` form one group (connected components).
    Only links between different ``across`` values (bureau by default) count. Returns the rows of
    ``paragraphs`` in such groups with a ``group`` number (largest group first) and ``group_size``.
    """
    frame = paragraphs[paragraphs["text"].str.len() >= min_chars].reset_index(drop=True)
    grams = [shingles(t) for t in frame["text"]]
    vocab: dict[str, int] = {}
    cols = [[vocab.setdefault(g, len(vocab)) for g in gs] for gs in grams]
    indptr = np.cumsum([0] + [len(c) for c in cols])
    X = csr_matrix((np.ones(indptr[-1], dtype=np.float32), np.concatenate(cols or [[]]).astype(np.int64), indptr),
                   shape=(len(frame), max(len(vocab), 1)))  # fmt: skip
    inter = (X @ X.T).tocoo()
    sizes = np.diff(indptr)
    union = sizes[inter.row] + sizes[inter.col] - inter.data
    keys = frame[across].to_numpy()
    keep = (inter.row < inter.col) & (inter.data >= threshold * union) & (keys[inter.row] != keys[inter.col])
    links = csr_matrix((np.ones(keep.sum()), (inter.row[keep], inter.col[keep])), shape=(len(frame), len(frame)))
    _, labels = connected_components(links, directed=False)
    linked = np.zeros(len(frame), dtype=bool)
    linked[inter.row[keep]] = linked[inter.col[keep]] = True
    out = frame[linked].assign(component=labels[linked])
    size = out.groupby("component")["para_id"].transform("size")
    out = out.assign(group_size=size).sort_values(["group_size", "component", "para_id"], ascending=[False, True, True])
    out["group"] = pd.factorize(out["component"])[0] + 1
    return out.drop(columns="component").reset_index(drop=True)


def copy_edges(groups: pd.DataFrame) -> pd.DataFrame:
    """Who took template text from whom: per near-duplicate group (see ``near_duplicate_groups``, with a
    ``year`` column), its earliest dated bureau is the source (of two in the same year, the higher level)
    and each other bureau a follower.

    Returns one row per (source, follower) pair: ``groups`` (shared paragraphs counted once per group),
    ``source_year`` (first) and ``follower_year`` (first). Undated groups are left out.
    """
    rank = groups["level"].map({level: i for i, level in enumerate(LEVELS)}).fillna(len(LEVELS))
    dated = groups.assign(level_rank=rank).dropna(subset=["year"]).sort_values(["group", "year", "level_rank", "para_id"])
    rows = []
    for _, members in dated.groupby("group"):
        source = members.iloc[0]
        followers = members[members["bureau"] != source["bureau"]].drop_duplicates("bureau")
        rows += [{"source": source["bureau"], "follower": f["bureau"], "source_year": source["year"],
                  "follower_year": f["year"]} for _, f in followers.iterrows()]  # fmt: skip
    edges = pd.DataFrame(rows, columns=["source", "follower", "source_year", "follower_year"])
    return (edges.groupby(["source", "follower"], as_index=False)
            .agg(groups=("source_year", "size"), source_year=("source_year", "min"),
                 follower_year=("follower_year", "min"))
            .sort_values(["groups", "source", "follower"], ascending=[False, True, True], ignore_index=True))  # fmt: skip


def first_appearances(timeline: pd.DataFrame, *, by: str = "bureau") -> pd.DataFrame:
    """The earliest matching paragraph of each ``by`` value (first year, then best score), earliest first."""
    dated = timeline.dropna(subset=["year"]).sort_values(["year", "score"], ascending=[True, False])
    return dated.drop_duplicates(by).reset_index(drop=True)


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) when there are no trials."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))  # contains p despite rounding


def precision_recall_intervals(y_true: np.ndarray, y_pred: np.ndarray, theme_ids: list[str]) -> pd.DataFrame:
    """Per theme: support, precision and recall with 95 % Wilson intervals, and F1."""
    rows = []
    for j, theme in enumerate(theme_ids):
        t, p = y_true[:, j].astype(bool), y_pred[:, j].astype(bool)
        tp, n_pred, support = int((t & p).sum()), int(p.sum()), int(t.sum())
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * tp / (n_pred + support) if n_pred + support else 0.0
        rows.append({"theme": theme, "support": support, "predicted": n_pred, "precision": precision,
                     "precision_low": wilson_interval(tp, n_pred)[0], "precision_high": wilson_interval(tp, n_pred)[1],
                     "recall": recall, "recall_low": wilson_interval(tp, support)[0],
                     "recall_high": wilson_interval(tp, support)[1], "f1": f1})  # fmt: skip
    return pd.DataFrame(rows)


def reliability_table(y_true: np.ndarray, proba: np.ndarray, *, bins: int = 10) -> pd.DataFrame:
    """Calibration over every (paragraph, theme) pair: per score bin, the mean score and the share positive."""
    scores, labels = proba.ravel(), y_true.ravel().astype(float)
    which = np.minimum((scores * bins).astype(int), bins - 1)
    frame = pd.DataFrame({"bin": which, "score": scores, "positive": labels})
    table = frame.groupby("bin").agg(mean_score=("score", "mean"), positive_rate=("positive", "mean"),
                                     pairs=("score", "size"))  # fmt: skip
    table["bin_low"] = table.index / bins
    return table.reset_index(drop=True)


def expected_calibration_error(table: pd.DataFrame) -> float:
    """Pair-weighted mean gap between score and share positive over the bins of ``reliability_table``."""
    gaps = (table["mean_score"] - table["positive_rate"]).abs()
    return float((gaps * table["pairs"]).sum() / table["pairs"].sum())
