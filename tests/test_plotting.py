"""Chinese in figures: the packaged CJK font draws every glyph, and a missing glyph is an error."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the notebooks extra is not installed")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from policy_nlp.plotting import cjk_font_path, use_cjk_font  # noqa: E402


@pytest.fixture
def cjk():
    """use_cjk_font() inside a context that restores matplotlib's settings and the warning filters."""
    with warnings.catch_warnings(), matplotlib.rc_context():
        yield use_cjk_font()


def _render(text: str) -> np.ndarray:
    fig = plt.figure(figsize=(1.2, 0.6), dpi=60)
    fig.text(0.05, 0.2, text, fontsize=24)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., 0].copy()
    plt.close(fig)
    return pixels


def test_the_font_is_the_packaged_noto_sans_cjk_with_its_simplified_chinese_face(cjk):
    assert cjk_font_path().name == "NotoSansCJK-Regular.ttc" and cjk_font_path().is_file()
    assert cjk == "Noto Sans CJK SC"


def test_chinese_draws_distinct_glyphs_without_warnings(cjk):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        party, safety = _render("党建"), _render("安全")
    assert (party < 128).sum() > 50  # ink on the canvas
    assert (party != safety).sum() > 50  # two words, two shapes: not the same empty boxes


def test_a_glyph_no_font_has_is_an_error_not_a_box(cjk):
    with pytest.raises(UserWarning, match="missing from"):
        _render("\ue000")  # a private-use code point: in no font
