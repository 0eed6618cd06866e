"""The trainable network of the theme classifier: optional top encoder layers, then a label-attention head.

    h       = LayerNorm(token states)                             (no parameters)
    mean    = masked mean of h
    att_j   = softmax over tokens of (h · q_j) / sqrt(d)          (one attention query per theme)
    kw      = 1 - 0.5**k per theme, k = seed keywords found        (KeywordClassifier's score)
    logit_j = w_j · (att_j-pooled h) + u_j · mean + K_j · kw + b_j (K starts as 4·I, b as -2: the keyword rule)

The token states are the encoder's last-layer states, or, when top layers are fine-tuned, the
states of the layer below them run through the trainable copies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from .taxonomy import load_taxonomy


def theme_network(hidden: int, n_themes: int, layers: Sequence = (), layer_mask: Callable | None = None):
    """A torch module: (padded states, mask, keyword features) -> one logit per theme."""
    import torch
    from torch import nn

    class ThemeNetwork(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(layers)
            self.queries = nn.Parameter(torch.randn(n_themes, hidden) * 0.02)
            self.w_att = nn.Parameter(torch.zeros(n_themes, hidden))
            self.w_mean = nn.Parameter(torch.zeros(n_themes, hidden))
            # start from the keyword rule (one seed keyword: logit 0, two: logit 1) and learn corrections
            self.bias = nn.Parameter(torch.full((n_themes,), -2.0))
            self.w_keywords = nn.Parameter(4.0 * torch.eye(n_themes))

        def forward(self, h: torch.Tensor, mask: torch.Tensor, keywords: torch.Tensor) -> torch.Tensor:
            # h (B, S, d) token states, mask (B, S) bool, keywords (B, themes) in [0, 1)
            if len(self.layers):
                extended = layer_mask(h, mask)
                for layer in self.layers:
                    h = layer(h, attention_mask=extended)
            h = nn.functional.layer_norm(h, (h.shape[-1],))
            m = mask.unsqueeze(-1).to(h.dtype)
            mean = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
            scores = torch.einsum("bsd,td->bts", h, self.queries) / math.sqrt(h.shape[-1])
            scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
            pooled = torch.einsum("bts,bsd->btd", scores.softmax(dim=-1), h)
            return (pooled * self.w_att).sum(-1) + mean @ self.w_mean.T + keywords @ self.w_keywords.T + self.bias

    return ThemeNetwork()


def pad(states: list, rows: Sequence[int]):
    """Stack the token states of `rows` into a zero-padded (B, S, d) tensor and a (B, S) bool mask."""
    import torch

    width = max(states[i].shape[0] for i in rows)
    h = torch.zeros((len(rows), width, states[rows[0]].shape[1]))
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for r, i in enumerate(rows):
        h[r, : states[i].shape[0]] = states[i]
        mask[r, : states[i].shape[0]] = True
    return h, mask


def keyword_features(texts: Sequence[str], theme_ids: Sequence[str]):
    """Per theme, 1 - 0.5**k for k distinct seed keywords of the taxonomy found (0 for unknown themes)."""
    import torch

    themes = {t.id: t for t in load_taxonomy().themes}
    counts = [[len(themes[t].matches(text)) if t in themes else 0 for t in theme_ids] for text in texts]
    return 1.0 - 0.5 ** torch.tensor(counts, dtype=torch.float32).reshape(len(texts), len(theme_ids))
