"""Ray's resume checkpoint kept small: after a run, the checkpoint files it committed (one per data
file) are merged into one, so that a resume loads a handful of files, not one per data file ever
written — loading cost Ray a fixed price per file (25 s for 1,563 of them here).

A merged file is written under a hidden name and renamed into place before the files it replaces are
deleted: a crash in between leaves some ids committed twice, which a resume does not mind.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from raypipe.output import OutputFolder

log = logging.getLogger("raypipe")


def _is_committed(name: str) -> bool:
    return name.endswith(".parquet") and not name.endswith(".pending.parquet") and not name.startswith((".", "_"))


def files(folder: OutputFolder, checkpoint: str) -> list[str]:
    """The committed checkpoint files of one checkpoint folder (paths)."""
    return sorted(f"{checkpoint}/{e.name}" for e in folder.entries(checkpoint) if e.kind == "file" and _is_committed(e.name))


def read_ids(folder: OutputFolder, path: str) -> list[str]:
    with folder.fs.open_input_file(path) as f:
        return pq.read_table(f, columns=["doc_id"])["doc_id"].to_pylist()


@contextlib.contextmanager
def _whole(folder: OutputFolder, path: str):
    """An output stream for ``path``, written under a hidden name and moved into place once closed whole."""
    head, _, name = path.rpartition("/")
    hidden = f"{head}/.{name}.tmp"  # Ray's checkpoint reader skips hidden names
    with folder.fs.open_output_stream(hidden) as f:
        yield f
    folder.fs.move(hidden, path)


def write_ids(folder: OutputFolder, path: str, ids: Iterable[str]) -> None:
    """A committed checkpoint file of ``ids`` (Ray's layout: one doc_id column), written whole or not at all."""
    with _whole(folder, path) as f:
        pq.write_table(pa.table({"doc_id": pa.array(list(ids), pa.string())}), f)


def compact(folder: OutputFolder, checkpoint: str, run_id: str) -> int:
    """Merge the checkpoint files of runs with a record (files before records are left alone: they prove
    whose data files are whose) into ``RUN_compacted.parquet``; returns how many files went. The ids
    stream through one row group at a time: the driver never holds the output's ids."""
    runs = folder.run_ids()
    mergeable = [p for p in files(folder, checkpoint) if p.rsplit("/", 1)[-1].split("_", 1)[0] in runs]
    if len(mergeable) < 2:
        return 0
    target = f"{checkpoint}/{run_id}_compacted.parquet"
    schema = pa.schema([("doc_id", pa.string())])
    count = 0
    with _whole(folder, target) as sink, pq.ParquetWriter(sink, schema) as writer:
        for path in mergeable:
            with folder.fs.open_input_file(path) as f:
                for batch in pq.ParquetFile(f).iter_batches(batch_size=65536, columns=["doc_id"]):
                    writer.write_table(pa.Table.from_batches([batch]).cast(schema))
                    count += batch.num_rows
    for path in mergeable:
        if path != target:
            folder.fs.delete_file(path)
    log.info("checkpoint: %d files of %d ids merged into one", len(mergeable), count)
    return len(mergeable)
