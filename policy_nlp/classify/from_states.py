"""The shipped theme classifier fed last-layer token states computed elsewhere (the shared encoder pass).

`FineTunedThemeClassifier.predict_proba` encodes texts with the float backbone itself; `run` already
has each paragraph's token states from the int8 pass that embeds it for search, so the head reads
those instead and the float backbone is never loaded. Only a head over the frozen encoder's last
layer (`tune_layers=0`) can: fine-tuned top layers need the states of a lower layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .backbone import PASSAGE_PROMPT
from .calibration import CalibratedThemeClassifier, platt_apply
from .estimator import FineTunedThemeClassifier


def reads_last_layer(model: object, prompt: str, max_length: int) -> bool:
    """Whether `model` is a calibrated head over the frozen encoder's last layer, reading `prompt + text`
    cut to `max_length` tokens (so states computed that way are exactly its input)."""
    inner = getattr(model, "estimator_", None)
    return (isinstance(model, CalibratedThemeClassifier) and isinstance(inner, FineTunedThemeClassifier)
            and inner.tune_layers == 0 and inner.max_length == max_length and prompt == PASSAGE_PROMPT)  # fmt: skip


def proba_from_states(model: CalibratedThemeClassifier, texts: Sequence[str], states: Sequence[np.ndarray]) -> np.ndarray:
    """Calibrated probabilities [n, themes] of `texts` from their last-layer token states, (tokens, hidden) each."""
    import torch

    tensors = [torch.from_numpy(np.asarray(s, dtype=np.float32)) for s in states]
    return platt_apply(model.calibration_, model.estimator_.proba_from_states(list(texts), tensors))


class StatesThemeModel:
    """The `ThemeModel` interface (tagging.predict) over token states already computed for known texts."""

    def __init__(self, model: CalibratedThemeClassifier, states: dict[str, np.ndarray]):
        self.model = model
        self.states = states
        self.theme_ids_ = model.theme_ids_
        self.thresholds_ = model.thresholds_
        self.margin = model.margin

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return proba_from_states(self.model, texts, [self.states[t] for t in texts])

    def uncertain(self, proba: np.ndarray) -> np.ndarray:
        return self.model.uncertain(proba)
