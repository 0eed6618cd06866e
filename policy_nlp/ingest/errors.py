"""Typed input errors raised by the ingester, one per kind of bad file."""

from __future__ import annotations

from policy_nlp.errors import InputError


class EmptyDocumentError(InputError):
    """The file or text holds nothing to ingest (no bytes, or only boilerplate)."""


class BinaryFileError(InputError):
    """A text file (.txt, .md, .html) holds binary data such as an image or an archive."""


class FileTooLargeError(InputError):
    """The file is larger than the size limit for one report."""
