"""What a hostile user finds (issue 8): unreadable input, a full disk, concurrent ingests, bad option values,
unknown themes, non-UTF-8 input, a read-only or wrong home. Each gives the right result or one line, never a
traceback, and nothing half-written."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from policy_nlp import Workspace
from policy_nlp.corpus import CorpusStore
from policy_nlp.errors import ConfigError, StoreError
from policy_nlp.search.filters import Filters
from policy_nlp.tagging import read_jsonl_inputs

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "corpus" / "seeds"


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def reports(tmp_path, seed_path) -> Path:
    folder = tmp_path / "reports"
    folder.mkdir()
    for prefix in ("001", "004"):
        shutil.copy(seed_path(prefix), folder)
    return folder


# --- defect 3: unreadable input, a full disk, two ingests at once ----------------------------------


def test_an_unreadable_file_is_one_failed_row_and_the_others_are_stored(cli, tmp_path, reports, monkeypatch):
    locked = next(reports.glob("001_*"))
    read_bytes = pathlib.Path.read_bytes

    def refuse(self: Path) -> bytes:  # as a file without read permission does (root reads any file)
        if self.name == locked.name:
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", refuse)
    code, out, _ = cli("ingest", str(reports), "--home", str(tmp_path / "home"), "--json")
    rows = {Path(r["path"]).name[:3]: r for r in json.loads(out)}
    assert code == 1
    assert rows["001"]["status"] == "failed" and "Permission denied" in rows["001"]["error"]
    assert rows["004"]["status"] == "added" and rows["004"]["paragraphs"] == 12


def test_an_unreadable_folder_is_one_failed_row_and_the_others_are_stored(cli, tmp_path, reports, monkeypatch):
    inner = reports / "locked"
    inner.mkdir()
    shutil.move(str(next(reports.glob("001_*"))), inner)
    scandir = os.scandir

    def refuse(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr("policy_nlp.ingest.paths.os.scandir", refuse)
    code, out, _ = cli("ingest", str(reports), "--home", str(tmp_path / "home"), "--json")
    rows = json.loads(out)
    assert code == 1 and [(Path(r["path"]).name[:6], r["status"]) for r in rows] == [
        ("004_19", "added"),
        ("locked", "failed"),
    ]
    assert "cannot open this folder" in rows[1]["error"]


def test_a_full_disk_is_one_line_and_nothing_half_written(cli, tmp_path, seed_path, monkeypatch):
    home = tmp_path / "home"
    assert cli("ingest", str(seed_path("004")), "--home", str(home))[0] == 0
    in_home = CorpusStore.in_home.__func__

    def nearly_full(cls, home: Path, **options: bool) -> CorpusStore:
        store = in_home(cls, home, **options)
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own "database or disk is full"
        return store

    monkeypatch.setattr(CorpusStore, "in_home", classmethod(nearly_full))
    code, _, err = cli("ingest", str(seed_path("003")), "--home", str(home))
    assert code == 1 and "full" in _one_line_error(err)
    monkeypatch.undo()
    with Workspace(home) as ws:
        assert ws.store.counts() == (1, 12)  # the 35 paragraphs of 003: none of them, not half of them


def test_two_ingests_of_the_same_file_at_once_both_succeed(tmp_path, seed_path, monkeypatch):
    """Both check for the document before either stores it: the worst interleaving, forced with a barrier."""
    from policy_nlp.ingest import ingest_file

    home = tmp_path / "home"
    doc = ingest_file(seed_path("004"))
    Workspace(home).close()
    both_checked = threading.Barrier(2)
    free_doc_id = CorpusStore._free_doc_id

    def after_the_check(self, wanted: str, content_hash: str) -> str:
        try:
            both_checked.wait(timeout=2)  # with the store's write lock the other writer cannot get here: go on
        except threading.BrokenBarrierError:
            pass
        return free_doc_id(self, wanted, content_hash)

    monkeypatch.setattr(CorpusStore, "_free_doc_id", after_the_check)
    results, errors = [], []

    def ingest() -> None:
        try:
            with CorpusStore.in_home(home) as store:
                results.append(store.add_document(doc).status)
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=ingest) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(results) == ["added", "unchanged"]
    with CorpusStore.in_home(home) as store:
        assert store.counts() == (1, 12)


def test_a_full_disk_under_a_cache_database_is_one_line_too(cli, tmp_path, monkeypatch):
    def full(self: Workspace) -> list:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Workspace, "documents", full)
    code, _, err = cli("docs", "--home", str(tmp_path / "home"))
    assert code == 1 and "database or disk is full: free some space" in _one_line_error(err)


# --- defect 6: option values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "option, reason",
    [
        (("--years", "2030-2020"), "write the earlier year first"),
        (("--years", "1-300000000"), "outside 1949-2100"),
        (("--years", "99999999999999999999"), "outside 1949-2100"),
        (("--years", "2023,1800"), "outside 1949-2100"),
        (("-k", "-1"), "between 1 and 1000"),
        (("-k", "0"), "between 1 and 1000"),
        (("-k", "100000000"), "between 1 and 1000"),
    ],
)
def test_bad_years_and_k_are_exit_code_2_with_one_line(cli, tmp_path, option, reason):
    code, out, err = cli("search", "课后服务", *option, "--home", str(tmp_path / "home"))
    assert code == 2 and out == ""
    line = _one_line_error(err)
    assert reason in line and option[0] in line


def test_the_api_checks_years_and_k_too(tmp_path):
    with pytest.raises(ConfigError, match="outside 1949–2100"):
        Filters(year_from=1, year_to=300_000_000)
    with Workspace(tmp_path / "home") as ws, pytest.raises(ConfigError, match="between 1 and 1000 results, not 0"):
        ws.search("课后服务", k=0)


# --- defect 7: theme names in Filters ------------------------------------------------------------


def test_filters_accept_chinese_theme_names_and_reject_unknown_themes():
    assert Filters(theme=("双减", "safety")).theme == ("double_reduction", "safety")
    where, params = Filters(theme=("党建",)).to_sql()
    assert "paragraph_themes" in where and params == ["party_building"]
    with pytest.raises(ConfigError, match=r"unknown theme '减负'.*double_reduction \(双减\)"):
        Filters(theme=("减负",))


# --- defect 8: classify input that is not UTF-8 ---------------------------------------------------


def test_a_line_that_is_not_utf8_is_an_error_not_mojibake(tmp_path):
    source = tmp_path / "paras.jsonl"
    good = json.dumps({"id": 1, "text": "全面落实“双减”政策"}, ensure_ascii=False)
    gbk = json.dumps({"id": 2, "text": "加强校园安全管理"}, ensure_ascii=False)
    source.write_bytes(b"\xef\xbb\xbf" + good.encode("utf-8") + b"\n" + gbk.encode("gbk") + b"\n")
    rows = list(read_jsonl_inputs(source))
    assert rows[0] == (1, 1, "全面落实“双减”政策", "")
    assert rows[1][:3] == (2, None, None) and "not UTF-8" in rows[1][3] and "save the file as UTF-8" in rows[1][3]


@pytest.mark.slow
def test_classify_into_a_missing_folder_with_a_gbk_line(cli, tmp_path, home_with_model):
    home = home_with_model(tmp_path / "home")
    source = tmp_path / "paras.jsonl"
    good = json.dumps({"id": "a", "text": "二是筑牢校园安全屏障。开展联合执法检查18次,整改安全隐患67处。"}, ensure_ascii=False)
    gbk = json.dumps({"id": "b", "text": "深化校外培训整治,学科类培训机构压减率保持100%。"}, ensure_ascii=False)
    source.write_bytes(good.encode("utf-8") + b"\n" + gbk.encode("gb18030") + b"\n")
    target = tmp_path / "new" / "folder" / "preds.jsonl"
    code, _, err = cli("classify", "--input", str(source), "--output", str(target), "--home", str(home))
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert code == 1 and rows[0]["id"] == "a" and "safety" in rows[0]["themes"]
    assert rows[1]["line"] == 2 and "not UTF-8" in rows[1]["error"] and "themes" not in rows[1]
    assert f"{source}:2: not UTF-8" in err


# --- defect 9: the home ------------------------------------------------------------------------------


def test_a_home_that_is_a_file_is_one_line(cli, tmp_path):
    home = tmp_path / "home.txt"
    home.write_text("not a folder", encoding="utf-8")
    code, _, err = cli("docs", "--home", str(home))
    assert code == 2 and "is a file, not a folder" in _one_line_error(err)


@contextmanager
def read_only(home: Path) -> Iterator[None]:
    """Make ``home`` and everything in it read-only for real, root included (root ignores permissions);
    symbolic links (to the session's shared model) are left alone."""
    paths = [str(home)] + [os.path.join(top, name) for top, dirs, files in os.walk(home) for name in dirs + files]
    paths = [p for p in paths if not os.path.islink(p)]
    if os.geteuid() != 0:
        lock, unlock = ["chmod", "a-w"], ["chmod", "u+w"]
    elif shutil.which("chattr") and subprocess.run(["chattr", "+i", *paths], capture_output=True).returncode == 0:
        lock, unlock = [], ["chattr", "-i"]
    else:
        pytest.skip("running as root where chattr +i is not available: cannot make a folder read-only")
    if lock:
        subprocess.run([*lock, *paths], check=True)
    try:
        yield
    finally:
        subprocess.run([*unlock, *paths], check=True)


def test_a_read_only_home_lists_and_shows_and_says_what_to_do_on_ingest(cli, tmp_path, seed_path):
    home = tmp_path / "home"
    with Workspace(home) as ws:
        doc_id = ws.ingest([seed_path("004")])[0].doc_id
    with read_only(home):
        code, out, err = cli("docs", "--home", str(home), "--json")
        assert code == 0 and [d["doc_id"] for d in json.loads(out)] == [doc_id], err
        code, out, _ = cli("show", doc_id, "--home", str(home), "--json")
        assert code == 0 and len(json.loads(out)["paragraphs"]) == 12
        code, _, err = cli("ingest", str(seed_path("001")), "--home", str(home))
        line = _one_line_error(err)
        assert code == 1 and "read-only" in line and "use --home with a folder you can write to" in line, line
        assert sorted(p.name for p in home.iterdir()) == ["corpus.sqlite"]


@pytest.mark.slow
def test_a_read_only_home_still_searches(cli, tmp_path, seed_path, home_with_model):
    home = home_with_model(tmp_path / "home")
    assert cli("run", str(seed_path("004")), "--home", str(home))[0] == 0
    with read_only(home):
        code, out, err = cli("search", "安全", "--home", str(home), "--json", "-k", "3")
        assert code == 0 and len(json.loads(out)) == 3, err
        code, out, err = cli("index", "check", "--home", str(home), "--json")
        assert code == 0 and json.loads(out)["consistent"], err


def test_a_store_that_does_not_exist_reads_as_empty_without_creating_anything(tmp_path):
    with Workspace(tmp_path / "never-created", read_only=True) as ws:
        assert ws.documents() == [] and ws.store.counts() == (0, 0)
    assert not (tmp_path / "never-created").exists()


# --- defect 11: --home and --json before the sub-command ------------------------------------------


def test_home_and_json_go_before_or_after_the_command(cli, tmp_path, seed_path):
    home = str(tmp_path / "home")
    assert cli("--home", home, "ingest", str(seed_path("004")))[0] == 0
    before = cli("--home", home, "--json", "docs")
    after = cli("docs", "--home", home, "--json")
    assert before[0] == after[0] == 0 and before[1] == after[1]
    assert [d["title"] for d in json.loads(before[1])] == ["教育局2024年工作要点"]
    assert cli("--json", "docs", "--home", home)[1] == before[1]


def test_building_the_bm25_index_logs_no_debug_lines(caplog):
    """``run`` printed bm25s's DEBUG lines once anything had configured the root logger."""
    from policy_nlp.search.bm25 import BM25Index

    with caplog.at_level(logging.NOTSET):  # the root logger lets everything through, as after basicConfig
        BM25Index.build(np.array([1, 2]), ["全面落实“双减”政策,规范校外培训", "加强校园安全管理"])
    assert not [r for r in caplog.records if r.name.startswith("bm25s") and r.levelno < logging.WARNING]


def test_only_the_in_sample_check_opens_the_store_for_writing_among_evaluations():
    from policy_nlp.cli import _read_only, build_parser

    parse = build_parser().parse_args
    assert _read_only(parse(["evaluate", "classify"]))
    assert _read_only(parse(["evaluate", "search"]))
    assert not _read_only(parse(["evaluate", "classify", "--in-sample"]))  # it tags untagged paragraphs first
