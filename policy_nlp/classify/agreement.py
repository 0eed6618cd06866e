"""Inter-annotator agreement: two independent labellings of the same texts, per theme.

Both files use the labelled-data format (`data.py`); rows are matched by (doc_id, text_hash), so
text-less rows need no corpus store. Rows labelled in only one file are counted, not compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import LabelledSet, load_labelled
from .taxonomy import load_taxonomy


@dataclass(frozen=True)
class ThemeAgreement:
    theme: str
    both: int  # texts both labellers gave the theme
    first_only: int
    second_only: int
    kappa: float  # Cohen's kappa (nan when both labellers never or always give the theme)
    f1: float  # the second labelling scored against the first


@dataclass(frozen=True)
class Agreement:
    compared: int  # texts labelled in both files
    unmatched: int  # texts labelled in only one of them
    per_theme: dict[str, ThemeAgreement]
    macro_f1_core: float
    macro_kappa_core: float


def _keyed(ls: LabelledSet) -> dict[tuple[str, str], np.ndarray]:
    return {(d, h): y for d, h, y in zip(ls.doc_ids, ls.text_hashes, ls.Y)}


def agreement(first: str | Path, second: str | Path) -> Agreement:
    """Compare two labellings of (mostly) the same texts, theme by theme."""
    taxonomy = load_taxonomy()
    a_ls, b_ls = (load_labelled(p, taxonomy, _Placeholder()) for p in (first, second))
    a, b = _keyed(a_ls), _keyed(b_ls)
    keys = sorted(a.keys() & b.keys())
    A = np.array([a[k] for k in keys], dtype=bool).reshape(len(keys), len(taxonomy))
    B = np.array([b[k] for k in keys], dtype=bool).reshape(len(keys), len(taxonomy))
    per_theme = {}
    for j, tid in enumerate(taxonomy.ids):
        a_j, b_j = A[:, j], B[:, j]
        both, first_only, second_only = int((a_j & b_j).sum()), int((a_j & ~b_j).sum()), int((~a_j & b_j).sum())
        observed = float((a_j == b_j).mean()) if len(keys) else float("nan")
        expected = float(a_j.mean() * b_j.mean() + (1 - a_j.mean()) * (1 - b_j.mean())) if len(keys) else 1.0
        kappa = (observed - expected) / (1 - expected) if expected < 1 else float("nan")
        f1 = 2 * both / (2 * both + first_only + second_only) if both + first_only + second_only else float("nan")
        per_theme[tid] = ThemeAgreement(tid, both, first_only, second_only, kappa, f1)
    core = [per_theme[t] for t in taxonomy.core_ids]
    return Agreement(
        compared=len(keys),
        unmatched=len(a.keys() ^ b.keys()),
        per_theme=per_theme,
        macro_f1_core=float(np.nanmean([t.f1 for t in core])),
        macro_kappa_core=float(np.nanmean([t.kappa for t in core])),
    )


class _Placeholder(dict):
    """A texts mapping that resolves every (doc_id, text_hash) to a placeholder: only labels matter here."""

    def __bool__(self) -> bool:
        return True

    def get(self, key, default=None):
        return "·"
