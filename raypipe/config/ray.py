"""The Ray cluster and what each stage reserves on it."""

from __future__ import annotations

from typing import Optional

from pydantic import Field, model_validator

from raypipe.config.base import Section, cli


class StageResources(Section):
    """What each task (or actor) of one stage reserves; unset fields fall back to the job-wide
    defaults in RayConfig, then to the stage's own."""

    num_cpus: Optional[float] = Field(default=None, gt=0, description="CPUs reserved by each task of this stage.")
    memory: Optional[int] = Field(default=None, ge=0, description="Bytes of memory reserved by each task of this stage.")
    concurrency: Optional[int] = Field(
        default=None, ge=1, description="Most tasks of this stage running at once (default: as many as resources allow)."
    )


class EngineResources(Section):
    """The engine stage: an actor pool for the model engines (tasks for the text layer)."""

    num_cpus: Optional[float] = Field(
        default=None,
        gt=0,
        description="CPUs reserved by each engine actor (default: 1 for vllm, 0.5 for openai, 0.25 for the text layer).",
        json_schema_extra=cli(aliases=("--openai-num-cpus",)),
    )
    memory: Optional[int] = Field(default=None, ge=0, description="Bytes of memory reserved by each engine actor.")
    actors: Optional[int] = Field(
        default=None,
        ge=1,
        description="Engine actors (one model engine each) to start with (default: as many as the cluster's GPUs "
        "allow, GPUs / --tensor-parallel-size, at least 1).",
    )
    max_actors: Optional[int] = Field(
        default=None,
        ge=1,
        description="Engine actors at most; the pool grows with the work (default: as many as the GPUs the "
        "cluster's autoscaler can bring allow, else actors).",
    )
    docs_in_flight: Optional[int] = Field(
        default=None,
        ge=1,
        description="Documents each engine actor works on at once, each its own task (default: pages_in_flight, "
        "so that one-page documents fill the engine).",
        json_schema_extra=cli("--docs-in-flight"),
    )
    pages_in_flight: Optional[int] = Field(
        default=None,
        ge=1,
        description="Pages each engine actor keeps submitted to its engine at once (default: the engine's "
        "max_num_seqs and a quarter more queued behind them; openai: --max-concurrency).",
        json_schema_extra=cli("--pages-in-flight"),
    )

    @model_validator(mode="after")
    def _actors(self) -> "EngineResources":
        if self.max_actors is not None and self.actors is not None and self.max_actors < self.actors:
            raise ValueError("infer max_actors is below actors")
        return self


class RayConfig(Section):
    address: Optional[str] = Field(
        default=None,
        description="Ray cluster to attach to ('auto', 'ray://host:10001', 'local' for a new local Ray, ...). "
        "Default: RAY_ADDRESS if set, else the cluster a `ray start` on this machine left its address for, "
        "else a local Ray started for this run.",
    )
    local_num_cpus: Optional[int] = Field(
        default=None,
        ge=1,
        description="Logical CPUs for a local Ray (default: the machine's count, at least 4, so that "
        "an engine actor and the CPU stages never wait on each other).",
    )
    local_worker_niceness: int = Field(
        default=0,
        ge=0,
        le=19,
        description="Niceness of the worker processes of a local Ray that raypipe starts. Ray's own "
        "default (15) lets the driver and Ray's daemons starve the engine on small machines.",
    )
    progress_bars: bool = Field(
        default=True,
        description="Show Ray Data's progress for every stage: bars on a terminal, a progress report in the "
        "log every 10 s otherwise (RAY_DATA_NON_TTY_PROGRESS_LOG_INTERVAL), e.g. under ray job submit.",
    )
    task_memory_poll_seconds: Optional[float] = Field(
        default=None,
        gt=0,
        description="How often Ray Data polls each running task's memory for its stats. Off by default: "
        "with dozens of long inference tasks per actor the polling costs engine throughput.",
    )
    max_doc_attempts: int = Field(
        default=3,
        ge=0,
        le=100,
        description="Times a document may be started by a worker that then dies (a crash in PDFium or "
        "the model engine, an out-of-memory kill) before it becomes a failed row with error_code "
        "'crashed'. Ray restarts the worker and retries its other documents. From its third start a "
        "document runs alone in its inference actor, so that it is only blamed for its own crashes. "
        "0 turns the accounting off (one ledger round trip per document; Ray then retries without limit).",
    )
    stage_num_cpus: Optional[float] = Field(
        default=None, gt=0,
        description="CPUs reserved by each task or actor of every stage but write whose own is not set."
    )
    stage_memory: Optional[int] = Field(
        default=None, ge=0,
        description="Bytes of memory reserved by each task or actor of every stage but write whose own is not set."
    )
    render: StageResources = Field(
        default_factory=StageResources, description="Render tasks (default: 1 CPU each).",
        json_schema_extra=cli(prefix="render-"),
    )
    infer: EngineResources = Field(
        default_factory=EngineResources, description="The engine stage.", json_schema_extra=cli(prefix="infer-")
    )
    postprocess: StageResources = Field(
        default_factory=StageResources, description="Postprocess tasks (default: 0.25 CPU each).",
        json_schema_extra=cli(prefix="postprocess-"),
    )
    write: StageResources = Field(
        default_factory=StageResources,
        description="Write tasks (default: 0.2 CPU each; the job-wide stage defaults do not apply to them: Ray "
        "Data reserves each stage's need upstream first, and a writer asking for a whole CPU on a small "
        "cluster waits until the read ends). At the postprocess stage's CPUs Ray fuses the writer into it, "
        "and the summary then times them as one stage.",
        json_schema_extra=cli(prefix="write-"),
    )

    def stage(self, name: str, num_cpus: float, job_wide: bool = True) -> dict:
        """Ray remote arguments of stage ``name`` ('render', 'infer', 'postprocess', 'write'): its own
        setting, else the job-wide one (unless ``job_wide`` is False), else ``num_cpus``, the stage's own
        default."""
        own = getattr(self, name)
        args: dict = {"num_cpus": own.num_cpus or (self.stage_num_cpus if job_wide else None) or num_cpus}
        memory = own.memory if own.memory is not None else (self.stage_memory if job_wide else None)
        if memory:
            args["memory"] = memory
        if getattr(own, "concurrency", None):
            args["concurrency"] = own.concurrency
        return args
