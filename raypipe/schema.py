"""The data contract between stages and the output schema (one row per input document).

Tables are built with these explicit Arrow schemas so that every block of every stage has the same
types, whatever its contents (an all-failed block has the same columns as a healthy one).
"""

from __future__ import annotations

import logging
import reprlib

import pyarrow as pa

SCHEMA_VERSION = 2

# Where a page's text came from.
TEXT_SOURCE_TEXT_LAYER = "text_layer"  # the PDF's own text layer (text-layer engine, or ocr_mode auto/never)
TEXT_SOURCE_MODEL = "model"  # the OCR model's output
TEXT_SOURCE_FALLBACK = "text_layer_fallback"  # the model failed on this page; its text layer stands in
TEXT_SOURCE_BLANK = "blank"  # no ink and no text layer: never sent to a model
TEXT_SOURCE_NEEDS_OCR = "needs_ocr"  # ink but no text, and no model was asked (text-layer engine, ocr_mode never)
TEXT_SOURCE_FAILED = "failed"  # no text at all
FAILED_TEXT_SOURCES = (TEXT_SOURCE_FAILED, TEXT_SOURCE_FALLBACK)

# The first word of a page's error says what failed ("parse: ...", "length: ..."); these two mean the
# engine did not answer (a call past engine.call_timeout; an endpoint down until the retries ran out).
PAGE_ERROR_TIMEOUT = "timeout"
PAGE_ERROR_UNAVAILABLE = "unavailable"

STATUS_OK = "ok"
STATUS_PARTIAL = "partial"
STATUS_NEEDS_OCR = "needs_ocr"  # some pages have ink but no text: the document still needs OCR
STATUS_FAILED = "failed"

# read -> render (error_code/error: the listing already knows the document cannot be read)
DOCUMENT = pa.schema(
    [("doc_id", pa.string()), ("source", pa.string()), ("error_code", pa.string()), ("error", pa.string())]
)

# Page fields filled by the engine (null where an engine does not produce them).
_ENGINE_PAGE_FIELDS = [
    ("text", pa.string()),
    ("text_source", pa.string()),  # see TEXT_SOURCE_*
    ("error", pa.string()),  # page-level error or the last retry reason, if the page failed
    ("finish_reason", pa.string()),  # the model's last finish reason (stop / length)
    ("attempts", pa.int32()),  # model calls made for this page
    ("prompt_tokens", pa.int64()),
    ("completion_tokens", pa.int64()),
    ("latency_seconds", pa.float64()),  # from first request to accepted answer
    ("header", pa.string()),  # running header lines (and a page number at the top) kept out of ``text``
    ("footer", pa.string()),  # running footer lines and page numbers kept out of ``text``
    ("route_reason", pa.string()),  # ocr_mode auto: why the text layer was kept (text_layer:...) or not (model:...)
    ("language", pa.string()),  # parsed from the output, where the preset gives it
    ("rotation_correction", pa.int32()),
    ("is_table", pa.bool_()),
    ("is_diagram", pa.bool_()),
]

# A page as it travels from render through the engine (the image is dropped by postprocess).
WORK_PAGE = pa.struct(
    [
        ("page_number", pa.int32()),  # 1-based, in the original document
        ("width", pa.int32()),  # rendered pixels
        ("height", pa.int32()),
        ("image", pa.binary()),  # encoded image (png/jpeg/webp); null when the engine needs none
        ("blank", pa.bool_()),  # no letter in its text and no real mark on the page (raypipe.pdf.ink)
        ("text_layer", pa.string()),  # the PDF's own text for this page (in reading order, see render.text_layer)
    ]
    + [(name, type_) for name, type_ in _ENGINE_PAGE_FIELDS]
)

# Common document columns carried from render to write.
_DOC_FIELDS = [
    ("doc_id", pa.string()),
    ("source", pa.string()),
    ("status", pa.string()),
    ("error_code", pa.string()),
    ("error", pa.string()),
    ("num_pages", pa.int32()),
    ("num_pages_processed", pa.int32()),
    ("page_cap_applied", pa.bool_()),
    ("recovered", pa.bool_()),  # the file was repaired before it could be read
    ("render_seconds", pa.float64()),
]

_ENGINE_DOC_FIELDS = [
    ("engine", pa.string()),
    ("model", pa.string()),
    ("preset", pa.string()),
    ("engine_seconds", pa.float64()),
    ("engine_started_at", pa.float64()),  # Unix time the engine stage took the document
    ("engine_finished_at", pa.float64()),  # Unix time its last page was done
    ("prompt_tokens", pa.int64()),
    ("completion_tokens", pa.int64()),
]

WORK = pa.schema(_DOC_FIELDS + _ENGINE_DOC_FIELDS + [("pages", pa.list_(WORK_PAGE))])

OUTPUT_PAGE = pa.struct(
    [("page_number", pa.int32()), ("width", pa.int32()), ("height", pa.int32())] + _ENGINE_PAGE_FIELDS
)

OUTPUT = pa.schema(
    _DOC_FIELDS
    + _ENGINE_DOC_FIELDS
    + [
        ("text", pa.string()),
        ("page_offsets", pa.list_(pa.int64())),
        ("pages", pa.list_(OUTPUT_PAGE)),
        ("schema_version", pa.int32()),
    ]
)


def _unknown_keys(value, type_: pa.DataType, where: str) -> None:
    """Raise KeyError for a key the type has no field for (a misspelt key would silently be null)."""
    if isinstance(value, dict) and pa.types.is_struct(type_):
        names = {type_.field(i).name: type_.field(i).type for i in range(type_.num_fields)}
        for key, item in value.items():
            if key not in names:
                raise KeyError(f"{where}: no field {key!r} in the schema (fields: {', '.join(names)})")
            _unknown_keys(item, names[key], f"{where}.{key}")
    elif isinstance(value, list) and pa.types.is_list(type_):
        for item in value:
            _unknown_keys(item, type_.value_type, f"{where}[]")


MAX_ERROR_CHARS = 1_000  # a page's or a document's error message
_REPR = reprlib.Repr()  # a bounded repr, whatever the value
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 200, 200, 60


def safe_text(value: object, limit: int = MAX_ERROR_CHARS) -> str:
    """``value`` as a string any table can store: lone surrogates escaped, at most ``limit`` characters."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = _REPR.repr(value)
        except Exception:  # e.g. an int too long to print
            text = f"<{type(value).__name__}>"
    if len(text) > limit:
        text = text[:limit] + "…"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows (dicts) to a table of exactly ``schema``; missing keys become nulls. A row that cannot be
    stored (a key the schema does not know, a value of the wrong type, text that is not valid
    Unicode) becomes its document's failed row with error_code internal; the other rows pass."""
    try:
        return _table(rows, schema)
    except Exception:  # some row spoils the batch: find it, row by row
        pass
    good = []
    for row in rows:
        try:
            good.append(_table([row], schema))
        except Exception as e:
            doc_id = row.get("doc_id") if isinstance(row, dict) else None
            logging.getLogger("raypipe").warning("the row of %r cannot be stored", doc_id, exc_info=e)
            good.append(_table([_unstorable(row, e, schema)], schema))
    return pa.concat_tables(good) if good else _table([], schema)


def _table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    row_type = pa.struct(list(schema))
    for row in rows:
        if not isinstance(row, dict):
            raise TypeError(f"a row is {type(row).__name__}, not a dict")
        _unknown_keys(row, row_type, "row")
    return pa.Table.from_pylist(rows, schema=schema)


def _unstorable(row: object, error: Exception, schema: pa.Schema) -> dict:
    """The failed row (error_code internal) that stands in for a row that cannot be stored: the
    document-level fields that can be, no pages."""
    from raypipe.errors import ErrorCode

    row = row if isinstance(row, dict) else {}
    failure = {
        "status": STATUS_FAILED,
        "error_code": ErrorCode.INTERNAL.value,
        "error": safe_text(f"the row could not be stored: {type(error).__name__}: {error}"),
        "pages": [],
        "num_pages_processed": 0,
        "text": "",
        "page_offsets": [],
        "schema_version": SCHEMA_VERSION,
    }
    failure = {k: v for k, v in failure.items() if k in schema.names}
    scalars = {k: v for k, v in row.items() if k in schema.names and k not in failure and not isinstance(v, (list, dict))}
    try:
        _table([{**scalars, **failure}], schema)
        return {**scalars, **failure}
    except Exception:
        identity = {k: safe_text(row.get(k)) for k in ("doc_id", "source") if k in schema.names and row.get(k) is not None}
        return {**identity, **failure}
