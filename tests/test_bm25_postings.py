"""A saved keyword index's postings are read a slice at a time from its files, never through its memory map,
so the pages a query reads do not stay in the process's resident memory."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from policy_nlp.errors import SearchIndexError
from policy_nlp.search.bm25 import BM25Index

REPO = Path(__file__).resolve().parents[1]
QUERIES = ["县管校聘", "课后服务", "全面加强党的建设，落实立德树人根本任务，教育教学质量稳步提升", "校园安全隐患排查"]


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return [line for path in sorted((REPO / "corpus" / "seeds").glob("*.txt"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]  # fmt: skip


@pytest.fixture(scope="module", params=["words", "chars"])
def saved(request, lines, tmp_path_factory) -> tuple[BM25Index, Path]:
    folder = tmp_path_factory.mktemp(request.param) / "index"
    index = BM25Index.build(np.arange(len(lines)), lines, request.param)
    index.save(folder)
    return index, folder


def _resident_kib(path: Path) -> int:
    """Resident KiB of this process's mappings of `path` (Linux /proc)."""
    total, current = 0, None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        parts = line.split()
        if "-" in parts[0] and not parts[0].endswith(":"):
            current = parts[5] if len(parts) > 5 else None
        elif parts[0] == "Rss:" and current == str(path):
            total += int(parts[1])
    return total


def test_file_postings_equal_the_in_memory_ones_for_every_word(saved):
    index, folder = saved
    loaded = BM25Index.load(folder, analyzer=index.analyzer)
    words = np.arange(len(loaded._vocab))
    rng = np.random.default_rng(0)
    for chosen in (words, rng.permutation(words)[:50], words[:1]):
        for got, expected in zip(loaded._postings.read(chosen), index._postings.read(chosen)):
            np.testing.assert_array_equal(got, expected)
    assert loaded._postings.counts(words).sum() == len(np.asarray(index._bm25.scores["data"]))


@pytest.mark.skipif(not Path("/proc/self/smaps").is_file(), reason="needs Linux /proc")
def test_queries_leave_the_postings_files_out_of_resident_memory(saved):
    index, folder = saved
    loaded = BM25Index.load(folder, analyzer=index.analyzer)
    for query in QUERIES:
        for got, expected in zip(loaded.search(query, 10), index.search(query, 10)):
            np.testing.assert_array_equal(got, expected)
    assert len(loaded.search(QUERIES[2], 10)[1]) == 10
    for name in ("data.csc.index.npy", "indices.csc.index.npy"):
        assert _resident_kib((folder / name).resolve()) == 0, name


def test_a_postings_file_cut_short_after_opening_is_a_clear_error(saved, tmp_path):
    index, folder = saved
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    loaded = BM25Index.load(copy, analyzer=index.analyzer)
    os.truncate(copy / "data.csc.index.npy", 200)
    with pytest.raises(SearchIndexError, match="cut short.*policy-nlp index build"):
        loaded.search(QUERIES[2], 10)
