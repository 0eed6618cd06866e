"""Where policy_nlp keeps its data: the corpus store, indexes and converted models."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

ENV_VAR = "POLICY_NLP_HOME"


def resolve_home(home: str | Path | None = None, *, create: bool = True) -> Path:
    """The home directory: an explicit ``home`` wins, then ``$POLICY_NLP_HOME``, then the per-user data dir.

    The directory is created if needed (unless ``create`` is false); ConfigError when it cannot be.
    """
    if home is None:
        home = os.environ.get(ENV_VAR) or None
    if home is None:
        from platformdirs import user_data_dir

        home = user_data_dir("policy_nlp", appauthor=False)
    path = Path(home).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"the home {path} is a file, not a folder: give --home (or ${ENV_VAR}) a folder")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the home folder {path} ({exc.strerror or exc}): "
                              f"give --home (or ${ENV_VAR}) a folder you can write to") from exc  # fmt: skip
    return path
