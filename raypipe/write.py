"""Stage 5 — write: sharded Parquet or JSONL through Ray's own file datasinks.

One file per written block (or per ``rows_per_file`` rows), each opened once by one write task:
never a file reopened per document. Ray names files ``{write_uuid}_{task}…``, so a run never
truncates another run's files.
"""

from __future__ import annotations

import os
from typing import Optional

import orjson
import pyarrow as pa
import pyarrow.fs as pafs

from raypipe.config import OutputConfig
from raypipe.output import (
    META_DIR,
    PART_PREFIX,
    PART_SUFFIX,
    OutputFolder,
    checkpoint_dir,
)


def part_path(path: str) -> str:
    head, name = os.path.split(path)
    return os.path.join(head, f"{PART_PREFIX}{name}{PART_SUFFIX}")


class _RenameOnClose:
    """A file written under its part name and renamed to its real name once it is closed whole."""

    def __init__(self, fs: pafs.FileSystem, path: str):
        self.fs, self.path, self.part = fs, path, part_path(path)
        self.stream = fs.open_output_stream(self.part)
        self.closed = False

    def write(self, data) -> int:
        return self.stream.write(data)

    def tell(self) -> int:
        return self.stream.tell()

    def flush(self) -> None:
        self.stream.flush()

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self.stream.close()
            self.fs.move(self.part, self.path)
            self.closed = True


class StagedLocalFileSystem(pafs.FileSystemHandler):
    """Local (or network) disk: every data file is written under a hidden part name and renamed into
    place when it is complete, so a crash never leaves a half-written file under a data file's name.
    Object stores need none of this: an S3/GCS object only appears once its upload has completed."""

    def __init__(self):
        self.fs = pafs.LocalFileSystem()

    def open_output_stream(self, path, metadata):
        return pa.PythonFile(_RenameOnClose(self.fs, path), mode="w")

    def get_type_name(self):
        return "raypipe-staged-local"

    def normalize_path(self, path):
        return self.fs.normalize_path(path)

    def equals(self, other):
        return isinstance(other, StagedLocalFileSystem)

    def get_file_info(self, paths):
        return self.fs.get_file_info(paths)

    def get_file_info_selector(self, selector):
        return self.fs.get_file_info(selector)

    def create_dir(self, path, recursive):
        self.fs.create_dir(path, recursive=recursive)

    def delete_dir(self, path):
        self.fs.delete_dir(path)

    def delete_dir_contents(self, path, missing_dir_ok=False):
        self.fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self):
        raise OSError("refusing to delete the root directory's contents")

    def delete_file(self, path):
        self.fs.delete_file(path)

    def move(self, src, dest):
        self.fs.move(src, dest)

    def copy_file(self, src, dest):
        self.fs.copy_file(src, dest)

    def open_input_stream(self, path):
        return self.fs.open_input_stream(path)

    def open_input_file(self, path):
        return self.fs.open_input_file(path)

    def open_append_stream(self, path, metadata):
        return self.fs.open_append_stream(path)


def _jsonl_datasink(path: str, cfg: OutputConfig, run_id: str, filesystem=None):
    from ray.data.datasource import FilenameProvider
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
        filesystem=filesystem,
        file_format=ext,
        min_rows_per_file=cfg.rows_per_file,
        open_stream_args={"compression": codec} if codec else None,
        filename_provider=FilenameProvider(dataset_uuid=run_id, file_format=ext),
    )


def checkpoint_path(folder: OutputFolder, shard=None) -> str:
    """Where the resume checkpoint of an output (or of its --shard slice) lives: beside the data, under a
    name readers skip."""
    name = checkpoint_dir(shard)
    if not folder.local:
        return folder.output.partition("?")[0].rstrip("/") + f"/{META_DIR}/{name}"
    return f"{folder.root}/{META_DIR}/{name}"


def checkpoint_config(folder: OutputFolder, shard=None):
    """Ray Data's checkpointing keyed on doc_id: each data file is committed with the ids it holds
    (pending record, data file, commit); a rerun deletes data files whose commit never happened, and
    its read tasks skip the committed ids (:mod:`raypipe.committed`)."""
    from ray.data.checkpoint import CheckpointConfig

    from raypipe.committed import pending_only_manager

    return CheckpointConfig(
        id_column="doc_id", checkpoint_path=checkpoint_path(folder, shard), delete_checkpoint_on_success=False,
        override_filesystem=None if folder.local else folder.fs, checkpoint_manager_cls=pending_only_manager(),
    )


# CPUs of a write task unless ray.write says otherwise. Ray Data reserves each stage's smallest need
# upstream first; at Ray's default of 1, a local Ray of 4 CPUs has none left for the writer, which then
# waits until the read ends — with a 10 M-document manifest, no data file after minutes. Not 0.25: Ray
# would fuse the writer into the postprocess stage (same resources) and the summary would lose the
# write's own timing.
WRITE_NUM_CPUS = 0.2


def write(ds, cfg: OutputConfig, folder: OutputFolder, run_id: str, remote_args: Optional[dict] = None) -> None:
    """Run the pipeline by writing it; returns when every file is closed. Every file is named
    ``RUN_...`` (``run_id`` is recorded under ``_raypipe/runs/``), which is how raypipe later proves
    a file in the output folder is its own. ``remote_args``: the write tasks' resources
    (``RayConfig.stage("write", ...)``; default: WRITE_NUM_CPUS)."""
    from ray.data.datasource import FilenameProvider

    remote_args = dict(remote_args or {"num_cpus": WRITE_NUM_CPUS})
    concurrency = remote_args.pop("concurrency", None)
    if folder.local:
        path, filesystem = folder.root, pafs.PyFileSystem(StagedLocalFileSystem())
        folder.remove_parts()
    else:
        path, filesystem = folder.root, folder.fs
    if cfg.format == "parquet":
        codec = cfg.compression if cfg.compression not in (None, "none") else ("snappy" if cfg.compression is None else "none")
        ds.write_parquet(path, min_rows_per_file=cfg.rows_per_file, compression=codec, filesystem=filesystem,
                         filename_provider=FilenameProvider(dataset_uuid=run_id, file_format="parquet"),
                         ray_remote_args=remote_args, concurrency=concurrency)
    else:
        ds.write_datasink(_jsonl_datasink(path, cfg, run_id, filesystem), ray_remote_args=remote_args,
                          concurrency=concurrency)
