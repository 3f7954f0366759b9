"""How big the engine stage is: how many engine actors (as many as the cluster's GPUs allow, growing
with its autoscaler), the batch limits each vLLM engine gets, and how many pages and documents each
actor keeps in flight so that the engine is never starved — a pure function of the configuration,
the resolved engine and the cluster's resources, decided before any actor starts.

Why these defaults (see the README's GPU section for the figures): vLLM's async engine resolves
``max_num_seqs`` 128 and ``max_num_batched_tokens`` 2048 on its own (the offline ``LLM`` gets 1024 /
16384 on an H200); measured on one H200 with Qwen2.5-VL-7B shapes, 1288 px pages and 800 tokens out,
512 / 16384 reached 11.77 pages/s against 10.27 at the defaults. ``max_num_seqs`` is a ceiling: a card
with less memory admits as many sequences as its KV cache holds. On CPU the engine gets what vLLM's
offline ``LLM`` gets there (256 / 4096).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from raypipe.cluster import ClusterResources
    from raypipe.config import RayConfig
    from raypipe.engines.resolve import EngineSpec

GPU_LIMITS = {"max_num_seqs": 512, "max_num_batched_tokens": 16384}
CPU_LIMITS = {"max_num_seqs": 256, "max_num_batched_tokens": 4096}
OPENAI_PAGES = None  # the openai engine's pages in flight are its max_concurrency


@dataclasses.dataclass(frozen=True)
class EngineSizing:
    min_actors: int
    max_actors: int
    gpus_per_actor: float
    docs_in_flight: int  # documents each actor works on at once (Ray tasks in flight per actor)
    pages_in_flight: int  # pages each actor keeps submitted to its engine
    limits: dict  # vLLM's max_num_seqs and max_num_batched_tokens as the engine gets them ({} for others)


def limits(spec: "EngineSpec") -> dict:
    """The batch limits a vLLM engine gets: as configured, else the device's defaults."""
    if spec.name != "vllm":
        return {}
    cfg = spec.config.vllm
    defaults = GPU_LIMITS if spec.device == "gpu" else CPU_LIMITS
    return {key: getattr(cfg, key) or value for key, value in defaults.items()}


def size(spec: "EngineSpec", ray_cfg: "RayConfig", cluster: Optional["ClusterResources"]) -> EngineSizing:
    """The engine stage's size (explicit options always win)."""
    pool = ray_cfg.infer
    gpus_each = spec.config.vllm.tensor_parallel_size if (spec.name == "vllm" and spec.device == "gpu") else 0
    if gpus_each and cluster is not None:
        now = int(cluster.gpus // gpus_each)
        most = int(max(cluster.gpus, cluster.max_gpus or 0) // gpus_each)
    else:  # CPU engines and endpoints: one actor unless asked for more
        now = most = 1
    min_actors = pool.actors or max(1, now)
    max_actors = pool.max_actors or max(min_actors, most)
    engine_limits = limits(spec)
    if pool.pages_in_flight:
        pages = pool.pages_in_flight
    elif engine_limits:  # the engine's sequences, and a queue behind them so it never drains
        seqs = engine_limits["max_num_seqs"]
        pages = seqs + max(16, seqs // 4)
    elif spec.name == "openai":
        pages = spec.config.openai.max_concurrency
    else:
        pages = 1
    docs = pool.docs_in_flight or max(pages, 1)  # one-page documents must be able to fill every slot
    return EngineSizing(min_actors, max_actors, float(gpus_each), docs, pages, engine_limits)


def apply(config, spec: "EngineSpec", sizing: EngineSizing):
    """The configuration with the sizing written into it (actors, in-flight counts, vLLM's limits), so that
    every stage reads concrete values; returns (config, spec)."""
    infer = config.ray.infer.model_copy(update={
        "actors": sizing.min_actors, "max_actors": sizing.max_actors,
        "docs_in_flight": sizing.docs_in_flight, "pages_in_flight": sizing.pages_in_flight,
    })
    engine = config.engine
    if sizing.limits:
        engine = engine.model_copy(update={"vllm": engine.vllm.model_copy(update=sizing.limits)})
    config = config.model_copy(update={"ray": config.ray.model_copy(update={"infer": infer}), "engine": engine})
    return config, dataclasses.replace(spec, config=engine)
