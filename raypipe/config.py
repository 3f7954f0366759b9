"""Typed, validated configuration shared by the CLI, the jobs/ entry points and the Python API.

Every field carries a description: the CLI builds its options and help text from these models, so a
wrong value fails here, before Ray starts, with a message that names the option.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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
    docs_per_block: int = Field(
        default=4,
        ge=1,
        le=100_000,
        description="Documents per block. Small blocks keep output streaming and memory flat.",
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


class EngineConfig(_Section):
    engine: Literal["text-layer"] = Field(
        default="text-layer",
        description="What produces page text. 'text-layer' reads the PDF's own text layer (no model).",
    )


class OutputConfig(_Section):
    output: str = Field(description="Output folder (local path or s3:// / gs:// URI) for the data files.")
    format: Literal["parquet", "jsonl"] = Field(default="parquet", description="Data file format.")
    compression: Optional[Literal["none", "gzip", "zstd", "snappy"]] = Field(
        default=None,
        description="Compression: Parquet's codec (default snappy) or a whole-file codec for JSONL "
        "(gzip or zstd; default none).",
    )
    rows_per_file: Optional[int] = Field(
        default=None, ge=1, description="Hint for the minimum number of rows per data file."
    )
    overwrite: bool = Field(
        default=False,
        description="Delete existing data files in the output folder first. Without it a non-empty "
        "output folder is an error.",
    )
    summary: bool = Field(default=True, description="Print a run summary and write it as JSON beside the data.")

    @model_validator(mode="after")
    def _codec(self) -> "OutputConfig":
        if self.format == "jsonl" and self.compression == "snappy":
            raise ValueError("compression 'snappy' applies to parquet only; use gzip or zstd for jsonl")
        return self


class RayConfig(_Section):
    address: Optional[str] = Field(
        default=None,
        description="Ray cluster to attach to ('auto', 'ray://host:10001', ...). Default: RAY_ADDRESS if "
        "set, else a local Ray started for this run.",
    )
    local_num_cpus: Optional[int] = Field(
        default=None, ge=1, description="Logical CPUs for a local Ray (default: the machine's count)."
    )
    render_num_cpus: float = Field(default=1.0, gt=0, description="CPUs reserved by each render task.")
    render_concurrency: Optional[int] = Field(
        default=None, ge=1, description="Most render tasks running at once (default: as many as CPUs allow)."
    )


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

    def needs_images(self) -> bool:
        """Whether the engine reads page images (the text-layer engine does not)."""
        return self.engine.engine != "text-layer"
