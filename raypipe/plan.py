"""Everything a run would use, resolved once on the driver before any actor starts: the documents,
the output's state, the engine and its device, the cluster. Each check raises a
:class:`~raypipe.errors.UsageError` naming the option to fix (the CLI's exit code 2).

Order matters: what needs no Ray is checked first (inputs, output, an openai endpoint), so that a
wrong option costs no cluster start; then Ray is started or attached to, once, and the engine is
resolved against what the cluster offers.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Optional

from raypipe import cluster
from raypipe.config import PipelineConfig
from raypipe.engines.resolve import EngineSpec, resolve_engine, with_engine_defaults
from raypipe.errors import OutputExistsError
from raypipe.read import Document, list_documents

log = logging.getLogger("raypipe")


@dataclasses.dataclass(frozen=True)
class Plan:
    config: PipelineConfig  # with the engine's defaults applied (page size, documents per block)
    documents: list[Document]
    engine: EngineSpec
    cluster: cluster.ClusterResources
    existing_files: list[str]  # data files already in the output (resumed, or deleted by --fresh)


def check_output(config: PipelineConfig) -> list[str]:
    """Existing output is resumed (when it has a checkpoint) or replaced (--fresh), never mixed.
    Returns the data files already there."""
    from raypipe.write import existing_data_files, has_checkpoint

    out = config.output
    if out is None:
        return []
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


def make_plan(config: PipelineConfig, documents: Optional[list[Document]] = None) -> Plan:
    """Run every pre-run check once and start (or attach to) Ray; raises UsageError."""
    from raypipe.engines.openai import check_endpoint

    docs = documents if documents is not None else list_documents(config.input)
    existing = check_output(config)
    spec = None
    if config.engine.engine == "openai":  # needs no cluster: check the endpoint before Ray starts
        spec = resolve_engine(config.engine, None)
        check_endpoint(spec)
    how = cluster.connect(config.ray)
    resources = cluster.resources()
    log.info("running on %s: %g CPUs, %g GPUs, %d nodes", how, resources.cpus, resources.gpus, resources.nodes)
    spec = spec or resolve_engine(config.engine, resources)
    return Plan(with_engine_defaults(config, spec), docs, spec, resources, existing)
