"""The ingest commands end to end: CLI and API over a real store, bad input, re-ingest, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from policy_nlp import Workspace
from policy_nlp.cli import main

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "corpus" / "seeds"


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


def test_main_job_on_the_embedded_corpus(capsys, home):
    code, out, _ = run_cli(capsys, "ingest", str(SEEDS), "--home", str(home), "--json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["doc_id"][:3], r["status"], r["paragraphs"]) for r in rows] == [
        ("000", "added", 15),
        ("001", "added", 21),
        ("003", "added", 35),
        ("004", "added", 12),
    ]
    code, out, _ = run_cli(capsys, "ingest", str(SEEDS), "--home", str(home), "--json")
    assert code == 0 and {r["status"] for r in json.loads(out)} == {"unchanged"}

    code, out, _ = run_cli(capsys, "docs", "--home", str(home), "--json")
    docs = {d["doc_id"][:3]: d for d in json.loads(out)}
    assert docs["001"]["script"] == "traditional" and docs["001"]["years"] == [2022, 2023]
    assert docs["001"]["level"] == "district" and docs["001"]["doc_type"] == "summary_and_plan"

    code, out, _ = run_cli(capsys, "show", docs["001"]["doc_id"], "--home", str(home), "--json")
    shown = json.loads(out)
    assert shown["metadata"]["bureau"] == "区教育局"
    assert "text" not in shown and len(shown["paragraphs"]) == 21
    assert any("双减" in p["text"] and "雙減" in p["original_text"] for p in shown["paragraphs"])

    code, out, _ = run_cli(capsys, "show", docs["004"]["doc_id"], "--home", str(home))
    assert code == 0 and "教育局2024年工作要点" in out and "一、加强党的建设" in out


def test_bad_files_fail_one_line_each_and_the_rest_is_stored(capsys, home, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text((SEEDS / "004_19f5cf095fbe0cc7.txt").read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    (folder / "fake.docx").write_bytes(b"PK\x03\x04 not really a word document")
    (folder / "notes.xlsx").write_bytes(b"whatever")
    (folder / "bad_sidecar.txt").write_text("县教育局2024年工作要点\n一、加强党的建设\n加强党的领导。", encoding="utf-8")
    (folder / "bad_sidecar.txt.meta.json").write_text('{"level": "village"}', encoding="utf-8")

    code, out, err = run_cli(capsys, "ingest", str(folder), "--home", str(home), "--json")
    assert code == 1
    rows = {os.path.basename(r["path"]): r for r in json.loads(out)}
    assert rows["good.txt"]["status"] == "added" and rows["good.txt"]["paragraphs"] == 12
    failed = {name for name, r in rows.items() if r["status"] == "failed"}
    assert failed == {"empty.txt", "image.txt", "fake.docx", "notes.xlsx", "bad_sidecar.txt"}
    for name in failed:
        assert rows[name]["error"] and "\n" not in rows[name]["error"]
    assert "village" in rows["bad_sidecar.txt"]["error"]
    assert "Traceback" not in err
    with Workspace(home) as ws:
        assert ws.store.counts() == (1, 12)


def test_bad_override_stops_before_any_file(capsys, home):
    code, _, err = run_cli(capsys, "ingest", str(SEEDS), "--home", str(home), "--level", "village")
    assert code == 2 and "village" in err and "Traceback" not in err
    with Workspace(home) as ws:
        assert ws.store.counts() == (0, 0)


def test_unknown_document_is_a_clear_error(capsys, home):
    code, _, err = run_cli(capsys, "show", "nope", "--home", str(home))
    assert code == 1 and "no document 'nope'" in err and "Traceback" not in err


def test_changed_file_replaces_its_old_version(home, tmp_path):
    report = tmp_path / "report.txt"
    text = (SEEDS / "004_19f5cf095fbe0cc7.txt").read_text(encoding="utf-8")
    report.write_text(text, encoding="utf-8")
    with Workspace(home) as ws:
        assert ws.ingest([report])[0].status == "added"
        report.write_text(text.replace("强师工程", "强校工程"), encoding="utf-8")
        outcome = ws.ingest([report])[0]
        assert (outcome.status, outcome.doc_id) == ("replaced", "report")
        assert ws.store.counts() == (1, 12)
        assert "强校工程" in ws.document("report").text and "强师工程" not in ws.document("report").text


def test_thousands_of_files(home, tmp_path):
    folder = tmp_path / "many"
    for i in range(1500):
        sub = folder / f"bureau{i // 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"r{i:04d}.txt").write_text(
            f"第{i}县教育局2024年工作要点\n一、加强师资队伍建设\n(一)推进县管校聘改革。全县交流轮岗教师{i}名。",
            encoding="utf-8",
        )
    with Workspace(home) as ws:
        outcomes = ws.ingest([folder], progress=False)
        assert len(outcomes) == 1500 and {o.status for o in outcomes} == {"added"}
        assert ws.store.counts() == (1500, 1500 * 2)


def test_export_for_notebooks(capsys, home, tmp_path):
    run_cli(capsys, "ingest", str(SEEDS), "--home", str(home))
    for name in ("paras.parquet", "paras.jsonl", "paras.csv"):
        code, _, _ = run_cli(capsys, "export", str(tmp_path / name), "--home", str(home))
        assert code == 0
    frame = pd.read_parquet(tmp_path / "paras.parquet")
    assert len(frame) == 83 and {"para_id", "doc_id", "section", "bureau", "text"} <= set(frame.columns)
    lines = (tmp_path / "paras.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 83 and "区教育局" in lines[15]
    code, _, err = run_cli(capsys, "export", str(tmp_path / "paras.xlsx"), "--home", str(home))
    assert code == 2 and ".parquet" in err


def test_a_killed_ingest_loses_nothing_already_stored(home, tmp_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    text = (SEEDS / "003_fc4fde995a027cff.txt").read_text(encoding="utf-8")
    for i in range(400):
        (folder / f"r{i:03d}.txt").write_text(text.replace("县教育局", f"第{i}县教育局"), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "policy_nlp.cli", "ingest", str(folder), "--home", str(home)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    store_file = home / "corpus.sqlite"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until some documents are stored, then kill without warning
        if store_file.exists():
            with Workspace(home) as ws:
                if ws.store.counts()[0] >= 5:
                    break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Workspace(home) as ws:
        docs = ws.documents()
        assert 5 <= len(docs) < 400, "the kill should land mid-run"
        assert {d["paragraphs"] for d in docs} == {35}, "every stored document is complete"
        outcomes = ws.ingest([folder], progress=False)
        assert sum(o.status == "unchanged" for o in outcomes) == len(docs)
        assert ws.store.counts() == (400, 400 * 35)
