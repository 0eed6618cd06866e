"""Typed errors. Every message is written for a bureau analyst: what went wrong and what to do."""

from __future__ import annotations


class PolicyNLPError(Exception):
    """Base class of every error this package raises on purpose; the CLI prints it without a traceback."""


class InputError(PolicyNLPError):
    """A file or text given by the user cannot be read as a policy document."""


class EncodingDetectionError(InputError):
    """The bytes of a file do not decode reliably in any supported encoding."""


class UnsupportedFormatError(InputError):
    """The file's format is not one the ingester reads."""


class StoreError(PolicyNLPError):
    """The corpus store is missing, locked, or inconsistent."""


class DocumentNotFoundError(StoreError):
    """No document with the given id (or path) is in the store."""


class ModelError(PolicyNLPError):
    """An embedding or classification model cannot be found, converted or loaded."""


class SearchIndexError(PolicyNLPError):
    """A search index is missing, was built with another model, or disagrees with the store."""


class ConfigError(PolicyNLPError):
    """A configuration value (flag, sidecar file, environment variable) is invalid."""


class BusyError(PolicyNLPError):
    """Another process is writing the same index or model and did not finish in time."""
