"""Where and how results are written."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from raypipe.config.base import Section, cli


class OutputConfig(Section):
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
    retry_failed: Optional[list[str]] = Field(
        default=None,
        description="Process again the documents already written with these error codes, replacing their rows "
        "(given with no codes: read_error, internal, engine_unavailable — failures that say nothing about the "
        "document).",
        json_schema_extra=cli(nargs="*"),
    )
    allow_changed_settings: bool = Field(
        default=False,
        description="Resume into an output written with other settings that change the text (engine, model, "
        "preset, prompt, parser, page size, OCR mode). Off: such a resume is refused, so one output never "
        "mixes two kinds of text.",
    )

    @field_validator("retry_failed")
    @classmethod
    def _codes(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        from raypipe.errors import TRANSIENT_CODES, ErrorCode

        if value is None:
            return None
        known = {code.value for code in ErrorCode}
        unknown = [code for code in value if code not in known]
        if unknown:
            raise ValueError(f"unknown error codes {unknown}; known: {', '.join(sorted(known))}")
        return value or [code.value for code in TRANSIENT_CODES]

    @model_validator(mode="after")
    def _codec(self) -> "OutputConfig":
        if self.format == "jsonl" and self.compression == "snappy":
            raise ValueError("compression 'snappy' applies to parquet only; use gzip or zstd for jsonl")
        return self
