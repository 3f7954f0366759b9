"""Listing the documents the inputs name — folders (recursively), globs, single files, s3:// / gs://
URIs and manifests (a file, or a folder of Parquet/JSONL shards) — as a stream of :class:`Document`
with a stable ``doc_id``, never as one list on the driver.

The driver only plans the work (:func:`plan_units`): it checks that each input exists, lists the top
level of each folder (or a manifest's files and row groups) and cuts that into units for the read
tasks; the read tasks walk and read (:func:`documents`) and feed the pipeline as they go. What the
driver holds is proportional to the top levels and the cluster, not to the number of documents.

Hazards a crawl brings end as rows, never as a crash or a hang:

- a symlinked folder inside an input is not followed (no loops, no file listed twice through two
  links); a symlinked file is read. FIFOs, sockets and devices are listed, and the render stage turns
  them into ``read_error`` rows without a blocking read;
- a file name that is not valid UTF-8 becomes a ``read_error`` row with the name escaped;
- a manifest row without a path, or whose URI the allow-list refuses (file://, other schemes,
  query-string filesystem options), becomes an ``invalid_input`` row;
- within a read unit, the same file under two ids is read once (the first id keeps it, the others
  are ``duplicate`` rows naming it) and a repeated ``doc_id`` is listed once.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from typing import Iterator, Optional

import pyarrow.fs as pafs

from raypipe.errors import ErrorCode, InputError
from raypipe.storage import is_uri, refusal, resolve

_GLOB_CHARS = re.compile(r"[*?\[]")
MANIFEST_SUFFIXES = (".parquet", ".jsonl", ".json", ".jsonl.gz", ".jsonl.zst", ".json.gz")


@dataclasses.dataclass(frozen=True)
class Document:
    doc_id: str
    source: Optional[str]  # absolute local path, or a URI; None when a manifest row has no path
    error_code: Optional[str] = None  # set when the document cannot be read at all (it becomes a failed row)
    error: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Unit:
    """One piece of listing work for a read task."""

    kind: str  # "files": named files; "tree": entries below a folder; "manifest": rows of a manifest file
    spec: str  # the input as the user gave it
    root: str = ""  # folder (inside its filesystem) that ids are relative to; a manifest's folder
    entries: tuple[str, ...] = ()  # tree: top-level names to walk; files: inner paths; manifest: [file]
    pattern: Optional[str] = None  # tree of a glob: regex the relative path must match
    row_groups: Optional[tuple[int, ...]] = None  # manifest Parquet: the row groups of this unit


def _glob_regex(pattern: str) -> str:
    """Translate a glob over '/'-separated relative paths: '**/' spans folders, '*' does not."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append(pattern[i : end + 1])
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out) + r"\Z"


def _relative(path: str, root: str) -> str:
    return path[len(root.rstrip("/")) :].lstrip("/")


def _source(spec: str, inner: str) -> str:
    """The source string of a path inside an input's filesystem: scheme and allowed options kept."""
    if not is_uri(spec):
        return inner
    options = "?" + spec.partition("?")[2] if "?" in spec else ""
    return spec.split("://", 1)[0] + "://" + inner + options


# --- on the driver: plan the units --------------------------------------------------------------


def _top_level(fs: pafs.FileSystem, folder: str, local: bool) -> list[str]:
    if local:
        with os.scandir(folder) as it:
            return sorted(e.name for e in it)
    return sorted(i.base_name for i in fs.get_file_info(pafs.FileSelector(folder, recursive=False)))


def _chunks(names: list[str], count: int) -> list[tuple[str, ...]]:
    count = max(1, min(count, len(names)))
    return [tuple(names[i::count]) for i in range(count)] if names else []


def _input_units(spec: str, cfg, storage, parallelism: int) -> tuple[list[Unit], set[str]]:
    """(units, the first components of the ids this input gives) for one command-line input."""
    why = refusal(spec, cfg.allow_file_uris, cfg.allow_uri_options)
    if why:
        raise InputError(f"input {spec!r}: {why}")
    fs, inner = resolve(spec, storage)
    local = not is_uri(spec)
    match = _GLOB_CHARS.search(inner)
    pattern = None
    if match:
        static = inner[: match.start()]
        root = static.rsplit("/", 1)[0] if "/" in static else ""
        if not root and static.startswith("/"):
            root = "/"
        if not root or fs.get_file_info(root).type != pafs.FileType.Directory:
            raise InputError(f"input {spec!r}: folder {root or static!r} does not exist")
        pattern = _glob_regex(_relative(inner, root))
    else:
        root = inner
        if local:
            try:
                is_folder = stat.S_ISDIR(os.stat(inner).st_mode)
            except FileNotFoundError:
                raise InputError(f"input {spec!r} does not exist") from None
            except OSError as e:
                raise InputError(f"input {spec!r} cannot be read ({e.strerror})") from None
        else:
            info = fs.get_file_info(inner)
            if info.type == pafs.FileType.NotFound:
                raise InputError(f"input {spec!r} does not exist")
            is_folder = info.type == pafs.FileType.Directory
        if not is_folder:  # a file, or a FIFO or device named directly: one row either way
            name = inner.rsplit("/", 1)[-1]
            return [Unit("files", spec, inner.rsplit("/", 1)[0], (inner,))], {name}
    names = _top_level(fs, root, local)
    return [Unit("tree", spec, root, chunk, pattern) for chunk in _chunks(names, parallelism)], set(names)


def _manifest_units(manifest: str, storage, parallelism: int) -> list[Unit]:
    fs, inner = resolve(manifest, storage)
    info = fs.get_file_info(inner)
    if info.type == pafs.FileType.Directory:
        files = sorted(i.path for i in fs.get_file_info(pafs.FileSelector(inner, recursive=True))
                       if i.type == pafs.FileType.File and i.base_name.endswith(MANIFEST_SUFFIXES)
                       and not i.base_name.startswith(("_", ".")))
        if not files:
            raise InputError(f"manifest {manifest!r} is a folder without Parquet or JSONL files")
    elif info.type == pafs.FileType.File:
        files = [inner]
    else:
        raise InputError(f"manifest {manifest!r} does not exist")
    units = []
    for path in files:
        folder = path.rsplit("/", 1)[0]
        if path.endswith(".parquet"):
            import pyarrow.parquet as pq

            with fs.open_input_file(path) as f:
                meta = pq.ParquetFile(f).metadata
                names = meta.schema.names
            if "path" not in names and "source" not in names:
                raise InputError(f"manifest {manifest!r} has no 'path' column (columns: {names})")
            groups = list(range(meta.num_row_groups))
            per = max(1, -(-len(groups) // max(1, parallelism)))
            units += [Unit("manifest", manifest, folder, (path,), row_groups=tuple(groups[i:i + per]))
                      for i in range(0, len(groups), per)]
        else:
            units.append(Unit("manifest", manifest, folder, (path,)))
    return units


def plan_units(cfg, storage=None, parallelism: int = 4) -> list[Unit]:
    """The read units for every input (driver side): checks that each exists, and that no two inputs
    can give the same doc_id — ids are paths relative to an input, so two ids can only be equal if
    their first components are, which the top levels show. Raises InputError."""
    units: list[Unit] = []
    firsts: dict[str, str] = {}
    for spec in cfg.inputs:
        spec_units, names = _input_units(spec, cfg, storage, parallelism)
        for name in names:
            if name in firsts and firsts[name] != spec:
                raise InputError(
                    f"inputs {firsts[name]!r} and {spec!r} both hold {name!r} at their top level, so their doc_ids "
                    "could be the same; give them in a manifest with doc_ids of your own, or run them separately"
                )
            firsts[name] = spec
        units += spec_units
    if cfg.manifest:
        units += _manifest_units(cfg.manifest, storage, parallelism)
    if not units:
        raise InputError(f"no documents found in inputs {cfg.inputs or cfg.manifest!r}")
    return units


# --- in a read task: walk and read --------------------------------------------------------------


def _walk_local(path: str) -> Iterator[str]:
    """Every non-folder path at or below ``path``, in sorted order, never into a symlinked folder."""
    try:
        if not os.path.isdir(path) or os.path.islink(path):
            yield path
            return
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        yield path
        return
    for entry in entries:
        try:
            into = entry.is_dir(follow_symlinks=False)
        except OSError:
            into = False
        if into:
            yield from _walk_local(entry.path)
        elif not (entry.is_symlink() and _is_dir(entry.path)):  # a symlinked folder: not followed
            yield entry.path


def _is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _walk(fs: pafs.FileSystem, path: str, local: bool) -> Iterator[str]:
    if local:
        yield from _walk_local(path)
        return
    info = fs.get_file_info(path)
    if info.type != pafs.FileType.Directory:
        yield path
        return
    for item in fs.get_file_info(pafs.FileSelector(path, recursive=True)):
        if item.type == pafs.FileType.File:
            yield item.path


def _document(doc_id: str, source: str) -> Document:
    """A listed file; a name that is not valid UTF-8 (a surrogate-escaped str) becomes a read_error row."""
    try:
        source.encode("utf-8")
        doc_id.encode("utf-8")
    except UnicodeEncodeError:
        shown = lambda text: text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")  # noqa: E731
        return Document(shown(doc_id), shown(source), ErrorCode.READ_ERROR.value,
                        "the file name is not valid UTF-8 (shown with \\x escapes); rename the file to read it")
    return Document(doc_id, source)


def _tree(unit: Unit, cfg, storage) -> Iterator[Document]:
    fs, _ = resolve(unit.spec, storage)
    local = not is_uri(unit.spec)
    extensions = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in cfg.extensions)
    pattern = re.compile(unit.pattern) if unit.pattern else None
    for name in unit.entries:
        for path in _walk(fs, f"{unit.root.rstrip('/')}/{name}", local):
            relative = _relative(path, unit.root)
            if pattern.match(relative) if pattern else path.lower().endswith(extensions):
                yield _document(relative, _source(unit.spec, path))


def _manifest_rows(unit: Unit, storage) -> Iterator[tuple[Optional[object], Optional[object]]]:
    """(doc_id, path) per row of a manifest file, streamed."""
    fs, _ = resolve(unit.spec, storage)
    [path] = unit.entries
    with fs.open_input_file(path) as f:
        if path.endswith(".parquet"):
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(f)
            names = parquet.schema_arrow.names
            column = "path" if "path" in names else "source"
            columns = [column] + (["doc_id"] if "doc_id" in names else [])
            for batch in parquet.iter_batches(batch_size=65536, row_groups=unit.row_groups, columns=columns):
                paths = batch.column(column).to_pylist()
                ids = batch.column("doc_id").to_pylist() if "doc_id" in names else [None] * len(paths)
                yield from zip(ids, paths)
            return
        import pyarrow as pa
        import pyarrow.json as pj

        codec = {"gz": "gzip", "zst": "zstd"}.get(path.rsplit(".", 1)[-1])
        stream = pa.CompressedInputStream(f, codec) if codec else f
        reader = pj.open_json(stream)
        for batch in reader:
            names = batch.schema.names
            if "path" not in names and "source" not in names:
                raise InputError(f"manifest {unit.spec!r} has no 'path' column (columns: {names})")
            paths = batch.column("path" if "path" in names else "source").to_pylist()
            ids = batch.column("doc_id").to_pylist() if "doc_id" in names else [None] * len(paths)
            yield from zip(ids, paths)


def _manifest(unit: Unit, cfg, storage) -> Iterator[Document]:
    prefix = unit.spec.split("://", 1)[0] + "://" if is_uri(unit.spec) else ""
    for row, (doc_id, path) in enumerate(_manifest_rows(unit, storage), start=1):
        path = None if path is None else str(path)
        doc_id = str(doc_id) if doc_id is not None else path if path is not None else f"{unit.entries[0]}#row={row}"
        why = refusal(path, cfg.allow_file_uris, cfg.allow_uri_options)
        if why:
            yield Document(doc_id, path, ErrorCode.INVALID_INPUT.value, f"manifest row {row}: {why}")
            continue
        if not is_uri(path) and not os.path.isabs(path):
            path = prefix + f"{unit.root}/{path}"
        yield Document(doc_id, path)


def _same_file_key(source: str) -> str:
    return source.rstrip("/") if is_uri(source) else os.path.realpath(source)


def documents(unit: Unit, cfg, storage=None, chunk: int = 65536) -> Iterator[Document]:
    """The documents of one unit, in order; within each ``chunk`` of them a repeated doc_id is listed
    once and one file under two ids is read once (memory stays bounded by ``chunk``)."""
    if unit.kind == "manifest":
        listed = _manifest(unit, cfg, storage)
    elif unit.kind == "tree":
        listed = _tree(unit, cfg, storage)
    else:
        listed = (_document(path.rsplit("/", 1)[-1], _source(unit.spec, path)) for path in unit.entries)
    ids: set[str] = set()
    files: dict[str, str] = {}
    for doc in listed:
        if len(ids) >= chunk:
            ids.clear()
            files.clear()
        if doc.doc_id in ids:
            continue
        ids.add(doc.doc_id)
        if doc.error_code is None:
            key = _same_file_key(doc.source)
            if key in files:
                doc = Document(doc.doc_id, doc.source, ErrorCode.DUPLICATE.value,
                               f"the same file as doc_id {files[key]!r}, which was read instead")
            else:
                files[key] = doc.doc_id
        yield doc


def list_documents(cfg, storage=None) -> list[Document]:
    """Every document, listed on this process and sorted by doc_id (tests, ``raypipe plan``); a run streams
    them instead."""
    docs = [doc for unit in plan_units(cfg, storage) for doc in documents(unit, cfg, storage)]
    return sorted(docs, key=lambda d: d.doc_id)


def input_roots(cfg) -> list[str]:
    """The folders and files the inputs name (a glob's static folder), absolute, for the output checks."""
    roots = []
    for spec in [*cfg.inputs, *([cfg.manifest] if cfg.manifest else [])]:
        base = spec.partition("?")[0]
        match = _GLOB_CHARS.search(base)
        if match:
            base = base[: match.start()].rsplit("/", 1)[0] or "/"
        roots.append(base.split("://", 1)[1].rstrip("/") if is_uri(base) else os.path.realpath(os.path.expanduser(base)))
    return roots
