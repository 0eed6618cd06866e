"""VectorIndex: exact and approximate search, filtering inside FAISS, updates, manifest, atomic persistence."""

from __future__ import annotations

import json
import subprocess
import sys

import faiss
import numpy as np
import pytest

from policy_nlp import __version__
from policy_nlp.errors import ConfigError, SearchIndexError
from policy_nlp.index import IVFPQ_MIN_TRAIN, VectorIndex

DIM = 64
IVF_FACTORY = "IVF32,Flat"  # small IVF for tests; the ivfpq preset needs IVFPQ_MIN_TRAIN vectors


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 50 topics, like embeddings of paragraphs on a few themes."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, DIM))
    return unit(centres[rng.integers(0, 50, n)] + 0.5 * rng.standard_normal((n, DIM)))


N = 4000
VECTORS = clustered(N)
IDS = np.arange(N, dtype=np.int64) * 7 + 1000  # store ids, not positions
QUERIES = unit(VECTORS[:20] + 0.05 * np.random.default_rng(1).standard_normal((20, DIM)))


def exact_top_k(queries: np.ndarray, ids: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    return ids[np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]]


@pytest.fixture(scope="module", params=["flat", "hnsw", IVF_FACTORY])
def built(request) -> VectorIndex:
    return VectorIndex.build(IDS, VECTORS, model_id="e5-small", kind=request.param)


def test_flat_is_exact():
    index = VectorIndex.build(IDS, VECTORS, model_id="e5-small")
    scores, ids = index.search(QUERIES, 10)
    np.testing.assert_array_equal(ids, exact_top_k(QUERIES, IDS, VECTORS, 10))
    assert np.all(np.diff(scores, axis=1) <= 0)
    assert len(index) == N and index.factory == "Flat"
    np.testing.assert_array_equal(index.ids, IDS)


def test_filter_keeps_5_percent_and_still_fills_top_k(built: VectorIndex):
    allowed = IDS[::20]
    keep = np.isin(IDS, allowed)
    _, ids = built.search(QUERIES, 10, allowed_ids=allowed)
    assert ids.shape == (20, 10)
    assert np.isin(ids, allowed).all()  # top-k of what matches: no slot is empty or foreign
    expected = exact_top_k(QUERIES, IDS[keep], VECTORS[keep], 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, expected)])
    assert recall == 1.0 if built.kind == "flat" else recall >= 0.9


def test_approximate_kinds_recall_exact_results(built: VectorIndex):
    _, ids = built.search(QUERIES, 10)
    expected = exact_top_k(QUERIES, IDS, VECTORS, 10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, expected)]) >= 0.9


def test_k_is_capped_at_the_candidates():
    index = VectorIndex.build(IDS[:50], VECTORS[:50], model_id="m")
    assert index.search(QUERIES[:2], 100)[1].shape == (2, 50)
    assert index.search(QUERIES[:2], 10, allowed_ids=IDS[:3])[1].shape == (2, 3)
    assert index.search(QUERIES[:2], 10, allowed_ids=np.array([], np.int64))[1].shape == (2, 0)


@pytest.mark.parametrize("kind", ["flat", "hnsw", IVF_FACTORY])
def test_remove_and_add_work_for_every_kind(kind: str):
    index = VectorIndex.build(IDS[:1000], VECTORS[:1000], model_id="m", kind=kind, corpus_fingerprint="fp1")
    assert index.remove(np.concatenate([IDS[:100], [-5]])) == 100
    assert len(index) == 900 and index.corpus_fingerprint == ""
    np.testing.assert_array_equal(index.ids, IDS[100:1000])
    _, ids = index.search(VECTORS[:100], 1)
    assert not np.isin(ids, IDS[:100]).any()
    _, ids = index.search(VECTORS[100:110], 1)
    np.testing.assert_array_equal(ids[:, 0], IDS[100:110])
    index.add(IDS[:10], VECTORS[:10])
    _, ids = index.search(VECTORS[:10], 1)
    np.testing.assert_array_equal(ids[:, 0], IDS[:10])
    with pytest.raises(SearchIndexError, match="already in the index"):
        index.add(IDS[:1], VECTORS[:1])


def test_ivfpq_preset_trains_on_the_build_vectors_and_refuses_too_few():
    with pytest.raises(ConfigError, match="at least"):
        VectorIndex.build(IDS, VECTORS, model_id="m", kind="ivfpq")
    vectors = clustered(IVFPQ_MIN_TRAIN, seed=2)
    index = VectorIndex.build(np.arange(IVFPQ_MIN_TRAIN), vectors, model_id="m", kind="ivfpq")
    assert index.factory.startswith("IVF") and len(index) == IVFPQ_MIN_TRAIN
    _, ids = index.search(vectors[:5], 10, allowed_ids=np.arange(0, IVFPQ_MIN_TRAIN, 20))
    assert (ids % 20 == 0).all()


def test_bad_input_is_refused():
    with pytest.raises(ConfigError, match="unknown index kind"):
        VectorIndex.build(IDS, VECTORS, model_id="m", kind="nonsense")
    with pytest.raises(SearchIndexError, match="L2-normalised"):
        VectorIndex.build(IDS, VECTORS * 2, model_id="m")
    with pytest.raises(SearchIndexError, match="unique"):
        VectorIndex.build(np.zeros(N, np.int64), VECTORS, model_id="m")
    index = VectorIndex.build(IDS, VECTORS, model_id="m")
    with pytest.raises(SearchIndexError, match="dimension 64"):
        index.search(unit(np.ones((1, 32))), 5)


@pytest.mark.parametrize("kind", ["flat", "hnsw", IVF_FACTORY])
def test_save_load_round_trip_and_manifest(tmp_path, kind: str):
    index = VectorIndex.build(IDS, VECTORS, model_id="e5-small", kind=kind, corpus_fingerprint="abc123")
    index.save(tmp_path / "index")
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == ["index.faiss", "manifest.json"]
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["artifact"] == "dense-index" and manifest["model_id"] == "e5-small"
    assert manifest["counts"] == {"paragraphs": N} and manifest["settings"]["dim"] == DIM
    assert manifest["settings"]["normalization"] == "l2" and manifest["settings"]["corpus_fingerprint"] == "abc123"
    assert manifest["settings"]["kind"] == kind and manifest["versions"]["policy_nlp"] == __version__
    assert manifest["versions"]["faiss"] == faiss.__version__ and manifest["created_utc"].endswith("+00:00")
    loaded = VectorIndex.load(tmp_path / "index", expected_model_id="e5-small", expected_dim=DIM)
    assert loaded.corpus_fingerprint == "abc123"
    for allowed in (None, IDS[::20]):
        np.testing.assert_array_equal(loaded.search(QUERIES, 10, allowed_ids=allowed)[1],
                                      index.search(QUERIES, 10, allowed_ids=allowed)[1])


def test_an_index_saved_before_the_common_manifest_still_loads(tmp_path):
    VectorIndex.build(IDS, VECTORS, model_id="e5-small", kind="hnsw", corpus_fingerprint="abc123").save(tmp_path)
    v1 = {"format_version": 1, "model_id": "e5-small", "dim": DIM, "normalization": "l2", "kind": "hnsw",
          "factory": "HNSW32,Flat", "count": N, "corpus_fingerprint": "abc123",
          "versions": {"faiss": faiss.__version__}, "created_utc": "2026-11-01T08:00:00+00:00"}  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps(v1), encoding="utf-8")
    loaded = VectorIndex.load(tmp_path, expected_model_id="e5-small", expected_dim=DIM)
    assert (loaded.kind, loaded.factory, loaded.corpus_fingerprint, len(loaded)) == ("hnsw", "HNSW32,Flat", "abc123", N)
    (tmp_path / "manifest.json").write_text(json.dumps({**v1, "format_version": 7}), encoding="utf-8")
    with pytest.raises(SearchIndexError, match="damaged or of another format; run `policy-nlp index build`"):
        VectorIndex.load(tmp_path)


def test_load_refuses_another_model_or_dimension(tmp_path):
    VectorIndex.build(IDS, VECTORS, model_id="e5-small").save(tmp_path)
    with pytest.raises(SearchIndexError, match=r"built with model e5-small \(64-d\) but the current model is "
                                               r"bge-m3 \(64-d\); run `policy-nlp index build`"):
        VectorIndex.load(tmp_path, expected_model_id="bge-m3")
    with pytest.raises(SearchIndexError, match=r"current model is e5-small \(384-d\)"):
        VectorIndex.load(tmp_path, expected_model_id="e5-small", expected_dim=384)


def test_missing_or_damaged_index_says_to_rebuild(tmp_path):
    with pytest.raises(SearchIndexError, match="policy-nlp index build"):
        VectorIndex.load(tmp_path / "nowhere")
    VectorIndex.build(IDS, VECTORS, model_id="m").save(tmp_path)
    (tmp_path / "index.faiss").write_bytes(b"not a faiss index")
    with pytest.raises(SearchIndexError, match="damaged; run `policy-nlp index build`"):
        VectorIndex.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{truncated")
    with pytest.raises(SearchIndexError, match="damaged or of another format; run `policy-nlp index build`"):
        VectorIndex.load(tmp_path)


def test_crash_while_saving_keeps_the_previous_index(tmp_path, monkeypatch):
    target = tmp_path / "index"
    VectorIndex.build(IDS[:100], VECTORS[:100], model_id="m", corpus_fingerprint="v1").save(target)

    def crash(index, path):  # write half a file, then die
        with open(path, "wb") as f:
            f.write(b"\0" * 1000)
        raise OSError("disk full")

    monkeypatch.setattr(faiss, "write_index", crash)
    with pytest.raises(OSError, match="disk full"):
        VectorIndex.build(IDS, VECTORS, model_id="m", corpus_fingerprint="v2").save(target)
    monkeypatch.undo()
    old = VectorIndex.load(target)
    assert len(old) == 100 and old.corpus_fingerprint == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["index"]  # no temp dir left behind
    VectorIndex.build(IDS, VECTORS, model_id="m", corpus_fingerprint="v2").save(target)
    assert VectorIndex.load(target).corpus_fingerprint == "v2"
    assert [p.name for p in tmp_path.iterdir()] == ["index"]


_SLOW_SAVE = """
import sys, time
from pathlib import Path
import faiss, numpy as np
from policy_nlp.index import VectorIndex

target, started, model_id, pause = sys.argv[1], Path(sys.argv[2]), sys.argv[3], float(sys.argv[4])
write_index = faiss.write_index

def slow_write(index, path):  # a big index takes a while to write: hold the writer mid-save
    started.touch()
    time.sleep(pause)
    write_index(index, path)

faiss.write_index = slow_write
vectors = np.eye(8, dtype=np.float32)
VectorIndex.build(np.arange(8), vectors, model_id=model_id).save(target)
"""


def test_two_writers_at_once_both_finish_and_the_second_waits(tmp_path, start_writer):
    """Defect 5: a second writer used to sweep away the first one's temp folder and break its save."""
    target = tmp_path / "index"
    first = start_writer(_SLOW_SAVE, tmp_path / "a", target, tmp_path / "a", "first", 2,
                         stderr=subprocess.PIPE, text=True)  # fmt: skip
    second = subprocess.run([sys.executable, "-c", _SLOW_SAVE, str(target), str(tmp_path / "b"), "second", "0"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    first_err = first.communicate(timeout=120)[1]
    assert first.returncode == 0, first_err
    assert second.returncode == 0, second.stderr
    assert f"waiting for another process (pid {first.pid})" in second.stderr
    assert VectorIndex.load(target).model_id == "second"  # it waited, then wrote last
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folder, no lock file


def _damage_vector(folder, vector: np.ndarray) -> None:
    """Set the first float of `vector` to 1e38 inside the saved index file, as a bad disk or a bad tool would."""
    path = folder / "index.faiss"
    data = path.read_bytes()
    at = data.find(vector.astype(np.float32).tobytes())
    assert at > 0 and data.count(vector.astype(np.float32).tobytes()) == 1
    path.write_bytes(data[:at] + np.float32(1e38).tobytes() + data[at + 4:])


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_a_damaged_vector_is_detected_and_never_ranks(tmp_path, kind: str):
    """Defect 10: one float set to 1e38 used to rank first for every query."""
    VectorIndex.build(IDS[:500], VECTORS[:500], model_id="m", kind=kind).save(tmp_path)
    _damage_vector(tmp_path, VECTORS[7])
    index = VectorIndex.load(tmp_path)
    assert index.damaged_ids().tolist() == [IDS[7]]
    with pytest.raises(SearchIndexError, match=rf"1 damaged vectors \(paragraphs {IDS[7]}\); run `policy-nlp index update`"):
        index.search(QUERIES, 10)
    index.remove(index.damaged_ids())
    index.add(IDS[7:8], VECTORS[7:8])  # what `index update` does: embed it again
    assert index.damaged_ids().tolist() == []
    top = index.search(QUERIES[:3], 1)[1]
    np.testing.assert_array_equal(top, exact_top_k(QUERIES[:3], IDS[:500], VECTORS[:500], 1))


def test_a_manifest_that_disagrees_with_the_index_names_what_differs(tmp_path):
    """Defect 10: a wrong dimension in the manifest used to be reported as a paragraph count."""
    VectorIndex.build(IDS, VECTORS, model_id="m").save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    manifest["settings"]["dim"] = 65
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(SearchIndexError, match="dimension 64 in the index, 65 in the manifest; run `policy-nlp index build`"):
        VectorIndex.load(tmp_path)
    manifest["settings"]["dim"], manifest["counts"]["paragraphs"] = 64, N + 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(SearchIndexError, match=f"paragraph count {N} in the index, {N + 1} in the manifest"):
        VectorIndex.load(tmp_path)


def test_a_writer_killed_mid_save_leaves_the_old_index_and_no_stuck_lock(tmp_path, start_writer):
    target = tmp_path / "index"
    VectorIndex.build(IDS[:100], VECTORS[:100], model_id="old").save(target)
    writer = start_writer(_SLOW_SAVE, tmp_path / "a", target, tmp_path / "a", "killed", 60)
    writer.kill()  # SIGKILL while it holds the lock with a half-made temp folder
    writer.wait(timeout=60)
    assert VectorIndex.load(target).model_id == "old"
    VectorIndex.build(IDS[:50], VECTORS[:50], model_id="new").save(target)  # the kernel freed the lock
    assert VectorIndex.load(target).model_id == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "index"]  # the killed writer's temp folder is swept
