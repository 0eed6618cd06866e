"""Where policy_nlp keeps its data: the corpus store, indexes and converted models."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "POLICY_NLP_HOME"


def resolve_home(home: str | Path | None = None) -> Path:
    """The home directory: an explicit ``home`` wins, then ``$POLICY_NLP_HOME``, then the per-user data dir.

    The directory is created if needed.
    """
    if home is None:
        home = os.environ.get(ENV_VAR) or None
    if home is None:
        from platformdirs import user_data_dir

        home = user_data_dir("policy_nlp", appauthor=False)
    path = Path(home).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
