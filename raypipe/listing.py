"""Listing the documents the inputs name — folders (recursively), globs, single files, s3:// / gs://
URIs (:mod:`raypipe.crawl`) and manifests, a file or a folder of Parquet/JSONL shards
(:mod:`raypipe.manifest`) — as a stream of :class:`Document` with a stable ``doc_id``, never as one list
on the driver.

The driver only plans the work (:func:`plan_units`): it checks that each input exists, that no two
inputs can give the same doc_id, and cuts the inputs into units for the read tasks (a folder into
slots of its top level, a manifest into its files and row groups); the read tasks walk and read
(:func:`documents`) and feed the pipeline as they go. What the driver holds is proportional to the
number of inputs and the cluster, not to the number of documents (an s3:// / gs:// folder's top level
is the exception: pyarrow lists it whole).

Hazards a crawl brings end as rows, never as a crash or a hang:

- a symlinked folder inside an input is not followed (no loops, no file listed twice through two
  links); a symlinked file is read. FIFOs, sockets and devices are listed, and the render stage turns
  them into ``read_error`` rows without a blocking read;
- a file name that is not valid UTF-8 becomes a ``read_error`` row with the name escaped;
- a manifest row that cannot be used (not JSON, no path, a URI the allow-list refuses, ...) becomes an
  ``invalid_input`` row;
- within a read task (:class:`Seen`), the same file under two ids is read once (the first id keeps it,
  the others are ``duplicate`` rows naming it), and a repeated ``doc_id`` is a ``duplicate`` row of its
  own, under ``<doc_id>#repeat=N``.
"""

from __future__ import annotations

import functools
import os
import stat
from typing import Iterator, Optional

from raypipe.crawl import (
    Input,
    check_utf8,
    document,
    glob_root,
    resolve_input,
    source,
    tree_documents,
)
from raypipe.errors import ErrorCode, InputError
from raypipe.listed import SEEN_LIMIT, Document, Unit
from raypipe.manifest import MANIFEST_SUFFIXES, manifest_documents, plan_manifest
from raypipe.storage import is_uri

__all__ = ["Document", "Unit", "MANIFEST_SUFFIXES", "Seen", "documents", "input_roots", "list_documents", "plan_units"]


# --- on the driver: plan the units --------------------------------------------------------------


def _check_overlaps(inputs: list[Input]) -> None:
    """One input inside another (or the same twice) would list its files twice, under two ids."""
    by_extent: dict[tuple[str, str], Input] = {}
    for inp in inputs:
        if inp.extent in by_extent:
            raise InputError(f"inputs {by_extent[inp.extent].spec!r} and {inp.spec!r} name the same files; give them once")
        by_extent[inp.extent] = inp
    for inp in inputs:
        scheme, path = inp.extent
        parts = path.rstrip("/").split("/")
        for i in range(1, len(parts)):
            outer = by_extent.get((scheme, "/".join(parts[:i]) or "/"))
            if outer is not None:
                raise InputError(
                    f"input {inp.spec!r} lies inside input {outer.spec!r}, so its files would be listed twice "
                    f"under two doc_ids; give only {outer.spec!r}, or run them separately"
                )


def _shared_name(a: Input, b: Input) -> Optional[str]:
    """A top-level name two folder inputs both hold: streams one side's top level and looks each name up
    in the other (a local lookup is a stat; an s3:// / gs:// top level is listed whole anyway)."""
    first, other = (a, b) if not a.local and b.local else (b, a)
    return next((name for name in first.names() if other.holds(name)), None)


def _check_names(inputs: list[Input]) -> None:
    """No two inputs can give the same doc_id: ids are relative paths (a file's name for a file given
    directly), so two can only be equal where the inputs' top levels share a name."""
    files: dict[str, Input] = {}
    folders: list[Input] = []

    def refuse(a: Input, b: Input, name: str) -> None:
        raise InputError(
            f"inputs {a.spec!r} and {b.spec!r} both hold {name!r} at their top level, so their doc_ids "
            "could be the same; give them in a manifest with doc_ids of your own, or run them separately"
        )

    for inp in inputs:
        if inp.file is not None:
            [name] = inp.names()
            for other in ([files[name]] if name in files else []) + [f for f in folders if f.holds(name)]:
                refuse(other, inp, name)
            files[name] = inp
            continue
        for other in folders:
            name = _shared_name(other, inp)
            if name is not None:
                refuse(other, inp, name)
        for name, other in files.items():
            if inp.holds(name):
                refuse(other, inp, name)
        folders.append(inp)


def plan_units(cfg, storage=None, parallelism: int = 4) -> list[Unit]:
    """The read units for every input (driver side): checks that each exists, that none lies inside
    another and that no two can give the same doc_id. Raises InputError."""
    inputs = [resolve_input(spec, cfg, storage) for spec in cfg.inputs]
    _check_overlaps(inputs)
    _check_names(inputs)
    units = [unit for inp in inputs for unit in inp.units(parallelism)]
    if cfg.manifest:
        check_utf8(cfg.manifest, "manifest")
        units += plan_manifest(cfg.manifest, storage, parallelism)
    if not units:
        raise InputError(f"no documents found in inputs {cfg.inputs or cfg.manifest!r}")
    return units


# --- in a read task: list -----------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _real_folder(folder: str) -> str:
    return os.path.realpath(folder)


def _same_file_key(src: str) -> str:
    """What a path really names: its folder's real path (cached: one lookup per folder, not per file)
    and its name, or the file's own real path when it is a symlink."""
    if is_uri(src):
        return src.rstrip("/")
    folder, _, name = src.rpartition("/")
    if not folder or name in ("", ".", ".."):
        return os.path.realpath(src)
    try:
        if stat.S_ISLNK(os.lstat(src).st_mode):
            return os.path.realpath(src)
    except OSError:
        pass
    return os.path.join(_real_folder(folder), name)


class Seen:
    """The doc_ids and files one read task has listed, across all its units: a repeated doc_id becomes a
    ``duplicate`` row under a new id, one file under a second id a ``duplicate`` row naming the first.
    Forgets the ids and files once it holds ``limit`` ids, so its memory stays bounded (call
    :meth:`room` before a unit of known size to keep the whole unit within one memory). A listed id
    spelled like a name it made up (``ID#repeat=N``) is itself a repeat: no id is ever given twice."""

    def __init__(self, limit: int = SEEN_LIMIT) -> None:
        self.limit = limit
        self.ids: set[str] = set()
        self.files: dict[str, str] = {}
        self.repeats: dict[str, int] = {}  # id -> last N given, kept across forgetting (so no name twice)

    def forget(self) -> None:
        self.ids.clear()
        self.files.clear()
        if len(self.repeats) >= self.limit:
            self.repeats.clear()

    def room(self, rows: int) -> None:
        """Forget now if ``rows`` more ids would not fit, so that a unit of that size is checked whole."""
        if self.ids and len(self.ids) + rows > self.limit:
            self.forget()

    def check(self, doc: Document) -> Document:
        if len(self.ids) >= self.limit:
            self.forget()
        if doc.doc_id in self.ids:
            count = self.repeats.get(doc.doc_id, 1) + 1
            while f"{doc.doc_id}#repeat={count}" in self.ids:
                count += 1
            self.repeats[doc.doc_id] = count
            again = f"{doc.doc_id}#repeat={count}"
            self.ids.add(again)
            said = f"doc_id {doc.doc_id!r} was listed already, so this listing of it is named {again!r}"
            if doc.error_code is not None:
                return Document(again, doc.source, doc.error_code, f"{doc.error} ({said})")
            return Document(again, doc.source, ErrorCode.DUPLICATE.value, f"{said} and was not read")
        self.ids.add(doc.doc_id)
        if doc.error_code is None:
            key = _same_file_key(doc.source)
            if key in self.files:
                return Document(doc.doc_id, doc.source, ErrorCode.DUPLICATE.value,
                                f"the same file as doc_id {self.files[key]!r}, which was read instead")
            self.files[key] = doc.doc_id
        return doc


def documents(unit: Unit, cfg, storage=None, seen: Optional[Seen] = None) -> Iterator[Document]:
    """The documents of one unit, in order, checked against ``seen`` (a read task passes one for all its
    units; without it, the unit's own)."""
    if unit.kind == "manifest":
        listed = manifest_documents(unit, cfg, storage)
    elif unit.kind == "tree":
        listed = tree_documents(unit, cfg, storage)
    else:
        listed = (document(path.rsplit("/", 1)[-1], source(unit.spec, path)) for path in unit.entries)
    seen = seen if seen is not None else Seen()
    if unit.rows is not None:  # a unit of known size is checked whole, whoever lists it
        seen.room(unit.rows)
    for doc in listed:
        yield seen.check(doc)


def list_documents(cfg, storage=None) -> list[Document]:
    """Every document, listed on this process and sorted by doc_id (tests, ``raypipe plan``); a run streams
    them instead."""
    seen = Seen()
    docs = [doc for unit in plan_units(cfg, storage) for doc in documents(unit, cfg, storage, seen)]
    return sorted(docs, key=lambda d: d.doc_id)


def input_roots(cfg) -> list[str]:
    """The folders and files the inputs name (a glob's static folder), absolute, for the output checks."""
    roots = []
    for spec in [*cfg.inputs, *([cfg.manifest] if cfg.manifest else [])]:
        base = spec.partition("?")[0]
        if is_uri(base):
            root = glob_root(base)
            roots.append((base if root is None else root or base).split("://", 1)[1].rstrip("/"))
            continue
        path = os.path.expanduser(base)
        if not os.path.lexists(path) and glob_root(path) is not None:  # an existing path is never a glob
            path = glob_root(os.path.abspath(path)) or "/"
        roots.append(os.path.realpath(path))
    return roots
