"""The shipped files (theme model, taxonomy, labels, judged queries) are package data: found the same way
in a checkout, an editable install and a wheel, and inside the wheel a clone builds."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from policy_nlp.api import DEFAULT_SEARCH_EVAL, DEFAULT_THEME_MODEL
from policy_nlp.classify.training import LABEL_FILES, LABELS_DIR
from policy_nlp.resources import shipped

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "policy_nlp"


def _shipped_files() -> dict[str, bytes]:
    """Every non-Python file under policy_nlp/, by its path in a wheel."""
    return {
        path.relative_to(REPO).as_posix(): path.read_bytes()
        for path in sorted(PACKAGE.rglob("*"))
        if path.is_file() and path.suffix not in (".py", ".pyc")
    }


def test_the_code_finds_its_files_inside_the_package():
    assert DEFAULT_THEME_MODEL == shipped("models", "themes-e5") and (DEFAULT_THEME_MODEL / "config.json").is_file()
    assert DEFAULT_SEARCH_EVAL.is_file() and DEFAULT_SEARCH_EVAL.is_relative_to(PACKAGE)
    assert all((LABELS_DIR / name).is_file() for name in LABEL_FILES) and LABELS_DIR.is_relative_to(PACKAGE)


def test_the_wheel_of_a_clean_clone_holds_every_shipped_file(tmp_path):
    clone = tmp_path / "clone"
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    tracked = {name for name in listing.decode().split("\0") if name and (REPO / name).is_file()}
    for name in tracked:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, clone / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(clone)],
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("policy_nlp-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        inside = {name: archive.read(name) for name in archive.namelist() if name.startswith("policy_nlp/")}
    expected = {name: data for name, data in _shipped_files().items() if name in tracked}
    assert {"policy_nlp/models/themes-e5/adapter.safetensors", "policy_nlp/data/eval/search_queries.jsonl",
            "policy_nlp/data/labels/seeds.jsonl", "policy_nlp/data/themes.yaml"} <= set(expected)  # fmt: skip
    assert {name: inside.get(name) for name in expected} == expected
