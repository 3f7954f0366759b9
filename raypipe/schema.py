"""The data contract between stages and the output schema (one row per input document).

Tables are built with these explicit Arrow schemas so that every block of every stage has the same
types, whatever its contents (an all-failed block has the same columns as a healthy one).
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

# Where a page's text came from.
TEXT_SOURCE_TEXT_LAYER = "text_layer"
TEXT_SOURCE_FAILED = "failed"

STATUS_OK = "ok"
STATUS_PARTIAL = "partial"
STATUS_FAILED = "failed"

# read -> render
DOCUMENT = pa.schema([("doc_id", pa.string()), ("source", pa.string())])

# A page as it travels from render through the engine (the image is dropped by postprocess).
WORK_PAGE = pa.struct(
    [
        ("page_number", pa.int32()),  # 1-based, in the original document
        ("width", pa.int32()),  # rendered pixels
        ("height", pa.int32()),
        ("image", pa.binary()),  # encoded image (png/jpeg/webp); null when the engine needs none
        ("text_layer", pa.string()),  # the PDF's own text for this page
        ("text", pa.string()),  # filled by the engine
        ("text_source", pa.string()),  # filled by the engine: text_layer / failed / ...
        ("error", pa.string()),  # page-level error, if any
    ]
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
    ("render_seconds", pa.float64()),
]

WORK = pa.schema(_DOC_FIELDS + [("pages", pa.list_(WORK_PAGE)), ("engine", pa.string()), ("engine_seconds", pa.float64())])

OUTPUT_PAGE = pa.struct(
    [
        ("page_number", pa.int32()),
        ("text", pa.string()),
        ("text_source", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("error", pa.string()),
    ]
)

OUTPUT = pa.schema(
    _DOC_FIELDS
    + [
        ("engine", pa.string()),
        ("engine_seconds", pa.float64()),
        ("text", pa.string()),
        ("page_offsets", pa.list_(pa.int64())),
        ("pages", pa.list_(OUTPUT_PAGE)),
        ("schema_version", pa.int32()),
    ]
)


def table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows (dicts) to a table of exactly ``schema``; missing keys become nulls."""
    return pa.Table.from_pylist(rows, schema=schema)
