"""policy_nlp: offline semantic search and theme tagging for Chinese education-bureau policy texts."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["Workspace", "__version__"]

if TYPE_CHECKING:
    from .api import Workspace


def __getattr__(name: str) -> object:
    # Imported on first use, so that `import policy_nlp.corpus` stays light.
    if name == "Workspace":
        from .api import Workspace

        return Workspace
    raise AttributeError(f"module 'policy_nlp' has no attribute '{name}'")
