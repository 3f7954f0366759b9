"""Everything a run would use, resolved once on the driver before any actor starts: the documents,
the output's state, the engine and its device, the cluster. Each check raises a
:class:`~raypipe.errors.UsageError` naming the option to fix (the CLI's exit code 2).

Order matters: what needs no Ray is checked first (inputs, output, an openai endpoint), so that a
wrong option costs no cluster start; then Ray is started or attached to, once, and the engine is
resolved against what the cluster offers. Nothing is deleted or written here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from typing import Optional
from urllib.parse import urlsplit

from raypipe import cluster
from raypipe.config import PipelineConfig
from raypipe.engines import cpu_cores, sizing
from raypipe.engines.resolve import EngineSpec, resolve_engine, with_engine_defaults
from raypipe.errors import OutputExistsError, OutputRefusedError, UsageError
from raypipe.listing import Unit, input_roots, plan_units
from raypipe.output import (
    OutputFolder,
    busy_message,
    check_folder,
    check_fresh,
    conflicting,
    new_run_id,
    slice_name,
)
from raypipe.schema import SCHEMA_VERSION

log = logging.getLogger("raypipe")


@dataclasses.dataclass(frozen=True)
class Plan:
    config: PipelineConfig  # with the engine's defaults and sizes written in (page size, actors, ...)
    units: list[Unit]  # the listing's work for the read tasks (never the document list itself)
    engine: EngineSpec
    cluster: cluster.ClusterResources
    existing_files: list[str]  # raypipe's data files already in the output (resumed, or deleted by --fresh)
    run_id: str = dataclasses.field(default_factory=new_run_id)
    settings: dict = dataclasses.field(default_factory=dict)  # what shapes the text (see text_settings)
    read_tasks: int = 4  # listing tasks: proportional to the cluster, not to the input


def text_settings(config: PipelineConfig, spec: EngineSpec) -> dict:
    """The settings that change what a run writes; an output keeps one set (see ``check_settings``)."""
    render = config.render
    shard = config.input.shard_slice()
    settings = {
        "engine": spec.name,
        "format": config.output.format if config.output else None,
        "pages": [render.first_page, render.last_page, render.max_pages],
        "shards": shard[1] if shard else 1,  # slices of one count share an output; another count would not
        "schema_version": SCHEMA_VERSION,  # the columns of the rows already written
        "text_layer": render.text_layer,  # layout or raw: the text-layer text itself
    }
    if spec.preset is not None:
        settings.update(
            model=spec.preset.model,
            preset=spec.preset.name,
            prompt=hashlib.sha256(spec.preset.prompt.encode()).hexdigest()[:16],
            parser=spec.preset.parser,
            longest_side=render.longest_side,
            ocr_mode=config.engine.ocr_mode,
        )
    return settings


def check_output(config: PipelineConfig, folder: Optional[OutputFolder]) -> list[str]:
    """Existing output is resumed (when it has a checkpoint) or started over (--fresh, only where raypipe
    can prove what it wrote), never mixed with files raypipe did not write. Returns raypipe's data
    files already there. Deletes nothing."""
    if folder is None:
        return []
    out = config.output
    check_folder(folder)
    held = conflicting(folder.live_leases(), slice_name(config.input.shard_slice()), "")
    if held:
        raise OutputRefusedError(busy_message(out.output, held))
    if out.fresh and config.input.shard:
        raise OutputRefusedError("--fresh cannot be combined with --shard: starting over would delete the other slices' output")
    if out.fresh:
        check_fresh(folder, input_roots(config.input))
    foreign = folder.foreign()
    if foreign:
        raise OutputExistsError(
            f"output {out.output!r} holds files raypipe did not write (e.g. {foreign[0]!r}); raypipe writes only "
            "into a new or empty folder, or one of its own outputs. Choose another --output"
        )
    existing = folder.data_files()
    if out.retry_failed and not out.resume:
        raise OutputExistsError("--retry-failed needs the checkpoint; it cannot be combined with --no-resume")
    if out.fresh:
        return existing
    if existing and not out.resume:
        raise OutputExistsError(
            f"output {out.output!r} already holds {len(existing)} raypipe data files (e.g. {existing[0]}) and "
            "--no-resume was given; pass --fresh to replace them"
        )
    if existing and not folder.has_checkpoint():
        raise OutputExistsError(
            f"output {out.output!r} holds {len(existing)} raypipe data files (e.g. {existing[0]}) written without "
            "a checkpoint (--no-resume), so it cannot be resumed; pass --fresh to start over, or choose another --output"
        )
    return existing


def check_settings(config: PipelineConfig, folder: Optional[OutputFolder], settings: dict) -> None:
    """A resume with settings that change the text is refused unless --allow-changed-settings."""
    if folder is None or config.output.fresh or config.output.allow_changed_settings:
        return
    recorded = (folder.marker() or {}).get("settings")
    if not recorded or not (folder.data_files() or folder.committed()):
        return  # nothing written under the old settings (a run that stopped before its first file)
    changed = {k: (recorded.get(k), v) for k, v in settings.items() if recorded.get(k) != v}
    if changed:
        what = "; ".join(f"{k}: {old!r} before, {new!r} now" for k, (old, new) in sorted(changed.items()))
        raise OutputRefusedError(
            f"output {config.output.output!r} was written with other settings ({what}). Pass "
            "--allow-changed-settings to resume into it anyway, --fresh to start over, or choose another --output"
        )


def with_secrets(config: PipelineConfig) -> PipelineConfig:
    """Passwords from --passwords-env (one per line) join those given, on the driver only."""
    name = config.input.passwords_env
    if not name:
        return config
    if name not in os.environ:
        raise UsageError(f"--passwords-env: the environment variable {name!r} is not set")
    more = [line for line in os.environ[name].splitlines() if line]
    return config.model_copy(update={"input": config.input.model_copy(update={"passwords": [*config.input.passwords, *more]})})


def warn_plain_http(spec: EngineSpec) -> None:
    host = urlsplit(spec.config.openai.base_url or "").hostname or ""
    if spec.api_key and spec.config.openai.base_url.startswith("http://") and host not in ("localhost", "::1") \
            and not host.startswith("127."):
        log.warning("the API key will be sent to %s over plain http, readable on the network; use https://",
                    spec.config.openai.base_url)


def make_plan(config: PipelineConfig) -> Plan:
    """Run every pre-run check once and start (or attach to) Ray; raises UsageError."""
    from raypipe.engines.openai import check_endpoint

    config = with_secrets(config)
    units = plan_units(config.input, config.storage, parallelism=64)  # regrouped into read tasks below
    folder = OutputFolder(config.output.output, config.storage) if config.output else None
    existing = check_output(config, folder)
    spec = None
    if config.engine.engine == "openai":  # needs no cluster: check the endpoint before Ray starts
        spec = resolve_engine(config.engine, None)
        warn_plain_http(spec)
        check_endpoint(spec)
    pool = config.ray.infer
    wanted = cpu_cores.for_local_run(config.engine, max(pool.actors or 1, pool.max_actors or 1))
    how = cluster.connect(config.ray, wanted)
    resources = cluster.resources()
    log.info("running on %s: %g CPUs, %g GPUs, %d nodes", how, resources.cpus, resources.gpus, resources.nodes)
    spec = spec or resolve_engine(config.engine, resources)
    spec = with_cores(spec, cluster.local_split(), wanted)
    config, spec = sizing.apply(with_engine_defaults(config, spec), spec, sizing.size(spec, config.ray, resources))
    settings = text_settings(config, spec)
    check_settings(config, folder, settings)
    tasks = max(2, min(len(units), int(resources.cpus) or 1))
    return Plan(config, units, spec, resources, existing, settings=settings, read_tasks=tasks)


def with_cores(spec: EngineSpec, cores: Optional[cpu_cores.CoreSplit], wanted: Optional[cpu_cores.CoreSplit]) -> EngineSpec:
    """The spec with the core split of the local Ray raypipe started (``cores``), which its processes
    keep to for as long as it lives: a model on the CPUs must then bind to the split's engine cores,
    even where this run's own options (``wanted``) would split otherwise, or not at all."""
    if cores is None:
        return spec
    if spec.name != "vllm" or spec.device != "cpu":
        log.warning("this Ray was started by raypipe for a model on the CPUs: its processes keep to CPUs %s",
                    list(cores.pipeline))
        return spec
    if wanted != cores:
        log.warning("this Ray was started with vLLM's threads on CPUs %s and the rest on CPUs %s; this run "
                    "keeps to that split (ray.shutdown() first for another)", list(cores.engine), list(cores.pipeline))
    log.info("vLLM on CPUs %s, everything else on CPUs %s (--cpu-pipeline-cores)", list(cores.engine), list(cores.pipeline))
    return dataclasses.replace(spec, cores=cores)


SIZE_BATCH = 4096  # file sizes looked up per call (one batched lookup per filesystem)


def inventory(units: list[Unit], cfg, storage=None, shard=None) -> dict:
    """Count, total bytes and known failures of the documents the units list, streamed: memory stays
    bounded (the listing's own repeat check, and a batch of paths per filesystem) whatever the count."""
    import collections

    from raypipe.listing import Seen, documents
    from raypipe.read import in_shard
    from raypipe.storage import resolve

    count, size, failures = 0, 0, collections.Counter()
    batches: dict = {}

    def look_up(fs, paths: list) -> None:
        nonlocal size
        size += sum(info.size or 0 for info in fs.get_file_info(paths))
        paths.clear()

    seen = Seen()
    for unit in units:
        for d in documents(unit, cfg, storage, seen):
            if not in_shard(d.doc_id, shard):
                continue
            count += 1
            if d.error_code:
                failures[d.error_code] += 1
            elif d.source:
                fs, inner = resolve(d.source, storage)
                fs_and_paths = batches.setdefault(id(fs), (fs, []))
                fs_and_paths[1].append(inner)
                if len(fs_and_paths[1]) >= SIZE_BATCH:
                    look_up(*fs_and_paths)
    for fs, paths in batches.values():
        if paths:
            look_up(fs, paths)
    return {"count": count, "bytes": size, "known_failures": dict(failures)}


def describe(plan: Plan) -> dict:
    """What a run would use, as JSON-ready data (``raypipe plan``). Lists every document on this process
    to count them, streaming (a run lists them in its read tasks instead)."""
    from raypipe.engines.vllm import engine_args
    from raypipe.write import WRITE_NUM_CPUS

    config, spec, ray_cfg = plan.config, plan.engine, plan.config.ray
    pool = ray_cfg.infer
    model_engine = spec.name != "text-layer"
    render = ray_cfg.stage("render", 1.0)
    folder = OutputFolder(config.output.output, config.storage) if config.output else None
    return {
        "documents": {
            **inventory(plan.units, config.input, config.storage, config.input.shard_slice()),
            "read_tasks": plan.read_tasks,
        },
        "cluster": dataclasses.asdict(plan.cluster),
        "engine": {
            "name": spec.name,
            "device": spec.device,
            "preset": spec.preset.name if spec.preset else None,
            "model": spec.preset.model if spec.preset else None,
            "cpu_cores": spec.cores.as_dict() if spec.cores else None,
        },
        "actors": {
            "min": pool.actors if model_engine else None,
            "max": pool.max_actors if model_engine else None,
            "gpus_each": config.engine.vllm.tensor_parallel_size if spec.device == "gpu" else 0,
            "cpus_each": ray_cfg.stage("infer", engines_num_cpus(spec.name))["num_cpus"],
        },
        "engine_args": engine_args(spec) if spec.name == "vllm" else {},
        "pages_in_flight": pool.pages_in_flight if model_engine else None,
        "docs_in_flight": pool.docs_in_flight if model_engine else None,
        "render": {
            "num_cpus": render["num_cpus"],
            "concurrency": render.get("concurrency") or max(1, int(plan.cluster.cpus // render["num_cpus"])),
            "longest_side": config.render.longest_side,
            "images": model_engine,
        },
        "write": ray_cfg.stage("write", WRITE_NUM_CPUS, job_wide=False),
        "output": None if folder is None else {
            "path": config.output.output,
            "format": config.output.format,
            "data_files": len(plan.existing_files),
            "resume": bool(plan.existing_files) and not config.output.fresh,
            "fresh": config.output.fresh,
            "checkpoint": folder.has_checkpoint(),
        },
    }


def engines_num_cpus(name: str) -> float:
    from raypipe import engines

    return engines.get(name).num_cpus


def render_table(described: dict) -> str:
    """``raypipe plan``'s table: one line per item, nested keys joined with dots."""
    lines = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else key, item)
        else:
            lines.append(f"{prefix:<34} {value}")

    walk("", described)
    return "\n".join(lines)
