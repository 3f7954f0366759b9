"""A vLLM engine's own statistics, gathered from its stat-logger hook while it runs: the KV cache's use,
the batch (running and waiting requests) per engine step, preemptions and prefix-cache hits — what
tells a user why a GPU was under-fed. Reported to the run's stats (:mod:`raypipe.runstats`)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class EngineStats:
    steps: int = 0
    kv_cache_usage_sum: float = 0.0
    kv_cache_usage_max: float = 0.0
    running_sum: int = 0
    running_max: int = 0
    waiting_sum: int = 0
    waiting_max: int = 0
    preemptions: int = 0
    prefix_cache_queries: int = 0
    prefix_cache_hits: int = 0

    def record(self, scheduler, iteration) -> None:
        if scheduler is not None:
            self.steps += 1
            self.kv_cache_usage_sum += scheduler.kv_cache_usage
            self.kv_cache_usage_max = max(self.kv_cache_usage_max, scheduler.kv_cache_usage)
            self.running_sum += scheduler.num_running_reqs
            self.running_max = max(self.running_max, scheduler.num_running_reqs)
            self.waiting_sum += scheduler.num_waiting_reqs
            self.waiting_max = max(self.waiting_max, scheduler.num_waiting_reqs)
            prefix = getattr(scheduler, "prefix_cache_stats", None)
            if prefix is not None:
                self.prefix_cache_queries += getattr(prefix, "queries", 0) or 0
                self.prefix_cache_hits += getattr(prefix, "hits", 0) or 0
        if iteration is not None:
            self.preemptions += getattr(iteration, "num_preempted_reqs", 0) or 0

    def snapshot(self) -> dict:
        n = max(self.steps, 1)
        return {
            "steps": self.steps,
            "kv_cache_usage_mean": round(self.kv_cache_usage_sum / n, 4),
            "kv_cache_usage_max": round(self.kv_cache_usage_max, 4),
            "running_mean": round(self.running_sum / n, 2),
            "running_max": self.running_max,
            "waiting_mean": round(self.waiting_sum / n, 2),
            "waiting_max": self.waiting_max,
            "preemptions": self.preemptions,
            "prefix_cache_queries": self.prefix_cache_queries,
            "prefix_cache_hits": self.prefix_cache_hits,
        }


def stat_logger(stats: EngineStats):
    """A vLLM stat logger class (its StatLoggerBase) that records into ``stats``."""
    from vllm.v1.metrics.loggers import StatLoggerBase

    class RaypipeStatLogger(StatLoggerBase):
        def __init__(self, vllm_config, engine_index: int = 0):
            pass

        def record(self, scheduler_stats, iteration_stats, mm_cache_stats=None, engine_idx: int = 0):
            stats.record(scheduler_stats, iteration_stats)

        def log_engine_initialized(self):
            pass

    return RaypipeStatLogger


def resolved_limits(engine) -> dict:
    """The batch limits and KV cache an engine actually resolved (read back from its configuration)."""
    config = engine.vllm_config
    return {
        "max_num_seqs": config.scheduler_config.max_num_seqs,
        "max_num_batched_tokens": config.scheduler_config.max_num_batched_tokens,
        "max_model_len": config.model_config.max_model_len,
        "dtype": str(config.model_config.dtype).removeprefix("torch."),
        "kv_cache_blocks": getattr(config.cache_config, "num_gpu_blocks", None),
    }
