"""Stage 3 (model-free engine) — text layer: each page's text is the PDF's own text layer.

The cheapest engine: no model, no GPU. It is the default where no model is asked for, and the
baseline the OCR engines are compared with.
"""

from __future__ import annotations

import time

import pyarrow as pa

from raypipe.schema import TEXT_SOURCE_FAILED, TEXT_SOURCE_TEXT_LAYER, WORK, table

ENGINE_NAME = "text-layer"


def text_layer_pages(pages: list[dict]) -> list[dict]:
    for page in pages:
        if page.get("text_layer") is None:
            page["text"], page["text_source"] = None, TEXT_SOURCE_FAILED
        else:
            page["text"], page["text_source"] = page["text_layer"], TEXT_SOURCE_TEXT_LAYER
    return pages


def text_layer_batch(batch: pa.Table) -> pa.Table:
    rows = batch.to_pylist()
    for row in rows:
        start, row["engine_started_at"] = time.perf_counter(), time.time()
        text_layer_pages(row["pages"] or [])
        row["engine"] = ENGINE_NAME
        row["engine_seconds"] = time.perf_counter() - start
        row["engine_finished_at"] = time.time()
    return table(rows, WORK)


def text_layer_stage(ds):
    return ds.map_batches(text_layer_batch, batch_format="pyarrow", batch_size=None, zero_copy_batch=True, num_cpus=0.25)
