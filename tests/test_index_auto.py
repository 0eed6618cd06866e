"""`index update` keeps the dense index's manifest true as a home grows and shrinks: an index built as "auto" is
rebuilt as the kind "auto" chooses once the home crosses the size threshold; an explicit preset stays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy_nlp import Workspace
from policy_nlp import index as index_module

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "corpus" / "seeds"
SMALL = [SEEDS / "000_9d2ef242f0d90aaf.txt", SEEDS / "004_19f5cf095fbe0cc7.txt"]  # 15 + 12 paragraphs
GROWTH = SEEDS / "003_fc4fde995a027cff.txt"  # 35 paragraphs


@pytest.fixture
def small_threshold(monkeypatch):
    """"auto" keeps flat search up to 30 paragraphs, and IVF trains on a few dozen (at most 1 list per 39)."""
    monkeypatch.setattr(index_module, "AUTO_FLAT_MAX", 30)
    monkeypatch.setattr(index_module, "IVF_MIN_TRAIN", 20)


def _settings(home: Path) -> dict:
    return json.loads((home / "index" / "dense" / "manifest.json").read_text(encoding="utf-8"))["settings"]


@pytest.mark.slow
def test_an_auto_index_is_rebuilt_when_the_home_crosses_the_threshold(home_with_model, tmp_path, small_threshold, cli):
    home = home_with_model(tmp_path / "home")
    with Workspace(home) as ws:
        ws.ingest(SMALL, progress=False)
        assert ws.build_index(progress=False).kind == "flat"
        ws.ingest([GROWTH], progress=False)
    code, out, _ = cli("--home", str(home), "index", "update")
    assert code == 0 and "rebuilt as ivf-fp16 (it was flat)" in " ".join(out.split())
    settings = _settings(home)
    assert (settings["preset"], settings["kind"], settings["factory"]) == ("auto", "ivf-fp16", "IVF1,SQfp16")
    assert settings["search"] == {"nprobe": index_module.IVF_NPROBE}
    with Workspace(home) as ws:
        assert ws.check_index().consistent and ws.engine.dense.kind == "ivf-fp16"
        assert ws.search("区管校聘", k=1, mode="dense")[0].doc_id.startswith("003")
        ws.remove(GROWTH.stem)
        report = ws.update_index(progress=False)
        assert (report.kind, report.rebuilt_from, report.removed, report.indexed) == ("flat", "ivf-fp16", 35, 27)
        assert _settings(home)["kind"] == "flat" and ws.check_index().consistent


@pytest.mark.slow
def test_an_explicit_preset_is_kept_however_the_home_grows(home_with_model, tmp_path, small_threshold):
    with Workspace(home_with_model(tmp_path / "home")) as ws:
        ws.ingest(SMALL, progress=False)
        ws.build_index(kind="flat", progress=False)
        ws.ingest([GROWTH], progress=False)
        report = ws.update_index(progress=False)
        assert (report.kind, report.rebuilt_from, report.added) == ("flat", "", 35)
        assert _settings(ws.home)["preset"] == "flat"
