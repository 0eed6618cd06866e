"""One Workspace for the whole service, its store and models each used from one worker thread.

Two single-thread lanes: the store lane runs everything that touches SQLite, the indexes or the
encoder (search, similar, documents, stats, removal); the theme lane runs theme-model work that never
touches the store (tagging pasted or uploaded reports, classifying texts). Concurrent requests queue
in their lane and share the warm models safely, and a long tagging job does not hold up searches.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ..api import Workspace
from ..errors import PolicyNLPError

T = TypeVar("T")
#: A query that loads the indexes, jieba and the encoder before the first user waits for them.
WARM_UP_QUERY = "教育"


class ServiceUnavailable(PolicyNLPError):
    """The models are still loading, or failed to load."""


class Service:
    """The workspace of one home, its models loaded once, used from one worker thread."""

    def __init__(self, home: str | Path | None = None) -> None:
        self.home = home
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-nlp-store")
        self._theme_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-nlp-themes")
        self._loading: Future[Workspace] | None = None

    def start(self) -> Future[Workspace]:
        """Open the workspace and load indexes, encoder and theme model in the worker thread (once)."""
        if self._loading is None:
            self._loading = self._pool.submit(_open, self.home)
        return self._loading

    def open(self) -> None:
        """``start`` and wait: raises the loading error (no index yet, damaged model) at once."""
        self.start().result()

    @property
    def state(self) -> tuple[bool, str]:
        """(ready, message) for the health check."""
        if self._loading is None or not self._loading.done():
            return False, "loading the search index and models"
        error = self._loading.exception()
        return (False, str(error)) if error else (True, "ok")

    async def run(self, work: Callable[[Workspace], T]) -> T:
        """Run ``work(workspace)`` in the store lane, after the models have loaded."""
        return await self._submit(self._pool, work)

    async def run_themes(self, work: Callable[[Workspace], T]) -> T:
        """Run ``work(workspace)`` in the theme lane: only theme-model work that never touches the store."""
        return await self._submit(self._theme_pool, work)

    async def _submit(self, pool: ThreadPoolExecutor, work: Callable[[Workspace], T]) -> T:
        loading = self.start()
        if loading.done() and loading.exception() is not None:
            raise ServiceUnavailable(f"the service could not load its models: {loading.exception()}")
        workspace = await asyncio.wrap_future(loading)
        return await asyncio.wrap_future(pool.submit(work, workspace))

    def close(self) -> None:
        if self._loading is not None and self._loading.done() and self._loading.exception() is None:
            self._pool.submit(self._loading.result().close).result()
        self._theme_pool.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True, cancel_futures=True)


def _open(home: str | Path | None) -> Workspace:
    import torch

    # Theme work (torch) keeps to one core, so a search (ONNX Runtime, FAISS) always finds the other free.
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    ws = Workspace(home)
    try:
        ws.search(WARM_UP_QUERY, k=1)
        ws.theme_model()
    except BaseException:
        ws.close()
        raise
    return ws
