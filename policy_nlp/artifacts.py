"""One save format and one atomic writer for every artefact policy_nlp writes (indexes, models, exports).

An artefact is a folder: a plain-JSON manifest (what it is, format version, library versions, model id,
counts, settings, creation time) beside `.npy` / safetensors / library files. `write_folder` builds it in
a temp folder next to the target, fsyncs it and swaps it in by rename, under a lock that a second writer
waits for: readers see the old version or the new one, never a mix, and a SIGKILL at any point leaves
the old version. `write_file` does the same for a single file (exports).
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import logging
import os
import platform
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

from policy_nlp import __version__
from policy_nlp.errors import BusyError

MANIFEST_FILE = "manifest.json"
#: Version of the manifest shape; 1 was the per-artefact formats that came before this module.
FORMAT_VERSION = 2
#: How long a writer waits for another writer of the same artefact before giving up.
LOCK_TIMEOUT_S = 3600.0
_POLL_S = 0.1
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2

log = logging.getLogger(__name__)
_held: dict[Path, tuple[threading.RLock, int]] = {}  # lock file -> (thread lock, depth) in this process
_held_guard = threading.Lock()


@dataclass(frozen=True)
class Manifest:
    """What a saved artefact is and how it was made; `settings` holds what its loader needs."""

    artifact: str  # "dense-index", "bm25-index", "embedding-model", "onnx-model", "theme-model"
    model_id: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    created_utc: str = ""
    format_version: int = FORMAT_VERSION

    @classmethod
    def new(cls, artifact: str, *, model_id: str = "", counts: dict[str, int] | None = None,
            settings: dict[str, Any] | None = None, libraries: tuple[ModuleType, ...] = ()) -> Manifest:
        """A manifest stamped now, with the versions of Python, policy_nlp and `libraries`."""
        versions = {"policy_nlp": __version__, "python": platform.python_version(),
                    **{lib.__name__: str(lib.__version__) for lib in libraries}}
        return cls(artifact, model_id=model_id, counts=dict(counts or {}), settings=dict(settings or {}),
                   versions=versions, created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def read_manifest(folder: str | Path, artifact: str, *, name: str = MANIFEST_FILE,
                  legacy: Callable[[dict], Manifest] | None = None) -> Manifest:
    """The manifest of the `artifact` saved in `folder`.

    A file without the `artifact` key is of format 1 and is read by `legacy` where one is given.
    FileNotFoundError when there is none; ValueError when it is damaged, of another artefact or format.
    """
    path = Path(folder) / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is damaged") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} is damaged")
    if "artifact" not in data and legacy is not None:
        try:
            return legacy(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path} is damaged") from exc
    try:
        manifest = Manifest(**data)
    except TypeError as exc:
        raise ValueError(f"{path} is damaged") from exc
    if manifest.artifact != artifact or manifest.format_version != FORMAT_VERSION:
        raise ValueError(f"{path} holds a {manifest.artifact or 'unknown'} artefact of format "
                         f"{manifest.format_version}, not a {artifact} of format {FORMAT_VERSION}")
    return manifest


@contextmanager
def write_folder(target: str | Path, manifest: Manifest, *, name: str = MANIFEST_FILE,
                 timeout: float = LOCK_TIMEOUT_S) -> Iterator[Path]:
    """Yield an empty temp folder next to `target`; on success add the manifest, fsync, and swap it in.

    Holds `target`'s lock throughout. If the body raises, the temp folder is removed and `target` is untouched.
    """
    target = Path(target)
    with locked(target, timeout=timeout):
        for stale in target.parent.glob(f".{target.name}.tmp-*"):  # left by a killed writer: none is alive
            shutil.rmtree(stale, ignore_errors=True)
        tmp = target.parent / f".{target.name}.tmp-{secrets.token_hex(8)}"
        tmp.mkdir()  # as a plain mkdir (umask), not mkdtemp's 0700: other users of a shared home can read it
        try:
            yield tmp
            (tmp / name).write_text(json.dumps(asdict(manifest), ensure_ascii=False, indent=2) + "\n",
                                    encoding="utf-8")
            _fsync_tree(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _swap_into_place(tmp, target)
        _fsync(target.parent)


@contextmanager
def write_file(target: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `target`; on success fsync it and rename it over `target`, else remove it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{target.suffix}")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync(target.parent)


@contextmanager
def locked(target: str | Path, *, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the writer lock of `target` (an flock on `.<name>.lock` beside it), waiting up to `timeout` s.

    Re-entrant within a thread; other threads and processes wait.
    """
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    path = target.parent / f".{target.name}.lock"
    with _held_guard:
        thread_lock, _ = _held.setdefault(path, (threading.RLock(), 0))
    if not thread_lock.acquire(timeout=timeout):
        raise BusyError(f"another thread is still writing {target} after {timeout:.0f} s; try again later")
    try:
        depth = _held[path][1]  # only the thread holding `thread_lock` changes it
        fd = _acquire(path, target, timeout) if depth == 0 else None
        with _held_guard:
            _held[path] = (thread_lock, depth + 1)
        try:
            yield
        finally:
            with _held_guard:
                _held[path] = (thread_lock, depth)
            if fd is not None:
                path.unlink(missing_ok=True)  # while still held: a waiter that gets this file sees it gone, retries
                os.close(fd)
    finally:
        thread_lock.release()


def _acquire(path: Path, target: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    told = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            if time.monotonic() >= deadline:
                raise BusyError(f"another process{holder} is still writing {target} after {timeout:.0f} s; "
                                "wait for it to finish, then try again") from None
            if not told:
                log.warning("waiting for another process%s that is writing %s …", holder, target)
                told = True
            time.sleep(_POLL_S)
            continue
        if _is_current(fd, path):
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return fd
        os.close(fd)  # the previous holder removed the file as we got it: lock the new one


def _is_current(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _read_pid(fd: int) -> str:
    text = os.pread(fd, 20, 0).decode(errors="replace").strip()
    return f" (pid {text})" if text.isdigit() else ""


def _swap_into_place(tmp: Path, target: Path) -> None:
    if not target.exists():
        os.rename(tmp, target)
    elif _exchange(tmp, target):
        shutil.rmtree(tmp)  # now holds the previous version
    else:  # no atomic exchange on this platform: keep the old copy until the new one is in place
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        os.rename(target, old / target.name)
        os.rename(tmp, target)
        shutil.rmtree(old)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def _fsync_tree(folder: Path) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            _fsync(Path(root) / name)
        _fsync(Path(root))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
