"""Stage 4 — postprocess: assemble each document's text with per-page offsets, decide its status,
and drop the page images so that only text travels to the writer.

A document's status follows from its pages: ``failed`` when every page, or more than
``engine.max_page_error_rate`` of them, failed; ``needs_ocr`` when some page has ink but no text (the
text layer was all there was); ``partial`` when a few pages failed; else ``ok``. Failed pages whose
engine did not answer (a call past its time bound, an endpoint down) give the error code
``engine_unavailable``, which ``--retry-failed`` retries by default. An unexpected error while one
document is finished makes that document a failed row with error_code ``internal``.
"""

from __future__ import annotations

import logging

import pyarrow as pa

from raypipe.errors import ErrorCode
from raypipe.schema import (
    FAILED_TEXT_SOURCES,
    OUTPUT,
    OUTPUT_PAGE,
    PAGE_ERROR_TIMEOUT,
    PAGE_ERROR_UNAVAILABLE,
    SCHEMA_VERSION,
    STATUS_FAILED,
    STATUS_NEEDS_OCR,
    STATUS_OK,
    STATUS_PARTIAL,
    TEXT_SOURCE_NEEDS_OCR,
    safe_text,
    table,
)

PAGE_SEPARATOR = "\n\n"
_UNAVAILABLE = tuple(f"{kind}:" for kind in (PAGE_ERROR_TIMEOUT, PAGE_ERROR_UNAVAILABLE))


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


def engine_unavailable(page: dict) -> bool:
    """Whether a failed page failed because its engine did not answer (worth retrying later)."""
    return (page.get("error") or "").startswith(_UNAVAILABLE)


def _pages(n: int) -> str:
    return f"{n} page" if n == 1 else f"{n} pages"


def status(row: dict, pages: list[dict], max_page_error_rate: float) -> None:
    """Set the document's status, error_code and error from its pages."""
    failed = [p for p in pages if p.get("text_source") in FAILED_TEXT_SOURCES]
    needs_ocr = sum(1 for p in pages if p.get("text_source") == TEXT_SOURCE_NEEDS_OCR)
    unavailable = any(engine_unavailable(p) for p in failed)
    total = len(pages)
    if failed and (len(failed) == total or len(failed) / total > max_page_error_rate):
        code = ErrorCode.ALL_PAGES_FAILED if len(failed) == total else ErrorCode.TOO_MANY_PAGES_FAILED
        row["status"] = STATUS_FAILED
        if len(failed) == total:
            row["error"] = f"all {total} processed pages failed; first: {failed[0].get('error')}"
        else:
            row["error"] = f"{len(failed)} of {total} pages failed (more than {max_page_error_rate:.0%}); first: {failed[0].get('error')}"
    elif needs_ocr:
        code = ErrorCode.NEEDS_OCR
        row["status"] = STATUS_NEEDS_OCR
        row["error"] = f"OCR is still needed: {needs_ocr} of {total} pages have ink but no text"
        if failed:
            row["error"] += f"; {_pages(len(failed))} failed, first: {failed[0].get('error')}"
        unavailable = False
    elif failed:
        code = ErrorCode.PAGES_FAILED
        row["status"] = STATUS_PARTIAL
        row["error"] = f"{len(failed)} of {total} pages failed; first: {failed[0].get('error')}"
    else:
        row["status"] = STATUS_OK
        return
    row["error_code"] = (ErrorCode.ENGINE_UNAVAILABLE if unavailable else code).value
    row["error"] = safe_text(row["error"])


def finish(row: dict, max_page_error_rate: float = 0.0) -> dict:
    try:
        pages = row.get("pages") or []
        out_pages = [{k: p.get(k) for k in OUTPUT_PAGE.names} for p in pages]
        text, offsets = assemble(pages)
        row.update(text=text, page_offsets=offsets, pages=out_pages, schema_version=SCHEMA_VERSION)
        row["num_pages_processed"] = len(pages)
        if row.get("status") != STATUS_FAILED:
            status(row, pages, max_page_error_rate)
        return row
    except Exception as e:  # never let one document fail the run
        logging.getLogger("raypipe").warning("document %r failed unexpectedly", row.get("doc_id"), exc_info=e)
        row.update(status=STATUS_FAILED, error_code=ErrorCode.INTERNAL.value,
                   error=safe_text(f"{type(e).__name__}: {e}"), text="", page_offsets=[], pages=[],
                   num_pages_processed=0, schema_version=SCHEMA_VERSION)
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
