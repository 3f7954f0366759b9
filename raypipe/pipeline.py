"""The pipeline: read → render → engine → postprocess → write, as ordinary Ray Data stages.

``build_dataset`` returns the lazy Dataset (for notebooks: inspect, ``take``, add stages);
``run`` checks everything that can be checked before Ray starts, then writes and summarises.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Optional

from raypipe.config import PipelineConfig
from raypipe.postprocess import postprocess_stage
from raypipe.read import Document, list_documents, read_documents
from raypipe.render import render_stage
from raypipe.textlayer import text_layer_stage

log = logging.getLogger("raypipe")


class OutputExistsError(ValueError):
    """The output folder already holds data files and neither overwrite nor resume was asked for."""


def init_ray(config: PipelineConfig) -> None:
    """Attach to ``--address``/``RAY_ADDRESS`` if given, else start a local Ray."""
    import ray

    if ray.is_initialized():
        return
    address = config.ray.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(num_cpus=config.ray.local_num_cpus)


def build_dataset(config: PipelineConfig, documents: Optional[list[Document]] = None):
    """The lazy ``ray.data.Dataset`` of output rows (schema ``raypipe.schema.OUTPUT``)."""
    docs = documents if documents is not None else list_documents(config.input)
    init_ray(config)
    ds = read_documents(docs, config.input)
    ds = render_stage(
        ds,
        config.render,
        config.input,
        images=config.needs_images(),
        num_cpus=config.ray.render_num_cpus,
        concurrency=config.ray.render_concurrency,
    )
    ds = text_layer_stage(ds)
    return postprocess_stage(ds)


def check_output(config: PipelineConfig) -> None:
    from raypipe.write import existing_data_files

    existing = existing_data_files(config.output.output)
    if existing and not config.output.overwrite:
        raise OutputExistsError(
            f"output {config.output.output!r} already holds {len(existing)} data files "
            f"(e.g. {existing[0]}); pass --overwrite to replace them"
        )


def run(config: PipelineConfig) -> dict:
    """Run the whole job; returns the run summary. Exceptions only for what stops the whole job."""
    from raypipe import summary as summaries
    from raypipe.write import clear_output, write

    if config.output is None:
        raise ValueError("run needs config.output (where to write); build_dataset does not")
    docs = list_documents(config.input)
    check_output(config)
    start = time.perf_counter()
    ds = build_dataset(config, docs)
    if config.output.overwrite:
        clear_output(config.output.output)
    write(ds, config.output)
    result = summaries.collect(config.output, time.perf_counter() - start)
    result["documents_listed"] = len(docs)
    if config.output.summary:
        result["summary_path"] = summaries.save(result, config.output)
        print(summaries.render_table(result), flush=True)
    return result
