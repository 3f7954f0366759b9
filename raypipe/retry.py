"""``--retry-failed``: documents already written with some error codes are taken out of the output —
their rows out of the data files, their ids out of the checkpoint — and processed again from the
source each row records, so each is written again exactly once.

One release is a journaled step (``_raypipe/retry/RUN.json``): the new data files and checkpoint files
are first written under hidden names, the journal is marked prepared, then they are renamed into
place and the old ones deleted. :func:`recover`, run before every run, rolls a prepared step forward
and an unprepared one back, so a crash at any moment leaves either the old output or the new one.
The released documents are kept in ``_raypipe/released.json`` until a run has finished with them.
"""

from __future__ import annotations

import io
import logging
from typing import Collection

import orjson
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raypipe import checkpoints
from raypipe.listing import Document
from raypipe.output import (
    PART_PREFIX,
    PART_SUFFIX,
    OutputFolder,
    checkpoint_dir,
    slice_name,
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


def _encode(content, keep: list[bool], name: str) -> bytes:
    """The kept rows, as a file of the same format."""
    if isinstance(content, pa.Table):
        sink = io.BytesIO()
        pq.write_table(content.filter(pa.array(keep, pa.bool_())), sink)
        return sink.getvalue()
    data = b"".join(line + b"\n" for line, k in zip(content, keep) if k)
    codec = _codec(name)
    if codec == "gzip":
        import gzip

        data = gzip.compress(data)
    elif codec == "zstd":
        import zstandard

        data = zstandard.ZstdCompressor().compress(data)
    return data


def _hidden(path: str) -> str:
    head, _, name = path.rpartition("/")
    return f"{head}/{PART_PREFIX}{name}{PART_SUFFIX}"


def _exists(folder: OutputFolder, path: str) -> bool:
    return folder.fs.get_file_info(path).type == pafs.FileType.File


def recover(folder: OutputFolder) -> None:
    """Roll a prepared release forward, an unprepared one back (see the module docstring)."""
    for entry in folder.entries(f"{folder.meta}/{JOURNAL}"):
        step = folder.read_json(f"{JOURNAL}/{entry.name}") if entry.kind == "file" else None
        if step is None:
            continue
        replaced = [(old, new) for old, new in step["data"] + step["checkpoints"]]
        if step.get("prepared"):
            for old, new in replaced:
                if new and _exists(folder, _hidden(new)):
                    folder.fs.move(_hidden(new), new)
            for old, _ in replaced:
                if _exists(folder, old):
                    folder.fs.delete_file(old)
        else:
            for _, new in replaced:
                if new and _exists(folder, _hidden(new)):
                    folder.fs.delete_file(_hidden(new))
        folder.fs.delete_file(f"{folder.meta}/{JOURNAL}/{entry.name}")


def _released_file(shard) -> str:
    return f"released-{slice_name(shard)}.json"


def released(folder: OutputFolder, shard=None) -> list[Document]:
    """Documents of this --shard slice taken out of the output and not yet written again by a finished run."""
    return [Document(d, s) for d, s in (folder.read_json(_released_file(shard)) or {}).get("documents", [])]


def finished(folder: OutputFolder, shard=None) -> None:
    """A run wrote (or found committed) every released document: forget them."""
    if folder.read_json(_released_file(shard)) is not None:
        folder.fs.delete_file(f"{folder.meta}/{_released_file(shard)}")


def release(folder: OutputFolder, codes: Collection[str], run_id: str, shard=None) -> list[Document]:
    """Take the rows with ``codes`` (of the run's --shard slice) out of the output so that this run
    (``run_id``, already recorded) processes them again; returns every released document not yet
    written again (this release's and an unfinished earlier one's)."""
    from raypipe.read import in_shard
    from raypipe.summary import COUNTS_FILE

    codes = set(codes)
    counted = folder.read_json(COUNTS_FILE) or {}  # each data file's error codes, as the last summary read them
    data, doomed = [], {}
    for n, name in enumerate(folder.data_files()):
        if name in counted and not codes & set(counted[name].get("codes") or {}):
            continue  # a file known to hold none of these codes is not read
        content = _read(folder, name)
        rows = _rows_of(content)
        keep = [not (code in codes and in_shard(doc_id, shard)) for doc_id, code, _ in rows]
        if all(keep):
            continue
        doomed.update({doc_id: source for (doc_id, _, source), k in zip(rows, keep) if not k})
        new = f"{folder.root}/{run_id}_retry_{n:06d}.{name.split('.', 1)[1]}" if any(keep) else None
        data.append((f"{folder.root}/{name}", new, content, keep, name))
    if not doomed:
        return released(folder, shard)
    checkpoint = f"{folder.meta}/{checkpoint_dir(shard)}"
    rewrites = []
    for n, path in enumerate(checkpoints.files(folder, checkpoint)):
        ids = checkpoints.read_ids(folder, path)
        kept = [i for i in ids if i not in doomed]
        if len(kept) < len(ids):
            rewrites.append((path, f"{checkpoint}/{run_id}_retry_{n:06d}.parquet" if kept else None, kept))
    journal = f"{JOURNAL}/{run_id}.json"
    step = {"data": [[old, new] for old, new, *_ in data], "checkpoints": [[old, new] for old, new, _ in rewrites]}
    folder.write_json(journal, step)
    for _, new, content, keep, name in data:
        if new:
            with folder.fs.open_output_stream(_hidden(new)) as f:
                f.write(_encode(content, keep, name))
    for _, new, kept in rewrites:
        if new:
            checkpoints.write_ids(folder, _hidden(new), kept)
    pending = {d.doc_id: d.source for d in released(folder, shard)} | doomed
    folder.write_json(_released_file(shard), {"documents": sorted(pending.items())})
    folder.write_json(journal, {**step, "prepared": True})
    recover(folder)
    log.info("--retry-failed: %d documents with error codes %s will be processed again", len(doomed), sorted(codes))
    return [Document(d, s) for d, s in sorted(pending.items())]
