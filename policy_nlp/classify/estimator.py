"""The fine-tuned multi-label theme classifier over the embedded multilingual-e5-small.

With `tune_layers=0` the encoder stays frozen and only the label-attention head (see `head.py`) is
trained, on cached last-layer token states: a fit takes seconds. With `tune_layers=k` a second
stage follows: trainable copies of the top k transformer layers are fine-tuned together with the
head (the embedding layer and the lower layers stay frozen), reading cached states of the layer
below them. Stage one is exact for that network too, since untouched top layers turn those states
into the cached last-layer states. BCE with per-theme pos_weight, AdamW, cosine schedule, fixed seeds.

`predict_proba` gives raw sigmoid scores; calibration and thresholds are the job of
`CalibratedThemeClassifier` (calibration.py), so `predict` here applies 0.5.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..embed.encoder import length_batches
from .backbone import BATCH_TOKENS, MAX_BATCH, get_backbone
from .baselines import _MultiLabelClassifier, _texts
from .head import keyword_features, pad, theme_network
from .taxonomy import load_taxonomy

#: Minibatch size while encoder layers train (activations of long paragraphs are large).
ENCODER_BATCH = 16


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class FineTunedThemeClassifier(_MultiLabelClassifier):
    """Label-attention head (and optionally the top `tune_layers` encoder layers) over embedded e5.

    `home` locates the converted base model (`ensure_converted(home)`). Texts longer than
    `max_length` tokens are truncated (their tail is not read); an empty text gets the scores of
    the bare passage prompt. Learned: `theme_ids_`, `network_` (torch module), `n_themes_`.
    """

    def __init__(self, epochs: int = 20, lr: float = 1e-2, weight_decay: float = 0.01,
                 batch_size: int = 64, max_length: int = 512, max_pos_weight: float = 10.0, seed: int = 0,
                 tune_layers: int = 0, encoder_epochs: int = 3, encoder_lr: float = 3e-5,
                 home: str | Path | None = None):  # fmt: skip
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_length = max_length
        self.max_pos_weight = max_pos_weight
        self.seed = seed
        self.tune_layers = tune_layers
        self.encoder_epochs = encoder_epochs
        self.encoder_lr = encoder_lr
        self.home = home

    def fit(self, X, Y, theme_ids: Sequence[str] | None = None) -> FineTunedThemeClassifier:
        import torch

        texts = _texts(X)
        Y = self._start_fit(Y, len(texts))
        if theme_ids is None:
            ids = load_taxonomy().ids
            theme_ids = ids if len(ids) == Y.shape[1] else tuple(f"theme_{j}" for j in range(Y.shape[1]))
        if len(theme_ids) != Y.shape[1]:
            raise ValueError(f"{len(theme_ids)} theme ids for {Y.shape[1]} label columns")
        backbone = get_backbone(self.home)
        _seed_everything(self.seed)
        target = torch.tensor(Y, dtype=torch.float32)
        pos = target.sum(0)
        pos_weight = ((len(texts) - pos) / pos.clamp(min=1.0)).clamp(1.0, self.max_pos_weight)
        keywords = keyword_features(texts, theme_ids)
        below_layer = backbone.n_layers - self.tune_layers
        below = backbone.states(texts, self.max_length, cache=True, layer=below_layer)  # caches the last layer too
        last = backbone.states(texts, self.max_length, cache=True)
        head = theme_network(backbone.hidden, Y.shape[1])
        _train(head, head.parameters(), last, keywords, target, pos_weight, self.epochs, self.lr,
               self.weight_decay, self.batch_size, self.seed)  # fmt: skip
        network = head
        if self.tune_layers:
            network = theme_network(backbone.hidden, Y.shape[1], backbone.top_layers(self.tune_layers),
                                    backbone.layer_mask)  # fmt: skip
            network.load_state_dict(head.state_dict(), strict=False)
            _train(network, network.parameters(), below, keywords, target, pos_weight, self.encoder_epochs,
                   self.encoder_lr, self.weight_decay, min(self.batch_size, ENCODER_BATCH), self.seed)  # fmt: skip
        network.eval()
        self.theme_ids_ = tuple(theme_ids)
        self.network_ = network
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "network_")
        texts = _texts(X)
        if not texts:
            return np.zeros((0, self.n_themes_))
        backbone = get_backbone(self.home)
        return self.proba_from_states(texts, backbone.states(texts, self.max_length,
                                                             layer=backbone.n_layers - self.tune_layers))

    def proba_from_states(self, texts: Sequence[str], states: Sequence) -> np.ndarray:
        """Sigmoid scores [n, themes] of `texts` from their token states below the head, (tokens, hidden)
        torch tensors: what `predict_proba` computes after encoding (run's shared pass gives them too)."""
        import torch

        out = np.zeros((len(texts), self.n_themes_))
        if not len(texts):
            return out
        keywords = keyword_features(texts, self.theme_ids_)
        with torch.inference_mode():
            for batch in length_batches([s.shape[0] for s in states], BATCH_TOKENS, MAX_BATCH):
                h, mask = pad(states, batch)
                out[batch] = torch.sigmoid(self.network_(h, mask, keywords[batch])).double().numpy()
        return out


def _train(network, params, states: list, keywords, target, pos_weight, epochs: int, lr: float,
           weight_decay: float, batch_size: int, seed: int) -> None:  # fmt: skip
    """Minibatch AdamW with a cosine schedule over length-sorted batches, shuffled with a fixed seed."""
    import torch

    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimiser = torch.optim.AdamW([p for p in params if p.requires_grad], lr=lr, weight_decay=weight_decay)
    batches = length_batches([s.shape[0] for s in states], 1 << 30, batch_size)
    padded = [(pad(states, b), keywords[b], target[b]) for b in batches]
    steps = max(1, epochs * len(padded))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda k: 0.5 * (1 + math.cos(math.pi * k / steps)))
    order = torch.Generator().manual_seed(seed)
    network.train()
    for _ in range(epochs):
        for b in torch.randperm(len(padded), generator=order).tolist():
            (h, mask), k, y = padded[b]
            loss = loss_fn(network(h, mask, k), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    network.eval()
