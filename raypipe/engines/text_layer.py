"""The text-layer engine: each page's text is the PDF's own text layer. No model, no GPU.

The cheapest engine: the default where no model is asked for, and the baseline the model engines
are compared with. It runs as plain tasks, several documents per block. A page with ink (or ink not
known) but no text is ``needs_ocr``, not ok text (:func:`raypipe.engines.base.text_layer_page`).
"""

from __future__ import annotations

import time

import pyarrow as pa

from raypipe.engines.base import DocumentEngine, internal_failure, text_layer_page
from raypipe.schema import TEXT_SOURCE_FAILED, WORK, table


class TextLayerEngine(DocumentEngine):
    name = "text-layer"
    needs_images = False
    num_cpus = 0.25

    def route(self, page: dict) -> bool:
        if page.get("text_layer") is None:  # its text could not be read
            page["text"], page["text_source"] = None, TEXT_SOURCE_FAILED
        else:
            text_layer_page(page)
        return False

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        for row in rows:
            started = time.perf_counter()
            try:
                self.start(row)
            except Exception as e:
                internal_failure(row, e)
            self.finish(row, started)
            self.reported(row)
        return table(rows, WORK)

    @classmethod
    def stage(cls, ds, spec, ray_cfg, ledger=None, stats=None):
        return ds.map_batches(
            cls(spec, stats),
            batch_format="pyarrow",
            batch_size=None,
            zero_copy_batch=True,
            **ray_cfg.stage("infer", cls.num_cpus),
        )
