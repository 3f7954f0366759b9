"""Stage 4 — postprocess: assemble each document's text with per-page offsets, decide its status,
and drop the page images so that only text travels to the writer."""

from __future__ import annotations

import pyarrow as pa

from raypipe.errors import ErrorCode
from raypipe.schema import (
    FAILED_TEXT_SOURCES,
    OUTPUT,
    OUTPUT_PAGE,
    SCHEMA_VERSION,
    STATUS_FAILED,
    STATUS_OK,
    STATUS_PARTIAL,
    table,
)

PAGE_SEPARATOR = "\n\n"


def assemble(pages: list[dict]) -> tuple[str, list[int]]:
    """Join page texts with a blank line; ``offsets[i]`` is where page i's text starts."""
    parts, offsets, position = [], [], 0
    for i, page in enumerate(pages):
        if i:
            parts.append(PAGE_SEPARATOR)
            position += len(PAGE_SEPARATOR)
        offsets.append(position)
        text = page.get("text") or ""
        parts.append(text)
        position += len(text)
    return "".join(parts), offsets


def finish(row: dict, max_page_error_rate: float = 0.0) -> dict:
    pages = row.get("pages") or []
    out_pages = [{k: p.get(k) for k in OUTPUT_PAGE.names} for p in pages]
    text, offsets = assemble(pages)
    row.update(text=text, page_offsets=offsets, pages=out_pages, schema_version=SCHEMA_VERSION)
    row["num_pages_processed"] = len(pages)
    if row.get("status") == STATUS_FAILED:
        return row
    failed = sum(1 for p in pages if p.get("text_source") in FAILED_TEXT_SOURCES)
    if pages and failed == len(pages):
        row["status"], row["error_code"] = STATUS_FAILED, ErrorCode.ALL_PAGES_FAILED.value
        row["error"] = f"all {failed} processed pages failed; first: {pages[0].get('error')}"
    elif failed and failed / len(pages) > max_page_error_rate:
        row["status"], row["error_code"] = STATUS_FAILED, ErrorCode.TOO_MANY_PAGES_FAILED.value
        row["error"] = f"{failed} of {len(pages)} pages failed (more than {max_page_error_rate:.0%})"
    elif failed:
        row["status"], row["error_code"] = STATUS_PARTIAL, ErrorCode.PAGES_FAILED.value
        row["error"] = f"{failed} of {len(pages)} pages failed"
    else:
        row["status"] = STATUS_OK
    return row


def postprocess_batch(batch: pa.Table, max_page_error_rate: float) -> pa.Table:
    return table([finish(row, max_page_error_rate) for row in batch.to_pylist()], OUTPUT)


def postprocess_stage(ds, max_page_error_rate: float, remote_args: dict):
    return ds.map_batches(
        postprocess_batch,
        fn_kwargs={"max_page_error_rate": max_page_error_rate},
        batch_format="pyarrow",
        batch_size=None,
        zero_copy_batch=True,
        **remote_args,
    )
