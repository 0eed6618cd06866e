"""Files shipped inside the package: the theme model, the taxonomy, labelled data and judged queries.

They load through :mod:`importlib.resources`, so an editable install, a wheel and a source checkout
all find them in the same place: ``policy_nlp/models/`` (trained artefacts) and ``policy_nlp/data/``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def shipped(*parts: str) -> Path:
    """The path of a shipped file or folder, e.g. ``shipped("models", "themes-e5")``."""
    return Path(str(resources.files("policy_nlp").joinpath(*parts)))
