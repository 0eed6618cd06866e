"""Reading policy documents: formats, encodings, cleaning, script conversion, structure, metadata.

- `read_document(path)`: the format and encoding layer (RawText).
- `ingest_file(path)` / `ingest_text(text, doc_id=...)` / `ingest_bytes(data, filename=...)`: the whole pipeline, giving a Document.
- `iter_document_paths(paths)`: the files to ingest under the given files and folders.

Bad input raises a typed InputError subclass (EmptyDocumentError, BinaryFileError, FileTooLargeError,
EncodingDetectionError, UnsupportedFormatError) with a one-line message; invalid metadata overrides
raise ConfigError.
"""

from .errors import BinaryFileError, EmptyDocumentError, FileTooLargeError
from .formats import DEFAULT_MAX_BYTES, SUPPORTED_EXTENSIONS, RawText, read_document
from .paths import iter_document_paths
from .pipeline import ingest_bytes, ingest_file, ingest_text
from .structure import MAX_PARAGRAPH_CHARS

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_PARAGRAPH_CHARS",
    "SUPPORTED_EXTENSIONS",
    "BinaryFileError",
    "EmptyDocumentError",
    "FileTooLargeError",
    "RawText",
    "ingest_bytes",
    "ingest_file",
    "ingest_text",
    "iter_document_paths",
    "read_document",
]
