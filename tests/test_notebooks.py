"""The research notebooks run top to bottom on the sample corpus, draw Chinese without missing glyphs,
and their committed outputs have the shape of a fresh run."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebooks extra is not installed")
nbclient = pytest.importorskip("nbclient", reason="the notebooks extra is not installed")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_BYTES = 1_000_000
TIMEOUT_S = 600


def _shape(nb) -> list[list[tuple[str, ...]]]:
    """Per code cell, each output's type and MIME types (a stream counts by its name)."""
    shapes = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        shapes.append([(o.output_type, o.get("name", ""), *sorted(o.get("data", {}))) for o in cell.outputs])
    return shapes


def _stderr(nb) -> str:
    return "".join(o.text for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if o.output_type == "stream" and o.name == "stderr")  # fmt: skip


def test_the_four_notebooks_are_there_and_modest():
    assert [p.stem for p in NOTEBOOKS] == ["01_corpus_overview", "02_themes", "03_initiatives_across_bureaus",
                                           "04_evaluation"]  # fmt: skip
    for path in NOTEBOOKS:
        assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes"
        nb = nbformat.read(path, as_version=4)
        images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
        assert images >= 2, f"{path.name}: committed without its figures"
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "policy_nlp." not in code.replace("policy_nlp.plotting", ""), f"{path.name} reaches into private modules"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_matches_its_committed_outputs(path, research_sample):
    committed = nbformat.read(path, as_version=4)
    executed = copy.deepcopy(committed)
    nbclient.NotebookClient(executed, timeout=TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()  # fmt: skip
    assert "missing from" not in _stderr(executed)
    assert "Warning" not in _stderr(executed), _stderr(executed)
    assert _shape(executed) == _shape(committed), "outputs differ in shape from a fresh run: re-run and commit"
