"""Manifests: a Parquet or JSONL file — or a folder of them (shards) — listing documents, with a ``path``
column (or ``source``) and an optional ``doc_id``.

On the driver (:func:`plan_manifest`) each file is checked cheaply — a Parquet file's metadata, a JSONL
file's first non-empty line — and a file that cannot be read, or has no path column, stops the run
before Ray starts, naming the file. A Parquet file is cut into units of whole row groups, each of at
least SEEN_LIMIT rows.

In a read task (:func:`manifest_documents`) the rows stream: JSONL line by line (plain, .gz or .zst;
memory bounded by a line of at most ``MAX_LINE`` bytes), Parquet row group by row group. A row that
cannot be used — not JSON, not an object, a path or doc_id that is not a string, no path, a URI the
allow-list refuses — becomes one ``invalid_input`` row that names the file and the line (JSONL) or row
(Parquet, counted from the file's first row); the rows around it are read. A row without a usable
doc_id is named ``<manifest file>#line=N`` (or ``#row=N``).
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from typing import Iterator, NamedTuple, Optional

import pyarrow as pa
import pyarrow.fs as pafs

from raypipe.errors import ErrorCode, InputError
from raypipe.listed import SEEN_LIMIT, Document, Unit
from raypipe.storage import is_uri, refusal, resolve

MANIFEST_SUFFIXES = (".parquet", ".jsonl", ".json", ".jsonl.gz", ".jsonl.zst", ".json.gz")
MAX_LINE = 1 << 20  # bytes in one JSONL line; a longer line is an invalid_input row


class Row(NamedTuple):
    where: str  # "line 3", "row 7": for messages
    fallback: str  # the doc_id of a row that has no usable one
    doc_id: object
    path: object
    problem: Optional[str] = None  # why the row cannot be used, when its reader already knows


def _codec(path: str) -> Optional[str]:
    return {"gz": "gzip", "zst": "zstd"}.get(path.rsplit(".", 1)[-1])


class _Gunzip:
    """A gzip stream's bytes as far as they go (``read(n)``), member after member, as ``gzip -dc`` reads
    them: zero padding after the last member is ignored. A file cut short, or bytes after a member that
    are neither padding nor another member, give every byte before them, then OSError on the next
    read. (Arrow's gzip reader loses the last block it had inflated when the stream ends early.) At
    most ``n`` bytes are inflated per call: a bomb costs no memory."""

    CUT = "the gzip stream ends before its end marker: the file was cut short"

    def __init__(self, raw):
        self.raw, self.inflate, self.pending, self.error = raw, zlib.decompressobj(31), b"", None

    def _next_member(self) -> bool:
        """After a member's end: whether another follows (and set up for it)."""
        rest = self.inflate.unused_data or self.raw.read(1 << 16)
        while len(rest) < 2 and rest.strip(b"\0"):  # too short to tell yet
            more = self.raw.read(1 << 16)
            if not more:
                break
            rest += more
        if not rest.strip(b"\0"):  # the end, or zero padding: drain it
            while rest:
                if rest.strip(b"\0"):
                    self.error = "bytes that are not gzip follow the zero padding after the last gzip member"
                    return False
                rest = self.raw.read(1 << 16)
            return False
        if not rest.startswith(b"\x1f\x8b"):
            self.error = "bytes that are not gzip follow the last gzip member"
            return False
        self.inflate, self.pending = zlib.decompressobj(31), rest
        return True

    def read(self, n: int) -> bytes:
        out, size = [], 0
        while size < n and self.error is None:
            try:
                if self.inflate.eof and not self._next_member():
                    break
                if not self.pending:
                    self.pending = self.raw.read(1 << 16)
                    if not self.pending:
                        self.error = self.CUT
                        break
                piece = self.inflate.decompress(self.pending, n - size)
            except zlib.error as e:
                self.error = f"not a readable gzip stream ({e})"
                break
            self.pending = b"" if self.inflate.eof else self.inflate.unconsumed_tail
            if piece:
                out.append(piece)
                size += len(piece)
        if size == 0 and self.error is not None:
            raise OSError(self.error)
        return b"".join(out)


@contextlib.contextmanager
def _reader(fs: pafs.FileSystem, path: str):
    """``read(n)`` of a JSONL manifest's bytes, decompressed (gzip / zstd by the name's ending)."""
    codec = _codec(path)
    with fs.open_input_stream(path, compression=None if codec == "gzip" else codec) as f:
        yield _Gunzip(f).read if codec == "gzip" else f.read


def _shown(spec: str, path: str) -> str:
    return spec.split("://", 1)[0] + "://" + path if is_uri(spec) else path


def lines(read, limit: int = MAX_LINE, block: int = 1 << 16) -> Iterator[tuple[int, Optional[bytes]]]:
    """(number, line) for each line of a byte stream, numbered from 1; a line longer than ``limit`` comes as
    (number, None) and is skipped to its end, so memory stays within a block plus ``limit``."""
    number, pending, too_long = 0, b"", False
    while True:
        data = read(block)
        if not data:
            break
        parts = data.split(b"\n")
        for i, part in enumerate(parts):
            if not too_long:
                pending += part
                if len(pending) > limit:
                    pending, too_long = b"", True
            if i == len(parts) - 1:
                break
            number += 1
            yield number, None if too_long else pending
            pending, too_long = b"", False
    if pending or too_long:
        yield number + 1, None if too_long else pending


def _json_kind(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return {list: "an array", str: "a string", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _parse(line: bytes) -> tuple[Optional[dict], Optional[str]]:
    """(the line's object, None) or (None, why it is not one)."""
    try:
        value = json.loads(line)
    except RecursionError:
        return None, "not valid JSON (nested too deeply)"
    except ValueError as e:
        return None, f"not valid JSON ({str(e)[:200]})"
    if not isinstance(value, dict):
        return None, f"{_json_kind(value)}, not a JSON object"
    return value, None


def _path_of(row: dict) -> object:
    return row["path"] if "path" in row else row.get("source")


# --- on the driver: check and plan -----------------------------------------------------------------


def _check_jsonl(fs: pafs.FileSystem, path: str, shown: str) -> None:
    """The file opens (and decompresses), and its first non-empty line, when it is an object, has a path."""
    try:
        with _reader(fs, path) as read:
            for _, line in lines(read):
                if line is None or line.strip():
                    if line is not None and line.lstrip().startswith(b"["):
                        raise InputError(f"manifest file {shown!r} starts with a JSON array: a manifest holds one "
                                         "JSON object per line (JSON Lines)")
                    row, _ = _parse(line) if line is not None else (None, None)
                    if row is not None and "path" not in row and "source" not in row:
                        raise InputError(f"manifest file {shown!r} has no 'path' field (its first row's keys: "
                                         f"{sorted(row)[:20]})")
                    return
    except (OSError, pa.ArrowException) as e:
        raise InputError(f"manifest file {shown!r} cannot be read ({e})") from None


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind) \
        or getattr(pa.types, "is_string_view", lambda _: False)(kind)


def _check_parquet(fs: pafs.FileSystem, path: str, shown: str) -> list[int]:
    """The rows in each of the file's row groups, after checking that its metadata reads and that it has a
    text path column."""
    import pyarrow.parquet as pq

    try:
        with fs.open_input_file(path) as f:
            parquet = pq.ParquetFile(f)
            meta = parquet.metadata
            schema, groups = parquet.schema_arrow, [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
    except (OSError, pa.ArrowException) as e:
        raise InputError(f"manifest file {shown!r} cannot be read as Parquet ({e})") from None
    column = "path" if "path" in schema.names else "source" if "source" in schema.names else None
    if column is None:
        raise InputError(f"manifest file {shown!r} has no 'path' column (columns: {schema.names[:20]})")
    if not _is_text(schema.field(column).type):
        raise InputError(f"manifest file {shown!r}: its {column!r} column holds {schema.field(column).type}, not strings")
    return groups


def _parts(rows: list[int], parallelism: int) -> list[tuple[int, ...]]:
    """Consecutive row groups cut into at most ``parallelism`` parts of at least SEEN_LIMIT rows (the last
    may hold fewer): a manifest that small is read by one task, which catches every repeat in it."""
    target = max(SEEN_LIMIT, -(-sum(rows) // max(1, parallelism)))
    parts: list[tuple[int, ...]] = []
    part: list[int] = []
    held = 0
    for group, count in enumerate(rows):
        part.append(group)
        held += count
        if held >= target:
            parts.append(tuple(part))
            part, held = [], 0
    return parts + [tuple(part)] if part else parts


def plan_manifest(manifest: str, storage, parallelism: int) -> list[Unit]:
    """The units of a manifest file or folder of shards; raises InputError."""
    fs, inner = resolve(manifest, storage)
    info = fs.get_file_info(inner)
    if info.type == pafs.FileType.Directory:
        try:
            files = sorted(i.path for i in fs.get_file_info(pafs.FileSelector(inner, recursive=True))
                           if i.type == pafs.FileType.File and i.base_name.endswith(MANIFEST_SUFFIXES)
                           and not i.base_name.startswith(("_", ".")))
        except UnicodeDecodeError:  # Arrow names every file as text
            raise InputError(f"manifest folder {manifest!r} holds a file or folder whose name is not valid UTF-8; "
                             "rename it (every shard's name must be UTF-8)") from None
        if not files:
            raise InputError(f"manifest {manifest!r} is a folder without Parquet or JSONL files")
    elif info.type == pafs.FileType.File:
        files = [inner]
    else:
        raise InputError(f"manifest {manifest!r} does not exist")
    units = []
    top = inner.rstrip("/") if info.type == pafs.FileType.Directory else inner.rsplit("/", 1)[0]
    for path in files:
        folder, shown = path.rsplit("/", 1)[0], _shown(manifest, path)
        # ids of relative paths are relative to the manifest's top folder: two shards in two folders that
        # both list "a.pdf" name two files, with two ids
        prefix = folder[len(top):].strip("/")
        prefix = prefix + "/" if prefix else ""
        if path.endswith(".parquet"):
            groups = _check_parquet(fs, path, shown)
            units += [Unit("manifest", manifest, folder, (path,), row_groups=part, rows=sum(groups[g] for g in part),
                           prefix=prefix) for part in _parts(groups, parallelism)]
        else:
            _check_jsonl(fs, path, shown)
            units.append(Unit("manifest", manifest, folder, (path,), prefix=prefix))
    return units


# --- in a read task: the rows -----------------------------------------------------------------------


def _jsonl_rows(fs: pafs.FileSystem, path: str) -> Iterator[Row]:
    number = 0
    try:
        with _reader(fs, path) as read:
            for number, line in lines(read):
                if line is None:
                    yield Row(f"line {number}", f"{path}#line={number}", None, None,
                              f"the line is longer than {MAX_LINE} bytes")
                    continue
                if not line.strip():
                    continue
                row, problem = _parse(line)
                if row is None:
                    yield Row(f"line {number}", f"{path}#line={number}", None, None, problem)
                else:
                    yield Row(f"line {number}", f"{path}#line={number}", row.get("doc_id"), _path_of(row))
    except (OSError, pa.ArrowException) as e:
        yield Row(f"line {number + 1}", f"{path}#line={number + 1}", None, None,
                  f"the file cannot be read from here on ({e}); the lines after it were not listed")


def _parquet_rows(fs: pafs.FileSystem, path: str, groups: tuple[int, ...]) -> Iterator[Row]:
    """The rows of ``groups``; a row group that cannot be read is one row saying so, and the next is read."""
    import pyarrow.parquet as pq

    failed = (OSError, pa.ArrowException, UnicodeDecodeError)
    f = None
    try:
        f = fs.open_input_file(path)
        parquet = pq.ParquetFile(f)
    except failed as e:
        if f is not None:
            f.close()
        yield Row("row 1", f"{path}#row=1", None, None, f"the file cannot be read ({e}); none of its rows was listed")
        return
    with f:
        names = parquet.schema_arrow.names
        column = "path" if "path" in names else "source"
        columns = [column] + (["doc_id"] if "doc_id" in names else [])
        for group in groups:
            row = sum(parquet.metadata.row_group(g).num_rows for g in range(group))
            try:
                for batch in parquet.iter_batches(batch_size=65536, row_groups=[group], columns=columns):
                    paths = batch.column(column).to_pylist()
                    ids = batch.column("doc_id").to_pylist() if "doc_id" in names else [None] * len(paths)
                    for doc_id, value in zip(ids, paths):
                        row += 1
                        yield Row(f"row {row}", f"{path}#row={row}", doc_id, value)
            except failed as e:
                yield Row(f"row {row + 1}", f"{path}#row={row + 1}", None, None,
                          f"row group {group} cannot be read from here on ({e}); the rest of it was not listed")


def _text_problem(value: object, what: str) -> Optional[str]:
    """Why a doc_id or path is not a string an Arrow table can hold (None: it is one, or it is missing)."""
    if value is None:
        return None
    if not isinstance(value, str):
        return f"{what} is {_json_kind(value)}, not a string"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a \ud800 escape
        return f"{what} is not valid UTF-8"
    return None if value.strip() or what == "path" else f"{what} is empty"


def manifest_documents(unit: Unit, cfg, storage) -> Iterator[Document]:
    """The documents of a manifest unit, in the file's order: one per row."""
    fs, _ = resolve(unit.spec, storage)
    [path] = unit.entries
    prefix = unit.spec.split("://", 1)[0] + "://" if is_uri(unit.spec) else ""
    shown = _shown(unit.spec, path)
    rows = _parquet_rows(fs, path, unit.row_groups or ()) if path.endswith(".parquet") else _jsonl_rows(fs, path)
    for row in rows:
        doc_id, value = row.doc_id, row.path
        if isinstance(doc_id, int) and not isinstance(doc_id, bool):
            doc_id = str(doc_id)
        bad_id, bad_path = _text_problem(doc_id, "doc_id"), _text_problem(value, "path")
        problem = row.problem or bad_id or bad_path or refusal(value, cfg.allow_file_uris, cfg.allow_uri_options)
        if doc_id is None or bad_id:
            relative_path = problem is None and not is_uri(value) and not os.path.isabs(value)
            doc_id = (unit.prefix + value if relative_path else value) if problem is None else row.fallback
        if problem is not None:
            kept = value if isinstance(value, str) and not bad_path and value.strip() else None
            yield Document(doc_id, kept, ErrorCode.INVALID_INPUT.value, f"manifest {shown} {row.where}: {problem}")
            continue
        if not is_uri(value) and not os.path.isabs(value):
            value = prefix + f"{unit.root}/{value}"
        yield Document(doc_id, value)
