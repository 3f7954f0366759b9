"""What every engine shares at the document level: stamping the engine's columns, deciding which
pages skip the model, timing, the time bounds, and dropping page images once a document is done.

:class:`DocumentEngine` is the base of every engine. :class:`PageEngine` adds what the model engines
share: a document's pages run through the per-page OCR logic (``raypipe.engines.pages``) at once,
many documents in flight on one event loop, each yielded as soon as its last page is done. A model
engine supplies one coroutine, ``generate(doc_id, image, temperature) -> Generation``, and bounds
each call with :meth:`PageEngine.call_bound`; a document is bounded by ``engine.doc_timeout``.

No document can fail the stage: an unexpected exception while one is processed becomes that
document's failed row with error_code ``internal`` (:func:`internal_failure`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, AsyncIterator, ClassVar, Optional

import pyarrow as pa

from raypipe.engines.answers import CallTimeout, safe_text
from raypipe.engines.image import PageImage
from raypipe.engines.pages import Generation, fail_page, ocr_page, usable_text_layer
from raypipe.errors import DocumentError, ErrorCode
from raypipe.faults import ActorGuard
from raypipe.schema import (
    STATUS_FAILED,
    TEXT_SOURCE_BLANK,
    TEXT_SOURCE_FAILED,
    TEXT_SOURCE_NEEDS_OCR,
    TEXT_SOURCE_TEXT_LAYER,
    WORK,
    table,
)

if TYPE_CHECKING:
    from raypipe.config import RayConfig
    from raypipe.engines.resolve import EngineSpec


log = logging.getLogger("raypipe")


def has_text(text: Optional[str]) -> bool:
    """Whether a page's text says anything: a letter or a digit (whitespace and stray marks do not)."""
    return bool(text) and any(ch.isalnum() for ch in text)


def text_layer_page(page: dict) -> None:
    """A page whose text is its own text layer: ``text_layer`` when that has text, ``blank`` when the
    page has no ink either, else ``needs_ocr`` (ink, or ink not known, but no text: not ok text)."""
    layer = page.get("text_layer")
    if has_text(layer):
        page.update(text=layer, text_source=TEXT_SOURCE_TEXT_LAYER)
    elif page.get("blank") is True:
        page.update(text=layer or "", text_source=TEXT_SOURCE_BLANK)
    else:
        page.update(text=layer or "", text_source=TEXT_SOURCE_NEEDS_OCR)


def internal_failure(row: dict, error: BaseException) -> dict:
    """The failed row (error_code internal) of a document whose processing raised ``error``."""
    log.warning("document %r failed unexpectedly", row.get("doc_id"), exc_info=error)
    message = safe_text(f"{type(error).__name__}: {error}")
    row.update(status=STATUS_FAILED, error_code=ErrorCode.INTERNAL.value, error=message, pages=[], num_pages_processed=0)
    return row


class DocumentEngine:
    """The engine stage's function for one engine (a ``map_batches`` UDF)."""

    name: ClassVar[str] = ""  # the registry key and the row's ``engine`` column
    needs_images: ClassVar[bool] = True  # whether the render stage must encode page images
    num_cpus: ClassVar[float] = 1.0  # CPUs per task or actor unless configured

    def __init__(self, spec: "EngineSpec", stats=None):
        self.spec = spec
        self.stats = stats  # the run's stats actor (raypipe.runstats), or None
        self._node: Optional[str] = None
        self.cfg = spec.config
        self.preset = spec.preset

    def route(self, page: dict) -> bool:
        """Fill pages that skip the model; True when the page goes to the model."""
        if page.get("image") is None:  # failed to render
            page["text_source"] = page.get("text_source") or TEXT_SOURCE_FAILED
            return False
        if page.get("blank"):
            page.update(text="", text_source=TEXT_SOURCE_BLANK)
            return False
        mode = self.cfg.ocr_mode
        if mode == "never" or (mode == "auto" and self.keeps_text_layer(page)):
            text_layer_page(page)
            return False
        return True

    def keeps_text_layer(self, page: dict) -> bool:
        """--ocr-mode auto: the router's decision from the page's evidence (``route_reason``, set by
        the render stage); where there is none, the text layer's length."""
        reason = page.get("route_reason")
        if reason is None:
            keep = usable_text_layer(page.get("text_layer"), self.cfg.min_text_layer_chars)
            page["route_reason"] = "text_layer:long_enough" if keep else "model:too_little_text"
            return keep
        return reason.startswith("text_layer:")

    @property
    def node(self) -> str:
        if self._node is None:
            from raypipe.runstats import node_id

            self._node = node_id()
        return self._node

    def reported(self, row: dict) -> dict:
        """Count the finished document for its node in the run's stats (without waiting)."""
        if self.stats is not None:
            self.stats.documents.remote(self.node, 1, len(row.get("pages") or []))
        return row

    def start(self, row: dict) -> list[dict]:
        """Stamp the engine's columns on a document; returns the pages that go to the model."""
        row.update(engine=self.name, engine_started_at=time.time())
        if self.preset is not None:
            row.update(model=self.preset.model, preset=self.preset.name)
        if row.get("status") == STATUS_FAILED:
            return []
        return [page for page in row.get("pages") or [] if self.route(page)]

    def finish(self, row: dict, started: float) -> dict:
        """Drop the page images and record the document's time in the stage."""
        for page in row.get("pages") or []:
            page["image"] = None  # images stop here
        row["engine_seconds"] = time.perf_counter() - started
        row["engine_finished_at"] = time.time()
        return row

    @classmethod
    def stage(cls, ds, spec: "EngineSpec", ray_cfg: "RayConfig", ledger=None, stats=None):
        """The engine stage of the pipeline; each engine says how it runs."""
        raise NotImplementedError


class PageEngine(DocumentEngine):
    """Class UDF base for the model engines, on an actor pool: one document per block, many blocks
    (documents) in flight on the actor's one event loop."""

    def __init__(self, spec: "EngineSpec", ledger=None, max_doc_attempts: int = 3, stats=None):
        super().__init__(spec, stats)
        self.guard = ActorGuard(ledger, max_doc_attempts) if ledger is not None else None  # raypipe.faults
        self.temperatures = tuple(self.cfg.temperatures or self.preset.temperatures)
        self.max_tokens = self.cfg.max_tokens or self.preset.max_tokens

    async def generate(self, doc_id: str, image: PageImage, temperature: float) -> Generation:
        """One model call for one page image; raise ``RequestRejected`` to fail the page."""
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def call_bound(self):
        """Bounds one model call by ``engine.call_timeout``: past it the call is cancelled (the engine
        drops the request) and CallTimeout is raised."""
        seconds = self.cfg.call_timeout
        try:
            async with asyncio.timeout(seconds) as bound:
                yield
        except TimeoutError:
            if not bound.expired():
                raise
            raise CallTimeout(f"no answer within {seconds:g} s (engine.call_timeout)") from None

    async def document(self, row: dict) -> dict:
        try:
            async with self.guard.attempt(row["doc_id"]) if self.guard else contextlib.nullcontext():
                return self.reported(await self._document(row))
        except DocumentError as e:  # it crashed its actor max_doc_attempts times
            row.update(status=STATUS_FAILED, error_code=e.code.value, error=e.message, pages=[], num_pages_processed=0)
        except Exception as e:
            internal_failure(row, e)
        row.update(engine=self.name, model=self.preset.model, preset=self.preset.name)
        return self.reported(row)

    async def _document(self, row: dict) -> dict:
        started = time.perf_counter()
        to_model = self.start(row)
        doc_id = row["doc_id"]

        async def generate(image: PageImage, temperature: float) -> Generation:
            return await self.generate(doc_id, image, temperature)

        tasks = [
            asyncio.ensure_future(ocr_page(p, self.preset, generate, self.cfg.max_attempts, self.temperatures))
            for p in to_model
        ]
        try:
            async with asyncio.timeout(self.cfg.doc_timeout) as bound:
                await asyncio.gather(*tasks)
        except TimeoutError:
            if not bound.expired():
                raise
            self._timed_out(row, to_model)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        pages = row.get("pages") or []
        row["prompt_tokens"] = sum(p.get("prompt_tokens") or 0 for p in pages)
        row["completion_tokens"] = sum(p.get("completion_tokens") or 0 for p in pages)
        return self.finish(row, started)

    def _timed_out(self, row: dict, to_model: list[dict]) -> None:
        """The document ran past engine.doc_timeout: its unfinished pages fail, and so does it."""
        seconds = self.cfg.doc_timeout
        unfinished = [p for p in to_model if p.get("text_source") is None]
        for page in unfinished:
            fail_page(page, f"timeout: unfinished when its document reached engine.doc_timeout ({seconds:g} s)")
        row.update(
            status=STATUS_FAILED,
            error_code=ErrorCode.TIMEOUT.value,
            error=f"the document took longer than engine.doc_timeout ({seconds:g} s) in the engine stage; "
            f"{len(unfinished)} of {len(to_model)} pages sent to the model were unfinished",
        )

    async def __call__(self, batch: pa.Table) -> AsyncIterator[pa.Table]:
        pending = [asyncio.ensure_future(self.document(row)) for row in batch.to_pylist()]
        for done in asyncio.as_completed(pending):
            yield table([await done], WORK)

    @classmethod
    def actor_stage(cls, ds, ray_cfg: "RayConfig", ledger, constructor_kwargs: dict, **remote_args):
        """The actor-pool stage every model engine runs in: one document per block, and
        ``docs_in_flight`` of those tasks at once on each actor's one event loop."""
        import ray.data

        pool = ray_cfg.infer
        return ds.map_batches(
            cls,
            fn_constructor_kwargs={**constructor_kwargs, "ledger": ledger, "max_doc_attempts": ray_cfg.max_doc_attempts},
            batch_format="pyarrow",
            batch_size=1,
            zero_copy_batch=True,
            compute=ray.data.ActorPoolStrategy(
                min_size=pool.actors,
                max_size=pool.max_actors or pool.actors,
                max_tasks_in_flight_per_actor=pool.docs_in_flight,
                max_concurrent_calls_per_actor=pool.docs_in_flight,  # all on the actor's one event loop
            ),
            # engines spread over the nodes; and the render stage, which asks for no scheduling
            # strategy, can never be fused into an engine actor (Ray Data fuses only equal remote args)
            **{"scheduling_strategy": "SPREAD", **ray_cfg.stage("infer", cls.num_cpus), **remote_args},
        )
