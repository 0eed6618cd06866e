"""The Milvus backend against a real milvus-lite server on a loopback port (no mock): the seed reports built into
a collection search like the local indexes, filters keep top-k full, removal and theme changes reach Milvus,
`index check` agrees with the store, and failures are one line naming the server."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus", reason="the milvus extra is not installed (pip install -e '.[milvus]')")
pytest.importorskip("milvus_lite", reason="the milvus extra is not installed (pip install -e '.[milvus]')")

from policy_nlp import Workspace  # noqa: E402
from policy_nlp.corpus import STORE_FILENAME  # noqa: E402
from policy_nlp.errors import SearchIndexError  # noqa: E402
from policy_nlp.search.engine import CANDIDATES  # noqa: E402
from policy_nlp.search.evaluate import DEFAULT_QUERIES  # noqa: E402
from policy_nlp.search.filters import Filters  # noqa: E402
from policy_nlp.search.fusion import FUSION  # noqa: E402
from policy_nlp.search.backends import milvus  # noqa: E402
from policy_nlp.search.backends.milvus_lite import free_port, lite_server  # noqa: E402

pytestmark = pytest.mark.slow

FILTERS = [
    Filters(bureau=("区教育局",)),
    Filters(exclude_bureau=("区教育局",)),
    Filters(level=("county",)),
    Filters(level=("district", "county"), year_from=2024),
    Filters(year_from=2023, year_to=2023),
    Filters(region=("吉林",)),  # the seeds have no region: nothing matches, in either backend
    Filters(doc_type=("key_points",)),
    Filters(theme=("双减",)),
    Filters(theme=("teachers", "safety"), level=("county",)),
]


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory) -> str:
    """A milvus-lite server for the session, stopped at its end."""
    with lite_server(tmp_path_factory.mktemp("milvus_data")) as server:
        yield server.uri


def _copy_home(source: Path, target: Path, home_with_model) -> Path:
    """A new home holding a copy of `source`'s store and local indexes (models and cache shared)."""
    home = home_with_model(target)
    with sqlite3.connect(source / STORE_FILENAME) as src, sqlite3.connect(home / STORE_FILENAME) as dst:
        src.backup(dst)
    shutil.copytree(source / "index", home / "index")
    return home


@pytest.fixture(scope="module")
def milvus_home(web_home, milvus_uri, tmp_path_factory, home_with_model) -> Path:
    """The seed reports (tagged) of `web_home`, indexed in Milvus through the CLI."""
    from policy_nlp.cli import main

    home = _copy_home(web_home, tmp_path_factory.mktemp("milvus") / "home", home_with_model)
    assert main(["--home", str(home), "index", "build", "--backend", "milvus", "--uri", milvus_uri,
                 "--collection", "seeds"]) == 0  # fmt: skip
    return home


@pytest.fixture(scope="module")
def pair(web_home, milvus_home):
    """(local workspace, Milvus workspace) over the same store."""
    with Workspace(web_home) as local, Workspace(milvus_home) as remote:
        yield local, remote


def _judged_queries() -> list[str]:
    with open(DEFAULT_QUERIES, encoding="utf-8") as f:
        return [json.loads(line)["query"] for line in f if line.strip()]


def test_the_home_records_milvus_and_later_commands_use_it(pair, milvus_uri):
    local, remote = pair
    assert isinstance(remote.engine.indexes, milvus.MilvusIndexes)
    manifest = milvus.read(remote.home)
    assert manifest.settings["uri"] == milvus_uri and manifest.settings["collection"] == "seeds"
    assert manifest.model_id == local.engine.indexes.model_id
    assert remote.stats()["indexed"] == local.stats()["indexed"] == local.stats()["paragraphs"]


@pytest.fixture(scope="module")
def rankings(pair) -> list[dict[str, dict[str, list[tuple[int, float]]]]]:
    """For the local and the Milvus workspace: judged query -> signal -> its ranking, as deep as fusion reads it."""
    queries = _judged_queries()
    return [{q: {name: ws.engine.signal(q, name, depth=CANDIDATES) for name in FUSION.signals} for q in queries}
            for ws in pair]  # fmt: skip


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25", "chars"])
def test_judged_queries_rank_as_with_the_local_backend(rankings, mode):
    """Same analysers, exact vectors, the same BM25 formula: the top 10 agree but for ties."""

    def top(query: str, runs: dict[str, list[tuple[int, float]]]) -> list[int]:
        return [i for i, _ in (FUSION.fuse(query, runs) if mode == "hybrid" else runs[mode])[:10]]

    local, remote = rankings
    overlaps = []
    for query in local:
        mine, theirs = top(query, local[query]), top(query, remote[query])
        assert len(mine) == len(theirs), query
        overlaps.append(len(set(mine) & set(theirs)) / max(len(mine), 1))
    assert np.mean(overlaps) >= 0.95, (mode, np.mean(overlaps))
    assert min(overlaps) >= 0.7, (mode, min(overlaps))


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "-".join(k for k, v in vars(f).items() if v))
def test_filters_run_in_milvus_and_keep_top_k_full(pair, filters):
    local, remote = pair
    matching = set(local.store.paragraph_ids(*filters.to_sql()))
    for query in ("课后服务", "教师队伍建设与县管校聘改革", "校园安全隐患排查"):
        for mode in ("hybrid", "dense", "bm25"):
            theirs = [i for i, _ in remote.engine.rank(query, mode=mode, filters=filters, depth=10)]
            mine = [i for i, _ in local.engine.rank(query, mode=mode, filters=filters, depth=10)]
            assert set(theirs) <= matching
            assert len(theirs) == len(mine)
            if mode == "dense":
                assert len(theirs) == min(10, len(matching))  # every paragraph has a vector: top-k is full
            assert len(set(mine) & set(theirs)) >= 0.7 * len(mine)


def test_removal_and_theme_changes_reach_milvus_and_check_agrees(web_home, milvus_uri, tmp_path, home_with_model):
    home = _copy_home(web_home, tmp_path / "home", home_with_model)
    with Workspace(home) as ws:
        ws.build_index(backend="milvus", uri=milvus_uri, collection="removal", progress=False)
        doc_id = ws.store.list_documents()[0]["doc_id"]
        gone = [p.para_id for p in ws.paragraphs(doc_id)]
        ws.remove(doc_id)
        before = ws.check_index()
        assert (before.stale, before.missing, before.consistent) == (len(gone), 0, False)
        hits = ws.search("教育", k=50, mode="bm25", group=False)  # behind: removed paragraphs are left out
        assert hits and not {h.para_id for h in hits} & set(gone)

        kept = ws.store.paragraph_ids()[0]
        model_id = "keyword-rule"
        ws.store.set_themes(model_id, {kept: {"safety": 1.0}}, {kept: ["safety"]})
        behind = ws.check_index()
        assert behind.themes_behind == 1 and not behind.consistent

        updated = ws.update_index(progress=False)
        assert (updated.removed, updated.added, updated.retagged) == (len(gone), 0, 1)
        after = ws.check_index()
        assert after.consistent and after.indexed == after.paragraphs == len(ws.store.paragraph_ids())
        held = ws.engine.indexes
        assert not set(held.ids().tolist()) & set(gone)
        assert held.themes()[kept] == ["safety"]


def test_server_down_is_one_line_naming_the_server(milvus_home, tmp_path, home_with_model, cli):
    home = home_with_model(tmp_path / "home")
    shutil.copy(milvus_home / STORE_FILENAME, home / STORE_FILENAME)
    shutil.copytree(milvus_home / "index", home / "index")
    dead = f"http://127.0.0.1:{free_port()}"
    record = milvus.manifest_dir(home) / "manifest.json"
    manifest = json.loads(record.read_text(encoding="utf-8"))
    manifest["settings"]["uri"] = dead
    record.write_text(json.dumps(manifest), encoding="utf-8")
    for args in (["index", "check"], ["search", "课后服务"], ["index", "update"]):
        code, out, err = cli("--home", str(home), *args)
        lines = [line for line in err.splitlines() if line.strip() and not line.startswith("loading")]
        assert code != 0 and len(lines) == 1, err
        assert dead in lines[0] and "does not answer" in lines[0] and "Traceback" not in err


def test_a_collection_of_another_model_or_dimension_is_refused(milvus_home, milvus_uri):
    manifest = milvus.read(milvus_home)
    client = milvus.connect(milvus_uri)
    client.alter_collection_properties("seeds", properties={milvus.MODEL_PROPERTY: "another/model"})
    try:
        with pytest.raises(SearchIndexError, match="another/model .384-d.") as error:
            milvus.MilvusIndexes.open(milvus_home)
        assert "policy-nlp index build --backend milvus" in str(error.value)
    finally:
        client.alter_collection_properties("seeds", properties={milvus.MODEL_PROPERTY: manifest.model_id})
    milvus.create(milvus_uri, "small", model_id=manifest.model_id, dim=8, kind="flat")
    record = milvus.manifest_dir(milvus_home) / "manifest.json"
    saved = record.read_text(encoding="utf-8")
    try:
        data = json.loads(saved)
        data["settings"]["collection"] = "small"
        record.write_text(json.dumps(data), encoding="utf-8")
        with pytest.raises(SearchIndexError, match=r"\(8-d\) but this home's index uses .* \(384-d\)"):
            milvus.MilvusIndexes.open(milvus_home)
    finally:
        record.write_text(saved, encoding="utf-8")


def test_milvus_build_needs_a_uri(milvus_home, cli):
    code, _, err = cli("--home", str(milvus_home), "index", "build", "--backend", "milvus")
    assert code != 0 and "--uri" in err and "Traceback" not in err
