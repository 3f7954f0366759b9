"""Side (b) of bench/engine.py: raypipe's own stages on a local Ray, built with their public builders.

engine mode: pre-rendered documents (one per block, as the pipeline hands them on) through the engine
stage, ``raypipe.engines.get("vllm").stage``; timed from the moment the actor's engine was ready to
the last document it finished. e2e mode: the PDFs through read → render → engine → postprocess (the
stages ``raypipe.pipeline.build_dataset`` chains); rendering is held back until the engine is ready
(a run renders while its engine starts; the raw side renders inside its timer), and the time runs
from then until the driver has every output row. A model on the CPUs gets the cores a run gives it
(``raypipe.engines.cpu_cores``); the figures add when the documents reached the engine and the
engine's own statistics.

The engine class is raypipe's own with two additions the pipeline has no option for yet, both outside
the measured work: it reports the limits its started engine resolved (and the time it was ready) to a
small named actor, and it sets the bench's fixed sampling fields (``ignore_eos``) on every request it
hands to vLLM. Everything else — prompt, page budget, retries, parsing, image decoding — is raypipe's.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import engine_setup as es


class Box:
    """Named actor: the engine's resolved limits and the time it was ready; it also stands in for the
    run's stats actor (raypipe.runstats), so that the engine's own statistics come back with the figures."""

    def __init__(self):
        self.state: dict = {}

    def engine(self, key: str, snapshot: dict) -> None:
        self.state["engine_stats"] = snapshot

    def documents(self, node: str, documents: int, pages: int) -> None:
        pass

    def ready(self, limits: dict, at: float) -> None:
        self.state.setdefault("limits", limits)
        self.state.setdefault("ready_at", at)

    def get(self) -> dict:
        return self.state


class SamplingOverride:
    """A vLLM engine whose every request gets fixed sampling fields (e.g. ``ignore_eos``)."""

    def __init__(self, engine, overrides: dict):
        self._engine = engine
        self._overrides = overrides

    def generate(self, *args, **kwargs):
        if "sampling_params" in kwargs:
            kwargs["sampling_params"] = self._override(kwargs["sampling_params"])
        else:
            args = (args[0], self._override(args[1]), *args[2:])
        return self._engine.generate(*args, **kwargs)

    def _override(self, params):
        params = params.clone()
        for name, value in self._overrides.items():
            setattr(params, name, value)
        return params

    def __getattr__(self, name):
        return getattr(self._engine, name)


def bench_engine(base: type, box_name: str, overrides: dict) -> type:
    """``base`` (raypipe's engine class) reporting to the box, with the sampling overrides."""

    class BenchEngine(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            import ray

            limits = es.resolved_limits(self.engine.vllm_config)
            if overrides:
                self.engine = SamplingOverride(self.engine, overrides)
            ray.get(ray.get_actor(box_name).ready.remote(limits, time.time()))

    BenchEngine.__name__ = BenchEngine.__qualname__ = base.__name__
    return BenchEngine


def wait_for_engine(batch, box_name: str):
    """Map function: hold the documents back until the engine is ready (so that its start-up, which
    the raw side does not time either, hides no rendering)."""
    import os

    import ray

    if os.environ.get("RAYPIPE_BENCH_READY") != box_name:  # once per process
        box = ray.get_actor(box_name)
        while "ready_at" not in ray.get(box.get.remote()):
            time.sleep(0.05)
        os.environ["RAYPIPE_BENCH_READY"] = box_name
    return batch


def engine_dataset(folder: Path, args):
    import pyarrow as pa
    import ray

    from raypipe.schema import WORK

    blocks = []
    for d, images in enumerate(es.rendered_pages(folder)):
        pages = [{"page_number": i + 1, "image": img, "text_layer": ""} for i, img in enumerate(images)]
        row = {"doc_id": f"doc-{d:05d}", "source": "bench", "status": "ok", "num_pages": len(pages), "pages": pages}
        blocks.append(pa.Table.from_pylist([row], schema=WORK))
    return ray.data.from_arrow(blocks)


def pipeline_dataset(folder: Path, args, ray_cfg, box_name: str, ledger):
    """read → (wait for the engine) → render, as ``build_dataset`` chains them."""
    from raypipe.config import InputConfig, RenderConfig
    from raypipe.faults import RenderGuard
    from raypipe.listing import plan_units
    from raypipe.read import read_documents
    from raypipe.render import render_stage

    inp = InputConfig(inputs=[str(folder / "pdfs")])  # raypipe's default blocks, as a run makes them
    ds = read_documents(plan_units(inp), inp)
    ds = ds.map_batches(wait_for_engine, fn_kwargs={"box_name": box_name}, batch_format="pyarrow",
                        batch_size=None, zero_copy_batch=True)
    render = RenderConfig(longest_side=args.longest_side, max_pages=None)
    guard = RenderGuard(ledger, ray_cfg.max_doc_attempts) if ledger else None
    return render_stage(ds, render, inp, images=True, remote_args=ray_cfg.stage("render", 1.0), guard=guard)


def _quantiles(values: list[float]) -> dict:
    values = sorted(values)
    pick = lambda q: round(values[min(len(values) - 1, int(q * len(values)))], 2)  # noqa: E731
    return {"first": round(values[0], 2), "median": pick(0.5), "p90": pick(0.9), "last": round(values[-1], 2)}


def run(args, s: es.Setup, folder: Path) -> dict:
    import ray
    import ray.cloudpickle

    from raypipe import engines
    from raypipe.cluster import connect, local_split, resources
    from raypipe.config import EngineResources, RayConfig
    from raypipe.engines import cpu_cores, sizing
    from raypipe.faults import start_ledger
    from raypipe.plan import with_cores
    from raypipe.postprocess import postprocess_stage

    for module in (sys.modules[__name__], es):  # the bench's code travels with the actor, by value
        ray.cloudpickle.register_pickle_by_value(module)
    infer = {k: v for k, v in (("docs_in_flight", args.docs_in_flight), ("pages_in_flight", args.pages_in_flight)) if v}
    ray_cfg = RayConfig(address=args.address, infer=EngineResources(**infer))
    # as raypipe connects (a local Ray of its own unless --address says otherwise), on the cores a run
    # gives it when the model is on the CPUs (raypipe.engines.cpu_cores)
    wanted = cpu_cores.for_local_run(s.spec.config, ray_cfg.infer.actors)
    connect(ray_cfg, wanted)
    spec = with_cores(s.spec, local_split(), wanted)
    sized = sizing.size(spec, ray_cfg, resources())  # actors and in-flight counts, as a run's plan sizes them
    ray_cfg = ray_cfg.model_copy(update={"infer": ray_cfg.infer.model_copy(update={
        "actors": sized.min_actors, "max_actors": sized.max_actors,
        "docs_in_flight": sized.docs_in_flight, "pages_in_flight": sized.pages_in_flight})})
    box_name = f"raypipe-bench-{uuid.uuid4().hex[:8]}"
    box = ray.remote(num_cpus=0)(Box).options(name=box_name).remote()
    ledger = start_ledger() if ray_cfg.max_doc_attempts else None  # as build_dataset does
    engine = bench_engine(engines.get("vllm"), box_name, {"ignore_eos": True} if s.ignore_eos else {})

    if args.mode == "engine":
        ds = engine.stage(engine_dataset(folder, args), spec, ray_cfg, ledger, stats=box)
    else:
        ds = engine.stage(pipeline_dataset(folder, args, ray_cfg, box_name, ledger), spec, ray_cfg, ledger, stats=box)
        ds = postprocess_stage(ds, spec.config.max_page_error_rate, ray_cfg.stage("postprocess", 0.25))
    columns = ["doc_id", "engine_started_at", "engine_finished_at", "prompt_tokens", "completion_tokens", "pages"]
    with cpu_cores.pinned(spec.cores.pipeline if spec.cores else None):  # the driver, as a run pins it
        rows = ds.select_columns(columns).take_all()
    end = time.time()
    state = ray.get(box.get.remote())
    if args.mode == "engine":
        end = max(r["engine_finished_at"] for r in rows)
    pages = [p for r in rows for p in r["pages"]]
    completion = [p["completion_tokens"] or 0 for p in pages]
    result = {
        "seconds": end - state["ready_at"],
        "pages": len(pages),
        "pages_generated": sum(1 for n in completion if n),
        "completion_tokens": sum(completion),
        "prompt_tokens": sum(p["prompt_tokens"] or 0 for p in pages),
        "tokens_per_page": sorted(set(completion)),
        "attempts": sorted({p["attempts"] or 0 for p in pages}),
        "documents": len(rows),
        "limits": state["limits"],
        "cpu_cores": spec.cores.as_dict() if spec.cores else None,
        # when documents reached the engine, from the moment it was ready: an engine fed late runs part empty
        "arrival_seconds": _quantiles([r["engine_started_at"] - state["ready_at"] for r in rows]),
        "engine_stats": state.get("engine_stats"),
    }
    ray.shutdown()
    return result
