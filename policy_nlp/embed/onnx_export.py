"""The ONNX Runtime int8 fast path: export a sentence-transformers BERT folder to ONNX once, int8-quantised.

The graph takes ``ids`` and ``mask`` (int64 [batch, seq]) and returns ``emb``, the mean-pooled last
hidden state (not normalised), and ``states``, the last hidden state itself (what the theme head
reads in `run`'s shared pass). Weights are quantised to int8 per output channel by ONNX Runtime's
dynamic quantisation (activations get a dynamic int8 scale per tensor at run time): mean cosine
about 0.996 to the float model on e5-small. Only the int8 file is kept, in ``<model_dir>/onnx/``
beside its ``manifest.json``.
Imports torch/onnxruntime when called: import this module lazily.
"""

from __future__ import annotations

import functools
import logging
import warnings
from pathlib import Path

import numpy as np

from policy_nlp.artifacts import Manifest, locked, write_folder
from policy_nlp.embed.encoder import BATCH_TOKENS, MAX_BATCH, length_batches
from policy_nlp.errors import ModelError

ARTIFACT = "onnx-model"
ONNX_DIRNAME = "onnx"
#: Named for its outputs: a folder holding the older file (``emb`` only) is re-exported.
INT8_FILENAME = "model.int8.states.onnx"
OPSET = 17


def _export_float(model_dir: Path, dst: Path) -> None:
    """Write the float mean-pooling graph of the ``BertModel`` in ``model_dir`` to ``dst``."""
    import torch
    from transformers import AutoModel

    class MeanPooled(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1e-9), hidden

    model = MeanPooled(AutoModel.from_pretrained(str(model_dir), local_files_only=True)).eval()
    ids = torch.ones((2, 8), dtype=torch.int64)
    axes = {"ids": {0: "b", 1: "s"}, "mask": {0: "b", 1: "s"}, "emb": {0: "b"}, "states": {0: "b", 1: "s"}}
    with torch.no_grad(), warnings.catch_warnings():  # tracer warnings about Python control flow: harmless
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (ids, torch.ones_like(ids)), str(dst), input_names=["ids", "mask"],
                          output_names=["emb", "states"], dynamic_axes=axes, opset_version=OPSET,
                          dynamo=False)  # fmt: skip


def _quantize(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic warns on the root logger that pre-processing could help: not here
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)


def ensure_onnx_int8(model_dir: Path) -> Path:
    """``<model_dir>/onnx/model.int8.onnx``, exported and quantised on first use, reused afterwards.

    The ``onnx`` folder is built in a temporary sibling and swapped into place under a lock, so a crash
    never leaves a half-written file; the intermediate float ``.onnx`` is deleted.
    """
    model_dir = Path(model_dir)
    target = model_dir / ONNX_DIRNAME / INT8_FILENAME
    if target.is_file():
        return target
    import onnxruntime
    import torch

    manifest = Manifest.new(ARTIFACT, model_id=model_dir.name, libraries=(torch, onnxruntime),
                            settings={"file": INT8_FILENAME, "opset": OPSET, "inputs": ["ids", "mask"],
                                      "outputs": ["emb", "states"], "pooling": "mean",
                                      "quantization": "dynamic int8, per channel"})  # fmt: skip
    try:
        with locked(target.parent):
            if target.is_file():  # another process exported it while we waited
                return target
            with write_folder(target.parent, manifest) as tmp:
                _export_float(model_dir, tmp / "model.onnx")
                _quantize(tmp / "model.onnx", tmp / INT8_FILENAME)
                (tmp / "model.onnx").unlink()
    except OSError as exc:
        raise ModelError(f"cannot write the ONNX model to {target.parent}: {exc}") from exc
    except Exception as exc:  # export/quantisation errors come from many libraries: report them all alike
        raise ModelError(f"cannot export {model_dir} to ONNX int8 ({type(exc).__name__}: {exc})") from exc
    return target


@functools.lru_cache(maxsize=2)
def onnx_int8_model(model_dir: Path, threads: int) -> OnnxInt8Model:
    """The process-wide OnnxInt8Model of ``model_dir``: the search encoder and `run`'s shared pass use one copy."""
    return OnnxInt8Model(Path(model_dir).resolve(), threads=threads)


class OnnxInt8Model:
    """The int8 ONNX graph behind the part of the ``SentenceTransformer`` interface ``Encoder`` uses."""

    def __init__(self, model_dir: Path, *, threads: int) -> None:
        import json

        import onnxruntime as ort
        from transformers import AutoTokenizer

        model_dir = Path(model_dir)
        path = ensure_onnx_int8(model_dir)

        def config(name: str) -> dict:
            file = model_dir / name
            return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.max_seq_length = int(config("sentence_bert_config.json").get("max_seq_length")
                                  or self.tokenizer.model_max_length)  # fmt: skip
        self.prompts = config("config_sentence_transformers.json").get("prompts") or {}
        self._dim = int(config("config.json")["hidden_size"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # idle threads sleep instead of spinning: on a shared two-core machine spinning threads steal the
        # cores the busy ones need (about 3x slower under load in benchmarks/bench_embed.py)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a corrupt or foreign file: say which one
            raise ModelError(f"cannot load the ONNX model {path} ({exc}); delete it to re-export") from exc

    def get_sentence_embedding_dimension(self) -> int:
        return self._dim

    def encode(self, texts: list[str], *, prompt: str = "", batch_size: int = 32, convert_to_numpy: bool = True,
               normalize_embeddings: bool = True, show_progress_bar: bool = False):  # fmt: skip
        """float32 [n, dim] mean-pooled vectors of ``prompt + text`` (L2-normalised unless told not to)."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            tokens = self.tokenizer([prompt + t for t in texts[start : start + batch_size]], padding=True,
                                    truncation=True, max_length=self.max_seq_length, return_tensors="np")  # fmt: skip
            feed = {"ids": tokens["input_ids"].astype(np.int64), "mask": tokens["attention_mask"].astype(np.int64)}
            out[start : start + batch_size] = self.session.run(["emb"], feed)[0]
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def passages_with_states(self, texts: list[str], prompt: str) -> tuple[np.ndarray, list[np.ndarray]]:
        """One pass over ``prompt + text`` in length-sorted batches: L2-normalised vectors float32 [n, dim]
        and each text's last-layer token states float32 (tokens, dim), truncated to ``max_seq_length``."""
        ids = self.tokenizer([prompt + t for t in texts], truncation=True, max_length=self.max_seq_length,
                             verbose=False)["input_ids"]  # fmt: skip
        vectors = np.zeros((len(texts), self._dim), dtype=np.float32)
        states: list[np.ndarray] = [np.zeros((0, self._dim), np.float32)] * len(texts)
        for batch in length_batches([len(x) for x in ids], BATCH_TOKENS, MAX_BATCH):
            width = max(len(ids[i]) for i in batch)
            feed = {"ids": np.full((len(batch), width), self.tokenizer.pad_token_id, dtype=np.int64),
                    "mask": np.zeros((len(batch), width), dtype=np.int64)}  # fmt: skip
            for row, i in enumerate(batch):
                feed["ids"][row, : len(ids[i])] = ids[i]
                feed["mask"][row, : len(ids[i])] = 1
            pooled, hidden = self.session.run(["emb", "states"], feed)
            vectors[batch] = pooled
            for row, i in enumerate(batch):
                states[i] = hidden[row, : len(ids[i])].copy()
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors, states
