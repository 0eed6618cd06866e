"""The web service: a JSON API and a search page in Chinese over one warm :class:`policy_nlp.api.Workspace`.

Needs the ``web`` extra (``pip install -e ".[web]"``); start it with ``policy-nlp serve``.
"""

from .app import create_app
from .service import Service

__all__ = ["Service", "create_app"]
