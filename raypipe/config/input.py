"""What to read: the inputs, and how storage is reached."""

from __future__ import annotations

from typing import Optional

from pydantic import Field, field_validator

from raypipe.config.base import Section


class InputConfig(Section):
    inputs: list[str] = Field(
        default_factory=list,
        description="PDF files, directories (searched recursively), glob patterns, or s3:// / gs:// URIs.",
    )
    manifest: Optional[str] = Field(
        default=None,
        description="A Parquet or JSONL file listing documents — a 'path' column and an optional 'doc_id' "
        "column — or a folder or prefix of such files (shards), read in parallel by the read tasks.",
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
        description="Passwords tried, in order, on encrypted PDFs before they fail as encrypted. On the "
        "command line they show in the process list and a job's entrypoint: prefer --passwords-env or "
        "a --config file.",
        repr=False,
    )
    passwords_env: Optional[str] = Field(
        default=None,
        description="Name of an environment variable (on the driver) holding more passwords, one per line.",
    )
    allow_file_uris: bool = Field(
        default=False,
        description="Accept file:// URIs in inputs and manifests (off: a manifest row cannot name a local file "
        "through a URI; plain local paths are always accepted).",
    )
    allow_uri_options: bool = Field(
        default=False,
        description="Accept filesystem options in a URI's query string (s3://b/k?endpoint_override=...). Off: "
        "a manifest row cannot send requests, and credentials, to an endpoint of its choosing; set storage "
        "options with --storage-endpoint, --storage-region and --storage-anonymous instead.",
    )
    shard: Optional[str] = Field(
        default=None,
        description="Process only slice I of N (written I/N, 0 <= I < N) of the documents, by a stable hash of "
        "their doc_id: several clusters or days can each take a slice and share one output.",
    )
    docs_per_block: int = Field(
        default=4,
        ge=1,
        le=100_000,
        description="Documents per block. Small blocks keep output streaming and memory flat "
        "(default 4; 1 with a model engine).",
    )

    @field_validator("shard")
    @classmethod
    def _shard(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        index, _, count = value.partition("/")
        if not (index.isdigit() and count.isdigit() and 0 <= int(index) < int(count)):
            raise ValueError(f"{value!r}: give the slice as I/N with 0 <= I < N, e.g. 0/4")
        return value

    def shard_slice(self) -> Optional[tuple[int, int]]:
        if self.shard is None:
            return None
        index, _, count = self.shard.partition("/")
        return int(index), int(count)


class StorageConfig(Section):
    """How s3:// and gs:// are reached, for listing, fetching and writing alike (never from a manifest)."""

    endpoint: Optional[str] = Field(
        default=None,
        description="Endpoint of an S3- or GCS-compatible store, e.g. http://minio:9000 (default: AWS's / Google's).",
    )
    region: Optional[str] = Field(default=None, description="S3 region (default: the client's own resolution).")
    anonymous: bool = Field(default=False, description="Read without credentials (public buckets).")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r}: give the endpoint with its scheme, http:// or https://")
        return value
