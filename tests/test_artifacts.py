"""The one save format and atomic writer: manifest round trip, legacy manifests, crash safety, the writer lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from policy_nlp import __version__
from policy_nlp.artifacts import FORMAT_VERSION, Manifest, locked, read_manifest, write_file, write_folder
from policy_nlp.errors import BusyError

TEXT = "全面落实“双减”政策，规范校外培训机构。"


def test_folder_round_trip_writes_manifest_beside_arrays(tmp_path):
    manifest = Manifest.new("dense-index", model_id="e5-small", counts={"paragraphs": 3},
                            settings={"kind": "flat"}, libraries=(np,))  # fmt: skip
    with write_folder(tmp_path / "index", manifest) as tmp:
        np.save(tmp / "ids.npy", np.array([4, 5, 6]))
        (tmp / "sub").mkdir()
        (tmp / "sub" / "text.txt").write_text(TEXT, encoding="utf-8")
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == ["ids.npy", "manifest.json", "sub"]
    data = json.loads((tmp_path / "index" / "manifest.json").read_text(encoding="utf-8"))
    assert data["format_version"] == FORMAT_VERSION and data["artifact"] == "dense-index"
    assert data["versions"]["policy_nlp"] == __version__ and data["versions"]["numpy"] == np.__version__
    assert data["created_utc"].endswith("+00:00")
    assert read_manifest(tmp_path / "index", "dense-index") == manifest
    assert (tmp_path / "index" / "sub" / "text.txt").read_text(encoding="utf-8") == TEXT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]  # no temp folder, no lock file


def test_manifest_of_another_artefact_or_format_is_refused(tmp_path):
    with write_folder(tmp_path / "a", Manifest.new("bm25-index")):
        pass
    with pytest.raises(ValueError, match="holds a bm25-index artefact of format 2, not a dense-index"):
        read_manifest(tmp_path / "a", "dense-index")
    with pytest.raises(FileNotFoundError):
        read_manifest(tmp_path / "nowhere", "dense-index")
    (tmp_path / "a" / "manifest.json").write_text('{"artifact": "bm25-index", "format_version": 2, "extra": 1}')
    with pytest.raises(ValueError, match="damaged"):
        read_manifest(tmp_path / "a", "bm25-index")


def test_a_legacy_manifest_is_read_by_its_converter(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"format_version": 1, "count": 7}), encoding="utf-8")
    legacy = lambda data: Manifest("bm25-index", counts={"paragraphs": data["count"]}, format_version=1)  # noqa: E731
    manifest = read_manifest(tmp_path, "bm25-index", name="config.json", legacy=legacy)
    assert manifest.counts == {"paragraphs": 7} and manifest.format_version == 1
    with pytest.raises(ValueError, match="damaged"):
        read_manifest(tmp_path, "bm25-index", name="config.json", legacy=lambda data: Manifest(**data))


def test_a_failed_write_keeps_the_previous_version(tmp_path):
    with write_folder(tmp_path / "m", Manifest.new("theme-model", counts={"themes": 1})) as tmp:
        (tmp / "weights.npy").write_bytes(b"v1")
    with pytest.raises(OSError, match="disk full"), write_folder(tmp_path / "m", Manifest.new("theme-model")) as tmp:
        (tmp / "weights.npy").write_bytes(b"v2 half")
        raise OSError(28, "disk full")
    assert (tmp_path / "m" / "weights.npy").read_bytes() == b"v1"
    assert read_manifest(tmp_path / "m", "theme-model").counts == {"themes": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_a_saved_folder_is_readable_like_any_folder_the_user_makes(tmp_path):
    umask = os.umask(0o022)
    try:
        with write_folder(tmp_path / "index", Manifest.new("dense-index")) as tmp:
            (tmp / "ids.npy").write_bytes(b"")
        (tmp_path / "plain").mkdir()
    finally:
        os.umask(umask)
    assert (tmp_path / "index").stat().st_mode == (tmp_path / "plain").stat().st_mode
    assert (tmp_path / "index" / "manifest.json").stat().st_mode & 0o044 == 0o044


def test_write_file_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "out" / "paragraphs.jsonl"
    with write_file(target) as tmp:
        tmp.write_text(TEXT, encoding="utf-8")
    assert target.read_text(encoding="utf-8") == TEXT
    with pytest.raises(ValueError), write_file(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise ValueError("encoder crashed")
    assert target.read_text(encoding="utf-8") == TEXT
    assert [p.name for p in target.parent.iterdir()] == ["paragraphs.jsonl"]


_HOLD = """
import sys, time
from pathlib import Path
from policy_nlp.artifacts import locked

with locked(Path(sys.argv[1])):
    Path(sys.argv[2]).touch()
    time.sleep(float(sys.argv[3]))
"""


def test_a_second_writer_waits_then_gives_up_with_a_clear_message(tmp_path):
    target, held = tmp_path / "index", tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(target), str(held), "3"])
    try:
        deadline = time.monotonic() + 60
        while not held.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(BusyError, match=rf"another process \(pid {holder.pid}\) is still writing .*index "
                                            r"after 0 s; wait for it to finish"):  # fmt: skip
            with locked(target, timeout=0.3):
                pass
        with locked(target, timeout=60):  # waits for the holder, then gets the lock
            assert holder.wait(timeout=60) == 0
    finally:
        holder.wait(timeout=60)
    with locked(target), locked(target):  # re-entrant within a thread
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["held"]
