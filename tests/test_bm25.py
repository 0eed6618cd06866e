"""Analyzers and BM25Index (jieba words and character n-grams): Okapi scores on real paragraphs against rank_bm25,
filtering before top-k, updates, persistence."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from policy_nlp.errors import SearchIndexError
from policy_nlp.search import bm25 as bm25_module
from policy_nlp.search.bm25 import B, K1, BM25Index
from policy_nlp.search.tokenize import ANALYZERS, char_bigrams, char_ngrams, tokenize

SEEDS = sorted((Path(__file__).parent.parent / "corpus" / "seeds").glob("*.txt"))
PARAGRAPHS = [line.strip() for path in SEEDS for line in path.read_text(encoding="utf-8").splitlines()
              if len(line.strip()) >= 20]
IDS = np.arange(len(PARAGRAPHS), dtype=np.int64) * 3 + 500
QUERIES = ["县管校聘", "课后服务 5+2 模式", "校外培训机构治理", "教师队伍建设", "学前教育普惠", "双减"]


@pytest.fixture(scope="module", params=sorted(ANALYZERS))
def index(request) -> BM25Index:
    return BM25Index.build(IDS, PARAGRAPHS, analyzer=request.param)


def test_tokenize_is_precise_mode_without_noise():
    assert tokenize("加大'双减'工作力度") == ["加大", "双减", "工作力度"]
    assert tokenize("课后服务“５＋２”模式") == ["课后", "服务", "5", "2", "模式"]  # no overlapping sub-words
    assert tokenize("学校的 ABC 和 Python，与。") == ["学校", "abc", "python"]


def test_char_ngrams_need_no_dictionary():
    assert char_ngrams("县管校聘") == ["县", "管", "校", "聘", "县管", "管校", "校聘"]
    assert char_ngrams("一校一品。") == ["一", "校", "一", "品", "一校", "校一", "一品"]  # a repeat counts twice
    # NFKC and lower case; ASCII words and numbers are one unit; bigrams never cross punctuation or spaces
    assert char_ngrams("ＡＩ教育，2023年") == ["ai", "教", "育", "2023", "年", "ai教", "教育", "2023年"]
    assert char_ngrams("， 。") == [] and char_bigrams("课后服务、课后") == {"课后", "后服", "服务"}


def test_jieba_initialises_quietly():
    code = "from policy_nlp.search.tokenize import tokenize; tokenize('双减')"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    assert run.stderr == ""


class LuceneIdfOkapi(BM25Okapi):
    """rank_bm25's Okapi BM25 with Lucene's idf ln(1 + (N - df + 0.5) / (df + 0.5)) in place of its floored one."""

    def _calc_idf(self, nd: dict[str, int]) -> None:
        self.idf = {word: math.log(1 + (self.corpus_size - df + 0.5) / (df + 0.5)) for word, df in nd.items()}


def test_scores_equal_rank_bm25_okapi_with_lucene_idf_on_real_paragraphs(index: BM25Index):
    """Every paragraph's score times (k1 + 1) equals the reference score, and the ranking (ties by id) is the same."""
    analyze = ANALYZERS[index.analyzer]
    reference = LuceneIdfOkapi([analyze(p) for p in PARAGRAPHS], k1=K1, b=B)
    for query in QUERIES + ["今年我县全面推行中小学教师“县管校聘”管理改革,教师由学校竞聘上岗"]:
        expected = reference.get_scores(analyze(query))
        hits = np.flatnonzero(expected > 0)
        expected_order = IDS[hits[np.lexsort((IDS[hits], -expected[hits]))]]
        scores, ids = index.search(query, len(PARAGRAPHS))
        np.testing.assert_array_equal(ids, expected_order)
        np.testing.assert_allclose(scores * (K1 + 1), expected[(ids - 500) // 3], rtol=1e-5)
        assert len(ids) > 0


def test_simplified_query_finds_the_paragraph(index: BM25Index):
    extra = BM25Index.build(np.array([1, 2]), ["加大'双减'工作力度", "加强师德师风建设"])
    assert extra.search("双减", 5)[1].tolist() == [1]
    assert set(index.search("双减", 100)[1]) >= {IDS[i] for i, p in enumerate(PARAGRAPHS) if "双减" in p}


def test_allowed_ids_restrict_before_top_k(index: BM25Index):
    _, everything = index.search("教师", 1000)
    allowed = everything[5::2]  # none of the overall top 5
    _, ids = index.search("教师", 5, allowed_ids=allowed)
    assert ids.tolist() == allowed[:5].tolist()


def test_no_known_word_gives_no_hits(index: BM25Index):
    assert len(index.search("魑魅魍魉", 10)[1]) == 0
    assert len(index.search("，。 —", 10)[1]) == 0
    assert len(index.search("的 和 ，", 10)[1]) == (0 if index.analyzer == "words" else 10)  # stop words: words only


def test_add_and_remove_rebuild_the_scores():
    index = BM25Index.build(np.array([1, 2, 3]), ["落实县管校聘改革", "推进课后服务全覆盖", "加强校外培训机构治理"])
    assert index.remove(np.array([1, 99])) == 1
    assert len(index.search("县管校聘", 5)[1]) == 0 and index.ids.tolist() == [2, 3]
    index.add(np.array([4]), ["深化县管校聘管理改革"])
    assert index.search("县管校聘", 5)[1].tolist() == [4]
    with pytest.raises(SearchIndexError, match="unique"):
        index.add(np.array([4]), ["重复"])
    assert index.remove(index.ids) == 3 and len(index.search("服务", 5)[1]) == 0


def test_save_load_round_trip(tmp_path, index: BM25Index):
    index.save(tmp_path / "bm25")
    files = sorted(p.name for p in (tmp_path / "bm25").iterdir())
    assert files == ["data.csc.index.npy", "doc_offsets.npy", "doc_tokens.npy", "ids.npy", "indices.csc.index.npy",
                     "indptr.csc.index.npy", "manifest.json", "params.index.json", "vocab.index.json"]
    manifest = json.loads((tmp_path / "bm25" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["artifact"] == "bm25-index" and manifest["counts"]["paragraphs"] == len(PARAGRAPHS)
    settings = manifest["settings"]
    assert settings["analyzer"] == index.analyzer and settings["k1"] == K1
    assert settings["tokenizer"] == ({"mode": "lcut"} if index.analyzer == "words" else {"ngrams": [1, 2]}) | settings["tokenizer"]
    loaded = BM25Index.load(tmp_path / "bm25", analyzer=index.analyzer)  # np.load(allow_pickle=False) throughout
    for query in QUERIES:
        for got, expected in zip(loaded.search(query, 10), index.search(query, 10)):
            np.testing.assert_array_equal(got, expected)
    loaded.add(np.array([1]), ["县管校聘"])
    assert loaded.search("县管校聘", 1)[1].tolist() == [1]


def test_load_refuses_missing_damaged_or_other_tokenizer(tmp_path, index: BM25Index):
    with pytest.raises(SearchIndexError, match="policy-nlp index build"):
        BM25Index.load(tmp_path / "nowhere")
    index.save(tmp_path)
    other = "chars" if index.analyzer == "words" else "words"
    with pytest.raises(SearchIndexError, match="another analyzer or with other tokenizer settings"):
        BM25Index.load(tmp_path, analyzer=other)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    other = {**manifest, "settings": {**manifest["settings"], "tokenizer_signature": "other"}}
    (tmp_path / "manifest.json").write_text(json.dumps(other))
    with pytest.raises(SearchIndexError, match="other tokenizer settings; run `policy-nlp index build`"):
        BM25Index.load(tmp_path, analyzer=index.analyzer)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "ids.npy").write_bytes(b"junk")
    with pytest.raises(SearchIndexError, match="damaged"):
        BM25Index.load(tmp_path, analyzer=index.analyzer)


def test_an_index_saved_before_the_common_manifest_still_loads(tmp_path, index: BM25Index):
    if index.analyzer != "words":
        pytest.skip("format 1 held word indexes only")
    index.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    v1 = {"format_version": 1, "count": len(PARAGRAPHS), "policy_nlp": "0.1.0", "bm25s": "0.2.14",
          "tokenizer_signature": manifest["settings"]["tokenizer_signature"], "tokenizer": manifest["settings"]["tokenizer"]}
    (tmp_path / "manifest.json").write_text(json.dumps(v1), encoding="utf-8")
    assert BM25Index.load(tmp_path).search("县管校聘", 3)[1].tolist() == index.search("县管校聘", 3)[1].tolist()
    (tmp_path / "manifest.json").write_text(json.dumps({**v1, "count": 3}), encoding="utf-8")
    with pytest.raises(SearchIndexError, match=f"{len(PARAGRAPHS)} paragraphs, 3 in the manifest"):
        BM25Index.load(tmp_path)


def test_crash_while_saving_keeps_the_previous_index(tmp_path, monkeypatch):
    BM25Index.build(np.array([1]), ["县管校聘"]).save(tmp_path / "bm25")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(bm25_module.np, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        BM25Index.build(np.array([2]), ["课后服务"]).save(tmp_path / "bm25")
    monkeypatch.undo()
    assert BM25Index.load(tmp_path / "bm25").ids.tolist() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["bm25"]
