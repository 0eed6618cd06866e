"""Expanding the paths given by the user into the files to ingest."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

SIDECAR_SUFFIX = ".meta.json"


def iter_document_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Yield the files to ingest, lazily: files as given, directories expanded recursively.

    Directories are walked in sorted order; hidden files and folders (name starting with '.') and
    sidecar files (*.meta.json) are skipped. Every other file is yielded, whatever its extension, so
    that ingesting it reports an unsupported type instead of dropping it silently. Paths that do not
    exist are yielded too (ingesting them reports "file not found"), and so is a folder that cannot be
    opened (ingesting it reports that). Symbolic links to folders are not followed.
    """
    for path in map(Path, paths):
        if path.is_dir():
            yield from _walk(path)
        else:
            yield path


def _walk(folder: Path) -> Iterator[Path]:
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError:  # unreadable: the folder itself becomes one failed entry, the walk goes on
        yield folder
        return
    for entry in entries:
        if entry.name.startswith(".") or entry.name.endswith(SIDECAR_SUFFIX):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        else:
            yield Path(entry.path)
