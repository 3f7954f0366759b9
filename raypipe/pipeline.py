"""The pipeline: read → render → engine → postprocess → write, as ordinary Ray Data stages.

``build_dataset`` returns the lazy Dataset (for notebooks: inspect, ``take``, add stages);
``run`` checks everything that can be checked before any actor starts (``raypipe.plan``), then
writes and summarises.
"""

from __future__ import annotations

import contextlib
import copy
import time
from typing import Optional, Union

from raypipe import checkpoints, committed, engines, retry, runstats
from raypipe.config import PipelineConfig
from raypipe.engines.cpu_cores import pinned
from raypipe.errors import UsageError
from raypipe.faults import RenderGuard, start_ledger
from raypipe.output import Lease, OutputFolder, checkpoint_dir
from raypipe.plan import Plan, make_plan
from raypipe.postprocess import postprocess_stage
from raypipe.read import read_documents
from raypipe.render import render_stage


def build_dataset(config: Union[PipelineConfig, Plan], released=(), stats=None, committed=None):
    """The lazy ``ray.data.Dataset`` of output rows (schema ``raypipe.schema.OUTPUT``). Given a
    configuration, its checks run first and Ray is started or attached to (see ``raypipe.plan``).
    ``released``: documents --retry-failed took out of the output, read from its record of them;
    ``stats``: the run's stats actor (:mod:`raypipe.runstats`) the engines report to; ``committed``: a
    reference to the ids a resume skips (:mod:`raypipe.committed`)."""
    plan = config if isinstance(config, Plan) else make_plan(config)
    config, spec = plan.config, plan.engine
    engine = engines.get(spec.name)
    attempts = config.ray.max_doc_attempts
    ledger = start_ledger() if attempts else None  # 0: no crash accounting
    ds = read_documents(plan.units, config.input, config.storage, config.input.shard_slice(), released, plan.read_tasks,
                        committed, stats)
    auto = engine.needs_images and config.engine.ocr_mode == "auto"  # the router decides on each text layer
    ds = render_stage(
        ds,
        config.render,
        config.input,
        images=engine.needs_images,
        remote_args=config.ray.stage("render", 1.0),
        guard=RenderGuard(ledger, attempts) if ledger else None,
        storage=config.storage,
        route_min_chars=config.engine.min_text_layer_chars if auto else None,
    )
    ds = engine.stage(ds, spec, config.ray, ledger, stats)
    return postprocess_stage(ds, config.engine.max_page_error_rate, config.ray.stage("postprocess", 0.25))


READ_BLOCK_BYTES = 256 << 10


@contextlib.contextmanager
def _run_context(config: PipelineConfig, folder: OutputFolder):
    """Ray Data settings for one run, restored afterwards (a notebook's context is left as it was).
    A Dataset keeps the context it was built in, so they are set before building."""
    import ray.data

    from raypipe.write import checkpoint_config

    context = ray.data.DataContext.get_current()
    on = config.ray.progress_bars
    options = copy.copy(context.execution_options)
    options.verbose_progress = on  # a progress line per stage, also when stdout is not a terminal
    settings = {
        "checkpoint_config": checkpoint_config(folder, config.input.shard_slice()) if config.output.resume else None,
        "enable_progress_bars": on,
        "enable_operator_progress_bars": on,
        "execution_options": options,
        "per_stage_map_timing": True,  # the summary's time per fused stage (one float per block)
        # a read task's output is merged into blocks of this size before it leaves the task: small, so
        # that the first documents reach the render stage while the listing goes on
        "target_max_block_size": READ_BLOCK_BYTES,
    }
    previous = {name: getattr(context, name) for name in settings}
    for name, value in settings.items():
        setattr(context, name, value)
    try:
        yield
    finally:
        for name, value in previous.items():
            setattr(context, name, value)


def run(config: PipelineConfig, plan: Optional[Plan] = None) -> dict:
    """Run the whole job; returns the run summary. Raises UsageError (before any actor starts) for a
    problem with the options; other exceptions only for what stops the whole job."""
    from raypipe import summary as summaries
    from raypipe.write import WRITE_NUM_CPUS, write

    if config.output is None:
        raise UsageError("--output (output.output) is required: where to write (build_dataset needs none)")
    start = time.perf_counter()
    plan = plan or make_plan(config)
    out = plan.config.output
    shard = plan.config.input.shard_slice()
    folder = OutputFolder(out.output, plan.config.storage)
    lease = Lease(folder, plan.run_id, shard).acquire()  # every check has passed: only now is anything deleted
    try:
        if out.fresh:
            folder.clear()
        folder.claim(plan.run_id, plan.settings)
        retry.recover(folder)  # a release a crash interrupted
        released = (retry.release(folder, out.retry_failed, plan.run_id, shard) if out.retry_failed
                    else retry.released(folder, shard))  # an earlier release's, if that run did not finish
        before = folder.data_files()
        stats = runstats.start()
        skipped, checkpoint = None, f"{folder.meta}/{checkpoint_dir(shard)}"
        if out.resume:
            skipped, count = committed.load_remote(folder.output, plan.config.storage, checkpoint)
            if count:
                print(f"raypipe: resuming: {count:,} documents are already written and will be skipped", flush=True)
        cores = plan.engine.cores
        with _run_context(plan.config, folder), pinned(cores.pipeline if cores else None):  # the driver too
            ds = build_dataset(plan, released, stats, skipped)
            write(ds, out, folder, plan.run_id, plan.config.ray.stage("write", WRITE_NUM_CPUS, job_wide=False))
        retry.finished(folder, shard)
        if out.resume:
            checkpoints.compact(folder, checkpoint, plan.run_id)
        result = summaries.collect(
            folder,
            out,
            time.perf_counter() - start,
            before,
            stages=summaries.stage_stats(ds),
            engines={**(runstats.collect(stats) or {}), "cpu_cores": cores.as_dict() if cores else None},
        )
        if out.summary:
            result["summary_path"] = summaries.save(result, folder)
            print(summaries.render_table(result), flush=True)
        return result
    finally:
        lease.release()
