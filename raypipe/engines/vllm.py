"""The vllm engine: one async vLLM engine per actor, every page of the documents the actor holds
submitted at once (within a pages-in-flight budget), each document yielded as soon as its last page
is done.

Documents reach this stage one per block, and every actor runs ``docs_in_flight`` of those tasks at
once on one event loop, so continuous batching sees pages from many documents and no document
waits for an unrelated slow one. vLLM and torch are imported inside the actor only.
"""

from __future__ import annotations

import logging
import os
import uuid
from functools import partial

from raypipe.engines.base import PageEngine
from raypipe.engines.budget import FairBudget
from raypipe.engines.image import PageImage
from raypipe.engines.pages import Generation, RequestRejected
from raypipe.engines.resolve import EngineSpec

# Defaults for the engine's process environment on CPU (a user's own settings win).
_CPU_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}


def engine_args(spec: EngineSpec) -> dict:
    """The vLLM engine arguments of a resolved spec."""
    cfg, preset = spec.config.vllm, spec.preset
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
    if spec.device == "gpu":
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


class VLLMInfer(PageEngine):
    """Class UDF for ``map_batches`` on an actor pool; one vLLM ``AsyncLLMEngine`` per actor."""

    name = "vllm"

    def __init__(self, spec: EngineSpec, pages_in_flight: int, ledger=None, max_doc_attempts: int = 3):
        if spec.device == "cpu":
            for key, value in _CPU_ENV.items():
                os.environ.setdefault(key, value)
        try:
            from vllm import AsyncEngineArgs, AsyncLLMEngine
        except ImportError as e:
            extra = "cpu" if spec.device == "cpu" else "gpu"
            raise ImportError(f"the vllm engine needs vLLM: pip install 'raypipe[{extra}]' ({e})") from e
        super().__init__(spec, ledger, max_doc_attempts)
        trust = self.cfg.vllm.trust_remote_code
        self.prompt = _chat_prompt(self.preset.model, self.preset.prompt, self.preset.image_first, trust)
        self.engine = AsyncLLMEngine.from_engine_args(AsyncEngineArgs(**engine_args(spec)))
        self.budget = FairBudget(pages_in_flight)

    async def generate(self, doc_id: str, image: PageImage, temperature: float) -> Generation:
        from vllm import SamplingParams

        params = SamplingParams(temperature=temperature, max_tokens=self.max_tokens)
        async with self.budget.slot(doc_id):
            request = {"prompt": self.prompt, "multi_modal_data": {"image": image.decode()}}
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

    def __del__(self):
        engine = getattr(self, "engine", None)
        if engine is not None:
            try:
                engine.shutdown()
            except Exception:
                pass


    @classmethod
    def stage(cls, ds, spec: EngineSpec, ray_cfg, ledger=None):
        tp = spec.config.vllm.tensor_parallel_size
        kwargs: dict = {}
        if spec.device == "gpu" and tp > 1:
            kwargs["ray_remote_args_fn"] = partial(_placement_group_args, tp)
            num_gpus = 0  # the placement group holds the GPUs; vLLM's Ray executor places its workers there
        else:
            num_gpus = tp if spec.device == "gpu" else 0
        args = {"spec": spec, "pages_in_flight": ray_cfg.infer.pages_in_flight}
        return cls.actor_stage(ds, ray_cfg, ledger, args, num_gpus=num_gpus, **kwargs)


def _placement_group_args(tensor_parallel_size: int) -> dict:
    import ray
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    pg = ray.util.placement_group([{"GPU": 1, "CPU": 1}] * tensor_parallel_size, strategy="PACK")
    return {"scheduling_strategy": PlacementGroupSchedulingStrategy(pg, placement_group_capture_child_tasks=True)}
