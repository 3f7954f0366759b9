"""Errors: per-document error codes (failures are data) and the usage errors that stop a run before
any work starts.

Each document that cannot be processed becomes one output row whose ``error_code`` is an
:class:`ErrorCode` and whose ``error`` says what happened. A :class:`UsageError` is a problem with
the options or the inputs, found before Ray starts any actor; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import enum


class ErrorCode(str, enum.Enum):
    """Document-level error codes (the ``error_code`` column)."""

    READ_ERROR = "read_error"  # the file could not be fetched (missing, permissions, network)
    TOO_LARGE = "too_large"  # the file is larger than input.max_file_bytes
    EMPTY = "empty"  # zero bytes
    NOT_PDF = "not_pdf"  # no %PDF- header in the first 1024 bytes (HTML, random bytes, ...)
    ENCRYPTED = "encrypted"  # needs a password
    UNREADABLE = "unreadable"  # PDFium cannot parse it (broken structure, bad cross-reference table)
    NO_PAGES = "no_pages"  # opens, but has no pages (or none in the requested range)
    PAGES_FAILED = "pages_failed"  # some pages failed (status partial); see each page's error
    TOO_MANY_PAGES_FAILED = "too_many_pages_failed"  # failed share above engine.max_page_error_rate
    ALL_PAGES_FAILED = "all_pages_failed"  # every processed page failed
    CRASHED = "crashed"  # its worker died (native crash, out of memory) ray.max_doc_attempts times with it
    INTERNAL = "internal"  # an unexpected error while processing this document; see ``error``
    TIMEOUT = "timeout"  # it exceeded a wall-time bound (render_timeout, page_timeout, the engine's doc_timeout)
    TOO_COMPLEX = "too_complex"  # rendering or repairing it exceeded the memory bound (render_memory_limit)
    INVALID_INPUT = "invalid_input"  # the input itself is unusable: a manifest line that is not JSON, a row without a path, a scheme not allowed
    DUPLICATE = "duplicate"  # the same file as another input, processed under that input's doc_id (named in error); or a doc_id listed already
    NEEDS_OCR = "needs_ocr"  # status needs_ocr: pages with ink but no text (a scan read by the text layer)
    ENGINE_UNAVAILABLE = "engine_unavailable"  # pages failed because the model engine or endpoint did not answer


# Failures worth another try by default (--retry-failed without codes): they say nothing about the document.
TRANSIENT_CODES = (ErrorCode.READ_ERROR, ErrorCode.INTERNAL, ErrorCode.ENGINE_UNAVAILABLE)


class DocumentError(Exception):
    """Raised inside a stage for one document; turned into that document's error row."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class UsageError(ValueError):
    """A problem with the options or inputs, found before any work starts; the message names the
    option to fix. The CLI exits with code 2."""


class InputError(UsageError):
    """An input that cannot be listed (missing path, no documents, duplicate ids)."""


class OutputExistsError(UsageError):
    """The output folder holds data files that cannot be resumed, and --fresh was not given."""


class OutputRefusedError(UsageError):
    """The output folder cannot be used, or started over, as asked (busy, not raypipe's, an input folder,
    written with other settings); the message says why and what to do."""


class EngineUnavailableError(UsageError):
    """The engine asked for cannot run on this cluster or endpoint; the message says what to do."""
