"""BM25 at scale: the vectorised character analysis and score matrix against the reference implementations on
real report text, and the postings cap of a query."""

from __future__ import annotations

from pathlib import Path
import bm25s
import numpy as np
import pytest

from policy_nlp.search.bm25 import B, K1, METHOD, BM25Index
from policy_nlp.search.tokenize import analyze_batch, char_ngram_ids, char_ngrams, tokenize

REPO = Path(__file__).resolve().parents[1]

EDGE_CASES = ["", "  ", "ＡＩ教育，2023年", "ｐython3.11 版本_v2", "①②③", "İstanbul Straße", "a", "_", "，。", "2024年12月"]


@pytest.fixture(scope="module")
def report_lines() -> list[str]:
    """Every line of the seed reports (headings, lists, numbers, empty lines), and some edge cases."""
    lines = [line for path in sorted((REPO / "corpus" / "seeds").glob("*.txt"))
             for line in path.read_text(encoding="utf-8").splitlines()]  # fmt: skip
    return lines + EDGE_CASES


def test_vectorised_char_analysis_equals_the_reference_analyzer(report_lines):
    vocab, tokens, offsets = char_ngram_ids(report_lines)
    assert len(offsets) == len(report_lines) + 1 and tokens.dtype == np.int32
    for i, text in enumerate(report_lines):
        assert [vocab[t] for t in tokens[offsets[i]:offsets[i + 1]]] == char_ngrams(text), text
    vocab, tokens, offsets = char_ngram_ids([])
    assert (vocab, len(tokens), offsets.tolist()) == ([], 0, [0])


def test_a_batch_of_words_keeps_each_paragraphs_tokens(report_lines):
    vocab, tokens, offsets = analyze_batch("words", report_lines[:60])
    for i, text in enumerate(report_lines[:60]):
        assert [vocab[t] for t in tokens[offsets[i]:offsets[i + 1]]] == tokenize(text)


@pytest.mark.parametrize("analyzer", ["words", "chars"])
def test_vectorised_scores_equal_bm25s_own_index(report_lines, analyzer: str):
    index = BM25Index.build(np.arange(len(report_lines)), report_lines, analyzer)
    vocab = index._vocab
    analyze = tokenize if analyzer == "words" else char_ngrams
    reference = bm25s.BM25(k1=K1, b=B, method=METHOD)
    reference.index(([[vocab[t] for t in analyze(text)] for text in report_lines], dict(vocab)),
                    create_empty_token=False, show_progress=False)  # fmt: skip
    ours = index._bm25.scores
    np.testing.assert_array_equal(ours["indptr"], reference.scores["indptr"])
    np.testing.assert_array_equal(ours["indices"], reference.scores["indices"])
    np.testing.assert_allclose(ours["data"], reference.scores["data"], rtol=1e-6)
    assert ours["num_docs"] == reference.scores["num_docs"] == len(report_lines)


def test_the_postings_cap_keeps_a_querys_rarest_tokens(report_lines):
    index = BM25Index.build(np.arange(len(report_lines)), report_lines, "chars")
    query = "教育聘"  # 教 and 育 occur in many lines, 聘 in a few
    capped = index.search(query, 20, max_postings=1)  # only the rarest token fits
    rarest = min(("教", "育", "聘"), key=lambda t: index._bm25.scores["indptr"][index._vocab[t] + 1]
                 - index._bm25.scores["indptr"][index._vocab[t]])  # fmt: skip
    assert rarest == "聘"
    alone = index.search(rarest, 20)
    np.testing.assert_array_equal(capped[1], alone[1])
    full = index.search(query, 20)
    assert len(full[1]) == 20 and not np.array_equal(full[1], capped[1])  # without a cap every token counts


@pytest.mark.parametrize("analyzer, analyze", [("words", tokenize), ("chars", char_ngrams)])
def test_a_large_batch_is_analyzed_in_chunks_by_worker_processes(report_lines, monkeypatch, analyzer, analyze):
    from policy_nlp.search import tokenize as module

    monkeypatch.setattr(module, "PARALLEL_MIN", 40)
    monkeypatch.setattr(module.os, "cpu_count", lambda: 2)
    texts = report_lines[:130]
    vocab, tokens, offsets = analyze_batch(analyzer, texts)
    assert len(offsets) == len(texts) + 1 and len(set(vocab)) == len(vocab)
    for i, text in enumerate(texts):
        assert [vocab[t] for t in tokens[offsets[i]:offsets[i + 1]]] == analyze(text)


def test_a_filter_ranks_the_allowed_paragraphs_as_the_full_ranking_does(report_lines):
    index = BM25Index.build(np.arange(len(report_lines)), report_lines, "chars")
    query = "加强教师队伍建设，推进县管校聘改革"
    full_scores, full_ids = index.search(query, len(report_lines))
    allowed = np.concatenate([np.arange(0, len(report_lines), 3), [3, 3, 10**9, -1]])  # repeats and unknown ids
    scores, ids = index.search(query, 20, allowed_ids=allowed)
    kept = np.isin(full_ids, allowed)
    assert len(ids) == 20 and len(set(ids.tolist())) == 20
    np.testing.assert_array_equal(ids, full_ids[kept][:20])
    np.testing.assert_array_equal(scores, full_scores[kept][:20])
