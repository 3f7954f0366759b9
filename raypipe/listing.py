"""Listing the documents the inputs name: folders (recursively), globs, single files, s3:// / gs:// URIs
and manifests, each becoming one :class:`Document` with a stable ``doc_id``.

Hazards a crawl brings are handled here, each ending as a row rather than a crash or a hang:

- folders are walked without following a symlink into a folder already walked (no loops, no file
  listed twice through two links); FIFOs, sockets and devices are listed, and the render stage
  turns them into ``read_error`` rows without opening them for a blocking read;
- a file name that is not valid UTF-8 becomes a ``read_error`` row with the name escaped;
- a manifest row without a path, or whose URI the allow-list refuses (file://, other schemes,
  query-string filesystem options), becomes an ``invalid_input`` row;
- the same file listed under two ids is read once: the first id (in ``doc_id`` order) keeps it, the
  others become ``duplicate`` rows that name it.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from typing import Iterable, Optional

import pyarrow.fs as pafs

from raypipe.config import InputConfig
from raypipe.errors import ErrorCode, InputError
from raypipe.storage import is_uri, refusal, resolve

_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Document:
    doc_id: str
    source: Optional[str]  # absolute local path, or a URI; None when a manifest row has no path
    error_code: Optional[str] = None  # set when the document cannot be read at all (it becomes a failed row)
    error: Optional[str] = None


def _glob_regex(pattern: str) -> re.Pattern:
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
    return re.compile("".join(out) + r"\Z")


def _walk_local(root: str) -> Iterable[str]:
    """Every non-folder path below ``root``, in sorted order; a symlinked folder is followed only the
    first time its target is reached, so loops end and nothing is listed twice through two links."""
    seen: set[tuple[int, int]] = set()

    def walk(folder: str) -> Iterable[str]:
        try:
            info = os.stat(folder)
        except OSError:
            return
        if (info.st_dev, info.st_ino) in seen:
            return
        seen.add((info.st_dev, info.st_ino))
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            try:
                is_dir = entry.is_dir()  # follows a symlink: its target is checked against `seen`
            except OSError:
                is_dir = False
            if is_dir:
                yield from walk(entry.path)
            else:
                yield entry.path

    yield from walk(root)


def _walk(fs: pafs.FileSystem, root: str, local: bool) -> Iterable[str]:
    if local:
        yield from _walk_local(root)
        return
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        if info.type == pafs.FileType.File:
            yield info.path


def _relative(path: str, root: str) -> str:
    return path[len(root.rstrip("/")) :].lstrip("/")


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


def _list_one(spec: str, extensions: tuple[str, ...], cfg: InputConfig, storage) -> list[Document]:
    why = refusal(spec, cfg.allow_file_uris, cfg.allow_uri_options)
    if why:
        raise InputError(f"input {spec!r}: {why}")
    fs, inner = resolve(spec, storage)
    local = not is_uri(spec)
    prefix = "" if local else spec.split("://", 1)[0] + "://"
    options = "?" + spec.partition("?")[2] if "?" in spec else ""  # allowed above: every source keeps them
    source = lambda path: prefix + path + options  # noqa: E731
    match = _GLOB_CHARS.search(inner)
    if match:
        static = inner[: match.start()]
        root = static.rsplit("/", 1)[0] if "/" in static else ""
        if not root and static.startswith("/"):
            root = "/"
        if not root or fs.get_file_info(root).type != pafs.FileType.Directory:
            raise InputError(f"input {spec!r}: folder {root or static!r} does not exist")
        pattern = _glob_regex(_relative(inner, root))
        return [_document(_relative(p, root), source(p)) for p in _walk(fs, root, local) if pattern.match(_relative(p, root))]
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
        return [_document(inner.rsplit("/", 1)[-1], source(inner))]
    return [_document(_relative(p, inner), source(p)) for p in _walk(fs, inner, local) if p.lower().endswith(extensions)]


def _read_manifest(manifest: str, cfg: InputConfig, storage) -> list[Document]:
    fs, inner = resolve(manifest, storage)
    prefix = manifest.split("://", 1)[0] + "://" if is_uri(manifest) else ""
    if fs.get_file_info(inner).type != pafs.FileType.File:
        raise InputError(f"manifest {manifest!r} does not exist")
    with fs.open_input_file(inner) as f:
        if inner.endswith(".parquet"):
            import pyarrow.parquet as pq

            t = pq.read_table(f)
        else:
            import pyarrow.json as pj

            t = pj.read_json(f)
    column = "path" if "path" in t.column_names else "source" if "source" in t.column_names else None
    if column is None:
        raise InputError(f"manifest {manifest!r} has no 'path' column (columns: {t.column_names})")
    paths = t.column(column).to_pylist()
    ids = t.column("doc_id").to_pylist() if "doc_id" in t.column_names else [None] * len(paths)
    folder = inner.rsplit("/", 1)[0]
    docs = []
    for row, (doc_id, path) in enumerate(zip(ids, paths), start=1):
        path = None if path is None else str(path)
        doc_id = str(doc_id) if doc_id is not None else path if path is not None else f"{manifest}#row={row}"
        why = refusal(path, cfg.allow_file_uris, cfg.allow_uri_options)
        if why:
            docs.append(Document(doc_id, path, ErrorCode.INVALID_INPUT.value, f"manifest row {row}: {why}"))
            continue
        if not is_uri(path) and not os.path.isabs(path):
            path = prefix + f"{folder}/{path}"
        docs.append(Document(doc_id, path))
    return docs


def _same_file_key(source: str) -> str:
    return source.rstrip("/") if is_uri(source) else os.path.realpath(source)


def list_documents(cfg: InputConfig, storage=None) -> list[Document]:
    """Every document the inputs name, sorted by ``doc_id``; raises :class:`InputError` for an input that
    cannot be listed (missing path, no documents, one doc_id for two different files)."""
    extensions = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in cfg.extensions)
    docs: list[Document] = []
    for spec in cfg.inputs:
        docs.extend(_list_one(spec, extensions, cfg, storage))
    if cfg.manifest:
        docs.extend(_read_manifest(cfg.manifest, cfg, storage))
    by_id: dict[str, Document] = {}
    for d in docs:
        if d.doc_id in by_id and by_id[d.doc_id].source != d.source:
            raise InputError(f"two inputs give the same doc_id {d.doc_id!r}: {by_id[d.doc_id].source} and {d.source}")
        by_id[d.doc_id] = d
    if not by_id:
        raise InputError(f"no documents found in inputs {cfg.inputs or cfg.manifest!r} (extensions {list(extensions)})")
    out, first = [], {}
    for doc_id in sorted(by_id):
        d = by_id[doc_id]
        if d.error_code is None:
            key = _same_file_key(d.source)
            if key in first:
                d = Document(doc_id, d.source, ErrorCode.DUPLICATE.value,
                             f"the same file as doc_id {first[key]!r}, which was read instead")
            else:
                first[key] = doc_id
        out.append(d)
    return out


def input_roots(cfg: InputConfig) -> list[str]:
    """The folders and files the inputs name (a glob's static folder), absolute, for the output checks."""
    roots = []
    for spec in [*cfg.inputs, *([cfg.manifest] if cfg.manifest else [])]:
        base = spec.partition("?")[0]
        match = _GLOB_CHARS.search(base)
        if match:
            base = base[: match.start()].rsplit("/", 1)[0] or "/"
        roots.append(base.split("://", 1)[1].rstrip("/") if is_uri(base) else os.path.realpath(os.path.expanduser(base)))
    return roots
