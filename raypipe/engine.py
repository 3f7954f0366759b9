"""What every model engine shares at the document level: which pages go to the model, running a
document's pages through the per-page OCR logic at once, and yielding each document as soon as its
last page is done.

An engine subclasses :class:`PageEngine` and supplies one coroutine,
``generate(doc_id, image, temperature) -> Generation``; the retry ladder, the judge and the
fallback live in ``raypipe.ocr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from functools import partial
from typing import AsyncIterator

import pyarrow as pa

from raypipe.config import EngineConfig, RayConfig
from raypipe.errors import DocumentError
from raypipe.faults import ActorGuard
from raypipe.ocr import Generate, Generation, ocr_page, usable_text_layer
from raypipe.presets import Preset
from raypipe.schema import (
    STATUS_FAILED,
    TEXT_SOURCE_BLANK,
    TEXT_SOURCE_FAILED,
    TEXT_SOURCE_TEXT_LAYER,
    WORK,
    table,
)


class PageEngine:
    """Class UDF base for ``map_batches`` on an actor pool: one document per block, many blocks
    (documents) in flight on the actor's one event loop."""

    engine_name: str = ""  # the row's ``engine`` column

    def __init__(self, preset: Preset, config: EngineConfig, ledger=None, max_doc_attempts: int = 3):
        self.guard = ActorGuard(ledger, max_doc_attempts) if ledger is not None else None  # raypipe.faults
        self.preset = preset
        self.cfg = config
        self.temperatures = tuple(self.cfg.temperatures or self.preset.temperatures)
        self.max_tokens = self.cfg.max_tokens or self.preset.max_tokens

    async def generate(self, doc_id: str, image, temperature: float) -> Generation:
        """One model call for one page image (a PIL image); raise ``RequestRejected`` to fail the page."""
        raise NotImplementedError

    def page_generate(self, doc_id: str, page: dict) -> Generate:
        """The ``generate(image, temperature)`` that ``ocr_page`` calls for this page."""
        return partial(self.generate, doc_id)

    def route(self, page: dict) -> bool:
        """Fill pages that skip the model; True when the page goes to the model."""
        if page.get("image") is None:  # failed to render
            page["text_source"] = page.get("text_source") or TEXT_SOURCE_FAILED
            return False
        if page.get("blank"):
            page.update(text="", text_source=TEXT_SOURCE_BLANK)
            return False
        mode = self.cfg.ocr_mode
        if mode == "never" or (mode == "auto" and usable_text_layer(page.get("text_layer"), self.cfg.min_text_layer_chars)):
            page.update(text=page.get("text_layer") or "", text_source=TEXT_SOURCE_TEXT_LAYER)
            return False
        return True

    async def document(self, row: dict) -> dict:
        try:
            async with self.guard.attempt(row["doc_id"]) if self.guard else contextlib.nullcontext():
                return await self._document(row)
        except DocumentError as e:  # it crashed its actor max_doc_attempts times
            row.update(status=STATUS_FAILED, error_code=e.code.value, error=e.message, pages=[], num_pages_processed=0)
            row.update(engine=self.engine_name, model=self.preset.model, preset=self.preset.name)
            return row

    async def _document(self, row: dict) -> dict:
        start = time.perf_counter()
        row.update(engine=self.engine_name, model=self.preset.model, preset=self.preset.name, engine_started_at=time.time())
        pages = row.get("pages") or []
        if row.get("status") != STATUS_FAILED:
            to_model = [p for p in pages if self.route(p)]
            await asyncio.gather(
                *(
                    ocr_page(p, self.preset, self.page_generate(row["doc_id"], p), self.cfg.max_attempts, self.temperatures)
                    for p in to_model
                )
            )
        for page in pages:
            page["image"] = None  # images stop here
        row["prompt_tokens"] = sum(p.get("prompt_tokens") or 0 for p in pages)
        row["completion_tokens"] = sum(p.get("completion_tokens") or 0 for p in pages)
        row["engine_seconds"] = time.perf_counter() - start
        row["engine_finished_at"] = time.time()
        return row

    async def __call__(self, batch: pa.Table) -> AsyncIterator[pa.Table]:
        pending = [asyncio.ensure_future(self.document(row)) for row in batch.to_pylist()]
        for done in asyncio.as_completed(pending):
            yield table([await done], WORK)


def engine_stage(ds, engine: type[PageEngine], ray_cfg: RayConfig, ledger, constructor_kwargs: dict, **remote_args):
    """The actor-pool stage every engine runs in: one document per block, and ``docs_in_flight`` of
    those tasks at once on each actor's one event loop."""
    import ray.data

    return ds.map_batches(
        engine,
        fn_constructor_kwargs={**constructor_kwargs, "ledger": ledger, "max_doc_attempts": ray_cfg.max_doc_attempts},
        batch_format="pyarrow",
        batch_size=1,
        zero_copy_batch=True,
        compute=ray.data.ActorPoolStrategy(
            min_size=ray_cfg.infer_actors,
            max_size=ray_cfg.infer_max_actors or ray_cfg.infer_actors,
            max_tasks_in_flight_per_actor=ray_cfg.docs_in_flight,
            max_concurrent_calls_per_actor=ray_cfg.docs_in_flight,  # all on the actor's one event loop
        ),
        **remote_args,
    )
