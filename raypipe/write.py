"""Stage 5 — write: sharded Parquet or JSONL through Ray's own file datasinks.

One file per written block (or per ``rows_per_file`` rows), each opened once by one write task:
never a file reopened per document. Ray names files ``{write_uuid}_{task}…``, so a run never
truncates another run's files.
"""

from __future__ import annotations

import orjson
import pyarrow.fs as pafs

from raypipe.config import OutputConfig

# Readers skip names starting with '_' or '.', so run metadata kept under this name is never data.
META_DIR = "_raypipe"


def _jsonl_datasink(path: str, cfg: OutputConfig):
    from ray.data.datasource.file_datasink import BlockBasedFileDatasink

    class JsonlDatasink(BlockBasedFileDatasink):
        """One JSON object per line (orjson), optionally gzip/zstd-compressed as a whole file."""

        def write_block_to_file(self, block, file):
            lines = [orjson.dumps(row) for row in block.to_arrow().to_pylist()]
            file.write(b"\n".join(lines) + b"\n" if lines else b"")

    codec = None if cfg.compression in (None, "none") else cfg.compression
    ext = {"gzip": "jsonl.gz", "zstd": "jsonl.zst", None: "jsonl"}[codec]
    return JsonlDatasink(
        path,
        file_format=ext,
        min_rows_per_file=cfg.rows_per_file,
        open_stream_args={"compression": codec} if codec else None,
    )


def output_filesystem(output: str) -> tuple[pafs.FileSystem, str]:
    if "://" in output:
        return pafs.FileSystem.from_uri(output)
    import os

    return pafs.LocalFileSystem(), os.path.abspath(output)


def existing_data_files(output: str) -> list[str]:
    """Data files already in the output folder (metadata under ``_``/``.`` names excluded)."""
    fs, root = output_filesystem(output)
    if fs.get_file_info(root).type == pafs.FileType.NotFound:
        return []
    files = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    rel = [f.path[len(root) :].lstrip("/") for f in files if f.type == pafs.FileType.File]
    return [r for r in rel if not any(part.startswith(("_", ".")) for part in r.split("/"))]


def checkpoint_path(output: str) -> str:
    """Where the resume checkpoint of ``output`` lives: beside the data, under a name readers skip."""
    if "://" in output:
        return output.rstrip("/") + f"/{META_DIR}/checkpoint"
    return output_filesystem(output)[1] + f"/{META_DIR}/checkpoint"


def has_checkpoint(output: str) -> bool:
    fs, root = output_filesystem(output)
    return fs.get_file_info(f"{root}/{META_DIR}/checkpoint").type == pafs.FileType.Directory


def clear_output(output: str) -> None:
    """Delete the data files and the checkpoint (a fresh start)."""
    fs, root = output_filesystem(output)
    for rel in existing_data_files(output):
        fs.delete_file(f"{root}/{rel}")
    if has_checkpoint(output):
        fs.delete_dir(f"{root}/{META_DIR}/checkpoint")


def checkpoint_config(output: str):
    """Ray Data's checkpointing keyed on doc_id: each data file is committed with the ids it holds
    (pending record, data file, commit); a rerun filters committed ids right after the read and
    deletes data files whose commit never happened."""
    from ray.data.checkpoint import CheckpointConfig

    return CheckpointConfig(
        id_column="doc_id", checkpoint_path=checkpoint_path(output), delete_checkpoint_on_success=False
    )


def write(ds, cfg: OutputConfig) -> None:
    """Run the pipeline by writing it; returns when every file is closed."""
    path = output_filesystem(cfg.output)[1] if "://" not in cfg.output else cfg.output
    if cfg.format == "parquet":
        codec = cfg.compression if cfg.compression not in (None, "none") else ("snappy" if cfg.compression is None else "none")
        ds.write_parquet(path, min_rows_per_file=cfg.rows_per_file, compression=codec)
    else:
        ds.write_datasink(_jsonl_datasink(path, cfg))
