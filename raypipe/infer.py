"""Stage 3 (OCR engine) — vLLM in actors: one async engine per actor, every page of the documents
the actor holds submitted at once (within a pages-in-flight budget), each document yielded as soon as
its last page is done.

Documents reach this stage one per block, and every actor runs ``docs_in_flight`` of those tasks at
once on one event loop, so continuous batching sees pages from many documents and no document
waits for an unrelated slow one. vLLM and torch are imported inside the actor only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
import uuid
from functools import partial
from typing import AsyncIterator

import pyarrow as pa

from raypipe.budget import FairBudget
from raypipe.config import EngineConfig, RayConfig
from raypipe.errors import DocumentError
from raypipe.faults import ActorGuard
from raypipe.ocr import Generation, RequestRejected, ocr_page, usable_text_layer
from raypipe.presets import Preset
from raypipe.schema import (
    STATUS_FAILED,
    TEXT_SOURCE_BLANK,
    TEXT_SOURCE_FAILED,
    TEXT_SOURCE_TEXT_LAYER,
    WORK,
    table,
)

ENGINE_NAME = "vllm"
# Defaults for the engine's process environment on CPU (a user's own settings win).
_CPU_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}


@dataclasses.dataclass(frozen=True)
class EngineSpec:
    """Everything an inference actor needs, resolved on the driver before any actor starts."""

    preset: Preset
    config: EngineConfig
    device: str  # "gpu" or "cpu"

    def engine_args(self) -> dict:
        cfg, preset = self.config, self.preset
        args = {
            "model": preset.model,
            "dtype": cfg.dtype,
            "max_model_len": cfg.max_model_len or preset.max_model_len,
            "limit_mm_per_prompt": {"image": 1},
            "tensor_parallel_size": cfg.tensor_parallel_size,
            "enforce_eager": cfg.enforce_eager,
            "trust_remote_code": cfg.trust_remote_code,
            "disable_log_stats": True,
        }
        if self.device == "gpu":
            args["gpu_memory_utilization"] = cfg.gpu_memory_utilization
            if cfg.tensor_parallel_size > 1:
                args["distributed_executor_backend"] = "ray"
        for key in ("max_num_seqs", "max_num_batched_tokens"):
            if getattr(cfg, key) is not None:
                args[key] = getattr(cfg, key)
        args.update(cfg.engine_kwargs)
        return args


def _chat_prompt(model: str, prompt: str, image_first: bool, trust_remote_code: bool) -> str:
    """The model's own chat template around one image and the prompt text."""
    from transformers import AutoProcessor, AutoTokenizer

    image, text = {"type": "image"}, {"type": "text", "text": prompt}
    messages = [{"role": "user", "content": [image, text] if image_first else [text, image]}]
    tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    processor = AutoProcessor.from_pretrained(model, trust_remote_code=trust_remote_code)
    return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


class VLLMInfer:
    """Class UDF for ``map_batches`` on an actor pool; one vLLM ``AsyncLLMEngine`` per actor."""

    def __init__(self, spec: EngineSpec, pages_in_flight: int, ledger=None, max_doc_attempts: int = 3):
        if spec.device == "cpu":
            for key, value in _CPU_ENV.items():
                os.environ.setdefault(key, value)
        try:
            from vllm import AsyncEngineArgs, AsyncLLMEngine
        except ImportError as e:
            extra = "cpu" if spec.device == "cpu" else "gpu"
            raise ImportError(f"the vllm engine needs vLLM: pip install 'raypipe[{extra}]' ({e})") from e
        self.spec = spec
        self.preset = spec.preset
        self.cfg = spec.config
        self.temperatures = tuple(self.cfg.temperatures or self.preset.temperatures)
        self.max_tokens = self.cfg.max_tokens or self.preset.max_tokens
        self.prompt = _chat_prompt(self.preset.model, self.preset.prompt, self.preset.image_first, self.cfg.trust_remote_code)
        self.engine = AsyncLLMEngine.from_engine_args(AsyncEngineArgs(**spec.engine_args()))
        self.budget = FairBudget(pages_in_flight)
        self.guard = ActorGuard(ledger, max_doc_attempts) if ledger is not None else None

    async def generate(self, doc_id: str, image, temperature: float) -> Generation:
        from vllm import SamplingParams

        params = SamplingParams(temperature=temperature, max_tokens=self.max_tokens)
        request = {"prompt": self.prompt, "multi_modal_data": {"image": image}}
        async with self.budget.slot(doc_id):
            final = None
            try:
                async for out in self.engine.generate(request, params, request_id=uuid.uuid4().hex):
                    final = out
            except Exception as e:
                if self.engine.errored:
                    self._exit_for_restart(e)
                # vLLM refused or failed this one request (e.g. a prompt longer than the context)
                raise RequestRejected(f"{type(e).__name__}: {e}") from e
        completion = final.outputs[0]
        return Generation(
            text=completion.text,
            finish_reason=completion.finish_reason,
            prompt_tokens=len(final.prompt_token_ids or ()),
            completion_tokens=len(completion.token_ids),
        )

    @staticmethod
    def _exit_for_restart(error: Exception) -> None:
        """The engine is dead and will not come back in this process: end the process so that Ray
        restarts the actor (with a fresh engine) and retries the documents it held."""
        logging.getLogger("raypipe").error("the vLLM engine died (%s); restarting the actor", error)
        os._exit(1)

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
        except DocumentError as e:  # crashed its actor too often
            row.update(status=STATUS_FAILED, error_code=e.code.value, error=e.message, pages=[], num_pages_processed=0)
            row.update(engine=ENGINE_NAME, model=self.preset.model, preset=self.preset.name)
            return row

    async def _document(self, row: dict) -> dict:
        start = time.perf_counter()
        row.update(engine=ENGINE_NAME, model=self.preset.model, preset=self.preset.name, engine_started_at=time.time())
        pages = row.get("pages") or []
        if row.get("status") != STATUS_FAILED:
            generate = partial(self.generate, row["doc_id"])
            to_model = [p for p in pages if self.route(p)]
            await asyncio.gather(
                *(ocr_page(p, self.preset, generate, self.cfg.max_attempts, self.temperatures) for p in to_model)
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

    def __del__(self):
        engine = getattr(self, "engine", None)
        if engine is not None:
            try:
                engine.shutdown()
            except Exception:
                pass


def _placement_group_args(tensor_parallel_size: int) -> dict:
    import ray
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    pg = ray.util.placement_group([{"GPU": 1, "CPU": 1}] * tensor_parallel_size, strategy="PACK")
    return {"scheduling_strategy": PlacementGroupSchedulingStrategy(pg, placement_group_capture_child_tasks=True)}


def infer_stage(ds, spec: EngineSpec, ray_cfg: RayConfig, ledger=None):
    import ray.data

    tp = spec.config.tensor_parallel_size
    kwargs: dict = {}
    if spec.device == "gpu" and tp > 1:
        kwargs["ray_remote_args_fn"] = partial(_placement_group_args, tp)
        num_gpus = 0  # the placement group holds the GPUs; vLLM's Ray executor places its workers there
    else:
        num_gpus = tp if spec.device == "gpu" else 0
    return ds.map_batches(
        VLLMInfer,
        fn_constructor_kwargs={
            "spec": spec,
            "pages_in_flight": ray_cfg.pages_in_flight,
            "ledger": ledger,
            "max_doc_attempts": ray_cfg.max_doc_attempts,
        },
        batch_format="pyarrow",
        batch_size=1,
        zero_copy_batch=True,
        num_gpus=num_gpus,
        num_cpus=ray_cfg.infer_num_cpus,
        compute=ray.data.ActorPoolStrategy(
            min_size=ray_cfg.infer_actors,
            max_size=ray_cfg.infer_max_actors or ray_cfg.infer_actors,
            max_tasks_in_flight_per_actor=ray_cfg.docs_in_flight,
            max_concurrent_calls_per_actor=ray_cfg.docs_in_flight,  # all on the actor's one event loop
        ),
        **kwargs,
    )
