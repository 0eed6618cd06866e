"""Chinese text in matplotlib figures: one CJK font, registered by file path.

The font comes from the ``noto-cjk-sans-otc`` package (Noto Sans CJK, SIL Open Font Licence; installed
by the ``notebooks`` extra), else from a system CJK font when one is installed. A glyph that is still
missing raises instead of drawing an empty box.
"""

from __future__ import annotations

import warnings
from importlib.util import find_spec
from pathlib import Path

from .errors import ConfigError

FONT_PACKAGE = "noto_cjk_sans_otc"
FONT_FILE = "NotoSansCJK-Regular.ttc"
#: Where Debian/Ubuntu (fonts-noto-cjk, fonts-wqy-*), Fedora and macOS keep a CJK font.
SYSTEM_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)
#: A collection (.ttc) holds one face per region; the simplified-Chinese one draws mainland glyph forms.
PREFERRED_FACE = " SC"
MISSING_GLYPH = r"Glyph \d+ .* missing from"


def cjk_font_path() -> Path:
    """The CJK font file to draw with: the packaged Noto Sans CJK, else the first system one found."""
    spec = find_spec(FONT_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        packaged = Path(next(iter(spec.submodule_search_locations))) / FONT_FILE
        if packaged.is_file():
            return packaged
    for candidate in SYSTEM_FONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise ConfigError(
        "没有可用的中文字体 (no CJK font): install the notebooks extra, "
        "`pip install -e \".[notebooks]\"`, which brings Noto Sans CJK"
    )


def use_cjk_font() -> str:
    """Make matplotlib draw Chinese with the CJK font; returns its family name.

    Also makes a missing-glyph warning an error, so a figure never shows empty boxes unnoticed.
    """
    from matplotlib import font_manager, rcParams

    path = cjk_font_path()
    font_manager.fontManager.addfont(str(path))
    families = [f.name for f in font_manager.fontManager.ttflist if Path(f.fname) == path]
    family = next((f for f in families if f.endswith(PREFERRED_FACE)), families[0])  # Chinese glyph forms
    rcParams["font.family"] = "sans-serif"
    rcParams["font.sans-serif"] = [family, *[f for f in rcParams["font.sans-serif"] if f != family]]
    rcParams["axes.unicode_minus"] = False  # the CJK font's minus sign is the ASCII hyphen's width
    warnings.filterwarnings("error", message=MISSING_GLYPH)
    return family
