"""What the engine actors report during a run, for its summary: how many documents and pages each node's
engines finished, and each vLLM engine's own statistics — the limits it resolved, how full its KV cache
and its batch were, how many requests waited, were preempted or hit the prefix cache — so that a user
sees why a GPU was under-fed.

One small actor per run (no CPU reserved) keeps the reports; actors send theirs without waiting.
"""

from __future__ import annotations

import uuid
from typing import Optional


class RunStats:
    """The run's reports (a Ray actor; see :func:`start`)."""

    def __init__(self):
        self.nodes: dict[str, dict[str, int]] = {}
        self.engines: dict[str, dict] = {}
        self.skipped: dict[str, int] = {}

    def documents(self, node: str, documents: int, pages: int) -> None:
        counts = self.nodes.setdefault(node, {"documents": 0, "pages": 0})
        counts["documents"] += documents
        counts["pages"] += pages

    def engine(self, key: str, stats: dict) -> None:
        self.engines[key] = stats  # each report is cumulative: the last one wins

    def listing(self, key: str, skipped: int) -> None:
        """A read task's count of listed documents a resume skipped (a retried task's report replaces its own)."""
        self.skipped[key] = skipped

    def snapshot(self) -> dict:
        return {"nodes": self.nodes, "engines": self.engines, "skipped": self.skipped}


def start():
    import ray

    from raypipe.cluster import on_driver_node

    remote = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(RunStats)
    return remote.options(name=f"raypipe-stats-{uuid.uuid4().hex[:12]}", **on_driver_node()).remote()


def node_id() -> str:
    """This process's node, as the summary names it (its IP address, else Ray's node id)."""
    import ray

    try:
        return ray.util.get_node_ip_address() + ":" + ray.get_runtime_context().get_node_id()[:8]
    except Exception:  # noqa: BLE001 - outside Ray (a test): one anonymous node
        return "local"


def collect(stats) -> Optional[dict]:
    """The run's reports, summed over the engines (None without a stats actor)."""
    import ray

    if stats is None:
        return None
    try:
        snapshot = ray.get(stats.snapshot.remote(), timeout=30)
    except Exception:  # noqa: BLE001 - the data is written; a missing figure must not fail the run
        return None
    engines = list(snapshot["engines"].values())
    summed: dict = {}
    for name in ("kv_cache_usage_mean", "kv_cache_usage_max", "running_mean", "running_max", "waiting_mean",
                 "waiting_max"):
        values = [e[name] for e in engines if e.get(name) is not None]
        if values:
            summed[name] = round(max(values) if name.endswith("_max") else sum(values) / len(values), 4)
    for name in ("preemptions", "prefix_cache_queries", "prefix_cache_hits", "steps"):
        values = [e[name] for e in engines if e.get(name) is not None]
        if values:
            summed[name] = sum(values)
    limits = [e["limits"] for e in engines if e.get("limits")]
    return {"documents_skipped": sum(snapshot["skipped"].values()), "documents_by_node": snapshot["nodes"],
            "engines": len(engines),
            "engine_limits": limits[0] if limits and all(x == limits[0] for x in limits) else limits,
            "engine_stats": summed}
