"""Stage 1 — read: list the documents and emit one light row per document (``doc_id``, ``source``).

Listing happens on the driver before any Ray work, so a missing input fails at once. The rows carry
no bytes: the render stage fetches each file itself, one at a time, which keeps memory flat and the
read cheap. ``doc_id`` exists from the very first stage and never changes, which is what resume keys on.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable, Optional

import pyarrow as pa
import pyarrow.fs as pafs

from raypipe.config import InputConfig
from raypipe.errors import InputError
from raypipe.schema import DOCUMENT
from raypipe.storage import is_uri, resolve

_GLOB_CHARS = re.compile(r"[*?\[]")

@dataclass(frozen=True)
class Document:
    doc_id: str
    source: str  # absolute local path or a URI that pyarrow.fs.FileSystem.from_uri understands


def _filesystem(path: str) -> tuple[pafs.FileSystem, str, str]:
    """(filesystem, path inside it, prefix that turns an inner path back into a source string)."""
    fs, inner = resolve(path)
    return fs, inner, (path.split("://", 1)[0] + "://" if is_uri(path) else "")


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


def _walk(fs: pafs.FileSystem, root: str) -> Iterable[str]:
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        if info.type == pafs.FileType.File:
            yield info.path


def _relative(path: str, root: str) -> str:
    return path[len(root.rstrip("/")) :].lstrip("/")


def _list_one(spec: str, extensions: tuple[str, ...]) -> list[Document]:
    fs, inner, prefix = _filesystem(spec)
    match = _GLOB_CHARS.search(inner)
    if match:
        static = inner[: match.start()]
        root = static.rsplit("/", 1)[0] if "/" in static else ""
        if not root and static.startswith("/"):
            root = "/"
        if not root or fs.get_file_info(root).type != pafs.FileType.Directory:
            raise InputError(f"input {spec!r}: folder {root or static!r} does not exist")
        pattern = _glob_regex(_relative(inner, root))
        return [Document(_relative(p, root), prefix + p) for p in _walk(fs, root) if pattern.match(_relative(p, root))]
    info = fs.get_file_info(inner)
    if info.type == pafs.FileType.NotFound:
        raise InputError(f"input {spec!r} does not exist")
    if info.type == pafs.FileType.File:
        return [Document(inner.rsplit("/", 1)[-1], prefix + inner)]
    return [Document(_relative(p, inner), prefix + p) for p in _walk(fs, inner) if p.lower().endswith(extensions)]


def _read_manifest(manifest: str) -> list[Document]:
    fs, inner, prefix = _filesystem(manifest)
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
    paths = [str(p) for p in t.column(column).to_pylist()]
    ids = [str(i) for i in t.column("doc_id").to_pylist()] if "doc_id" in t.column_names else paths
    folder = inner.rsplit("/", 1)[0]
    docs = []
    for doc_id, path in zip(ids, paths):
        if not is_uri(path) and not os.path.isabs(path):
            path = prefix + f"{folder}/{path}"
        docs.append(Document(doc_id, path))
    return docs


def list_documents(cfg: InputConfig) -> list[Document]:
    """Every document the inputs name, sorted by ``doc_id``; raises :class:`InputError`."""
    extensions = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in cfg.extensions)
    docs: list[Document] = []
    for spec in cfg.inputs:
        docs.extend(_list_one(spec, extensions))
    if cfg.manifest:
        docs.extend(_read_manifest(cfg.manifest))
    seen: dict[str, str] = {}
    for d in docs:
        if d.doc_id in seen and seen[d.doc_id] != d.source:
            raise InputError(f"two inputs give the same doc_id {d.doc_id!r}: {seen[d.doc_id]} and {d.source}")
        seen[d.doc_id] = d.source
    if not seen:
        raise InputError(f"no documents found in inputs {cfg.inputs or cfg.manifest!r} (extensions {list(extensions)})")
    return [Document(i, s) for i, s in sorted(seen.items())]


def _read_task(docs: list[Document]):
    from ray.data.block import BlockMetadata
    from ray.data.datasource import ReadTask

    def read_fn():
        yield pa.table(
            {"doc_id": [d.doc_id for d in docs], "source": [d.source for d in docs]}, schema=DOCUMENT
        )

    size = sum(len(d.doc_id) + len(d.source) for d in docs)
    return ReadTask(read_fn, BlockMetadata(num_rows=len(docs), size_bytes=size, exec_stats=None, input_files=None))


def _datasource_class():
    from ray.data.datasource import Datasource

    class DocumentListDatasource(Datasource):
        """A fixed list of documents, ``docs_per_block`` rows per block."""

        def __init__(self, docs: list[Document], docs_per_block: int):
            super().__init__()
            self._docs = docs
            self._per_block = docs_per_block

        def estimate_inmemory_data_size(self) -> Optional[int]:
            return sum(len(d.doc_id) + len(d.source) for d in self._docs)

        def get_read_tasks(self, parallelism, per_task_row_limit=None, data_context=None):
            n = self._per_block
            return [_read_task(self._docs[i : i + n]) for i in range(0, len(self._docs), n)]

        def get_name(self) -> str:
            return "ListPDFs"

    return DocumentListDatasource


def read_documents(docs: list[Document], cfg: InputConfig):
    """A lazy Dataset with one row (``doc_id``, ``source``) per document."""
    import ray.data

    blocks = -(-len(docs) // cfg.docs_per_block)
    return ray.data.read_datasource(_datasource_class()(docs, cfg.docs_per_block), override_num_blocks=blocks)
