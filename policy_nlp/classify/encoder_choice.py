"""Frozen encoder or fine-tuned top layer: the recorded side-by-side comparison and the rule that decides.

The record is the JSON that `policy-nlp --json evaluate classify --tuned` prints ({scheme: {model:
scores}}), kept as `policy_nlp/data/eval/classify_tuned.json`; the trainer reads it into the model card.
The fine-tuned variant wins clearly when its core macro F1 is higher on every scheme compared and, on
at least one, the lower end of its 95% interval lies above the frozen model's score.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..resources import shipped

COMPARISON_FILE = shipped("data", "eval", "classify_tuned.json")
FROZEN, TUNED = "e5-head (frozen encoder)", "e5-tuned (top layer)"


@dataclass(frozen=True)
class SchemeComparison:
    scheme: str
    n_rows: int
    frozen: float  # core macro F1
    frozen_ci: tuple[float, float]
    tuned: float
    tuned_ci: tuple[float, float]


def load_comparison(path: str | Path = COMPARISON_FILE) -> list[SchemeComparison]:
    """The schemes of a recorded evaluation that scored both variants on all core themes (none when the
    file is absent)."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return [
            SchemeComparison(scheme, models[FROZEN]["n_rows"], models[FROZEN]["macro_f1_core"],
                             tuple(models[FROZEN]["macro_f1_core_ci"]), models[TUNED]["macro_f1_core"],
                             tuple(models[TUNED]["macro_f1_core_ci"]))  # fmt: skip
            for scheme, models in record.items()
            if FROZEN in models and TUNED in models
            and None not in (models[FROZEN]["macro_f1_core"], models[TUNED]["macro_f1_core"])
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not the JSON of `policy-nlp --json evaluate classify --tuned`: {exc}") from None


def tuned_wins_clearly(comparison: list[SchemeComparison]) -> bool:
    """Higher on every scheme, and on one of them with its whole interval above the frozen model's score."""
    return bool(comparison) and all(c.tuned > c.frozen for c in comparison) and any(
        c.tuned_ci[0] > c.frozen for c in comparison
    )
