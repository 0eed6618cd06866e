"""The embedding cache: paragraphs already embedded by a model are never encoded again."""

from __future__ import annotations

import numpy as np
import pytest

from policy_nlp.embed.cache import EmbeddingCache, embed_passages_cached
from policy_nlp.schema import text_hash


class CountingEncoder:
    """Wraps an encoder and records every text it is asked to encode."""

    def __init__(self, inner):
        self.inner, self.model_id, self.dim, self.encoded = inner, inner.model_id, inner.dim, []

    def encode_passages(self, texts):
        self.encoded += list(texts)
        return self.inner.encode_passages(texts)


@pytest.fixture
def counting(e5_encoder):
    return CountingEncoder(e5_encoder)


def test_rerun_never_reencodes_unchanged_paragraphs(counting, seed_paragraphs, tmp_path):
    unique = list(dict.fromkeys(seed_paragraphs))  # the seeds repeat a few title lines
    texts, new = unique[:10], unique[10]
    with EmbeddingCache(home=tmp_path) as cache:
        assert cache.path == tmp_path / "cache" / "embeddings.sqlite"
        first = embed_passages_cached(counting, texts, cache)
        assert counting.encoded == texts
        assert cache.count(counting.model_id) == 10
    with EmbeddingCache(home=tmp_path) as cache:  # a later run, new connection
        second = embed_passages_cached(counting, texts + [new, texts[0]], cache)
    assert counting.encoded == texts + [new]  # only the new paragraph
    assert second.dtype == np.float32 and second.shape == (12, 384)
    np.testing.assert_array_equal(second[:10], first)
    np.testing.assert_array_equal(second[11], first[0])


def test_cache_is_keyed_by_model_and_text_hash(tmp_path):
    with EmbeddingCache(tmp_path / "e.sqlite") as cache:
        vector = np.arange(4, dtype=np.float32)
        cache.put("model-a", [(text_hash("教育"), vector)])
        assert cache.get("model-b", [text_hash("教育")]) == {}
        np.testing.assert_array_equal(cache.get("model-a", [text_hash("教育")])[text_hash("教育")], vector)
        assert cache._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
