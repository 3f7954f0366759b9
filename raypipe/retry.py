"""``--retry-failed``: documents already written with some error codes are taken out of the output (their
data files rewritten without them, their ids out of the checkpoint), so that the run processes them
again and writes each exactly once.

Each rewrite is journaled under ``_raypipe/retry/`` before it starts, and the new checkpoint is written
as Ray's pending record before the new data file, so a crash at any moment leaves a state the next run
repairs (:func:`recover`): either the old file and its checkpoint stay, or the new ones replace them.
"""

from __future__ import annotations

import io
import logging
from typing import Collection

import orjson
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raypipe.listing import Document
from raypipe.output import (
    CHECKPOINT,
    PART_PREFIX,
    PART_SUFFIX,
    OutputFolder,
    checkpoint_base,
    checkpoint_dir,
)

log = logging.getLogger("raypipe")
JOURNAL = "retry"
_CODECS = {"gz": "gzip", "zst": "zstd"}


def _codec(name: str):
    return _CODECS.get(name.rsplit(".", 1)[-1])


def _read(folder: OutputFolder, name: str) -> pa.Table | list[bytes]:
    """A data file's rows: a table for Parquet, the raw lines for JSONL."""
    with folder.fs.open_input_file(f"{folder.root}/{name}") as f:
        if name.endswith(".parquet"):
            return pq.read_table(f)
        data = f.read()
    codec = _codec(name)
    if codec:
        data = pa.CompressedInputStream(io.BytesIO(data), codec).read()
    return [line for line in data.split(b"\n") if line.strip()]


def _rows_of(content) -> list[tuple[str, str, str]]:
    """(doc_id, error_code, source) per row."""
    if isinstance(content, pa.Table):
        return list(zip(content["doc_id"].to_pylist(), content["error_code"].to_pylist(), content["source"].to_pylist()))
    rows = [orjson.loads(line) for line in content]
    return [(r.get("doc_id"), r.get("error_code"), r.get("source")) for r in rows]


def _write_file(folder: OutputFolder, name: str, data: bytes) -> None:
    """A new data file, under a hidden part name first on local disk."""
    path = f"{folder.root}/{name}"
    staged = f"{folder.root}/{PART_PREFIX}{name}{PART_SUFFIX}" if folder.local else path
    with folder.fs.open_output_stream(staged) as f:
        f.write(data)
    if staged != path:
        folder.fs.move(staged, path)


def _encode(contents: list, keeps: list[list[bool]], ext: str) -> bytes:
    """The kept rows of one write task's files, as one file of the same format."""
    if ext == "parquet":
        sink = io.BytesIO()
        pq.write_table(pa.concat_tables([c.filter(pa.array(k, pa.bool_())) for c, k in zip(contents, keeps)]), sink)
        return sink.getvalue()
    data = b"".join(line + b"\n" for content, keep in zip(contents, keeps) for line, k in zip(content, keep) if k)
    codec = _codec(ext)
    if codec == "gzip":
        import gzip

        data = gzip.compress(data)
    elif codec == "zstd":
        import zstandard

        data = zstandard.ZstdCompressor().compress(data)
    return data


def _checkpoint(ids: list[str]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"doc_id": pa.array(ids, pa.string())}), sink)  # Ray's layout: the id column
    return sink.getvalue()


def recover(folder: OutputFolder) -> None:
    """Finish or undo rewrites a crash interrupted (see the module docstring)."""
    for entry in folder.entries(f"{folder.meta}/{JOURNAL}"):
        step = folder.read_json(f"{JOURNAL}/{entry.name}") if entry.kind == "file" else None
        if not step:
            continue
        checkpoint = step.get("checkpoint") or f"{folder.meta}/{CHECKPOINT}"
        committed = any(e.name == f"{step['new_base']}.parquet" for e in folder.entries(checkpoint))
        if committed:  # the new file holds the rows: the old ones go
            doomed = [f"{folder.root}/{name}" for name in step["old"]] + [f"{checkpoint}/{step['old_base']}.parquet"]
        else:  # not committed: the new file goes, the old ones stay
            doomed = [f"{folder.root}/{step['new']}", f"{checkpoint}/{step['new_base']}.pending.parquet"]
        for path in doomed:
            if folder.fs.get_file_info(path).type == pafs.FileType.File:
                folder.fs.delete_file(path)
        folder.fs.delete_file(f"{folder.meta}/{JOURNAL}/{entry.name}")


def release(folder: OutputFolder, codes: Collection[str], run_id: str, shard=None) -> list[Document]:
    """Take the rows with ``codes`` (of the run's --shard slice) out of the output, so that this run
    (``run_id``, already recorded) processes them again, from the source each row records; returns
    them as documents for the read (which skips their ids in the listing)."""
    from raypipe.read import in_shard

    codes = set(codes)
    committed = folder.committed()
    checkpoint = f"{folder.meta}/{checkpoint_dir(shard)}"
    groups: dict[str, list[str]] = {}  # checkpoint base -> its data files (one write task's)
    for name in folder.data_files():
        base = checkpoint_base(name, set(committed))
        if base is not None and committed[base] == checkpoint:  # uncommitted: Ray's own recovery deletes it
            groups.setdefault(base, []).append(name)
    released: list[Document] = []
    for n, (base, names) in enumerate(sorted(groups.items())):
        contents = [_read(folder, name) for name in names]
        rows = [_rows_of(content) for content in contents]
        keeps = [[not (code in codes and in_shard(doc_id, shard)) for doc_id, code, _ in r] for r in rows]
        if all(all(keep) for keep in keeps):
            continue
        ext = names[0].split(".", 1)[1]
        new = f"{run_id}_retry_{n:06}.{ext}"
        step = {"old": names, "old_base": base, "new": new, "new_base": new.rsplit(".", 1)[0], "checkpoint": checkpoint}
        folder.write_json(f"{JOURNAL}/{step['new_base']}.json", step)
        kept_ids = [doc_id for r, keep in zip(rows, keeps) for (doc_id, _, _), k in zip(r, keep) if k]
        if kept_ids:
            pending = f"{checkpoint}/{step['new_base']}.pending.parquet"
            with folder.fs.open_output_stream(pending) as f:
                f.write(_checkpoint(kept_ids))
            _write_file(folder, new, _encode(contents, keeps, ext))
            folder.fs.move(pending, f"{checkpoint}/{step['new_base']}.parquet")  # the commit
        else:  # nothing left: an empty committed checkpoint marks the step done
            with folder.fs.open_output_stream(f"{checkpoint}/{step['new_base']}.parquet") as f:
                f.write(_checkpoint([]))
        recover(folder)  # the step is committed: the old files and their checkpoint go, the journal with them
        released += [Document(doc_id, source) for r, keep in zip(rows, keeps) for (doc_id, _, source), k in zip(r, keep)
                     if not k]
    if released:
        log.info("--retry-failed: %d documents with error codes %s will be processed again", len(released), sorted(codes))
    return released
