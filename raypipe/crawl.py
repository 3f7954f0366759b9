"""Command-line inputs — folders (searched recursively), globs, single files, s3:// / gs:// URIs: resolved
and cut into units on the driver (:func:`resolve_input`, :meth:`Input.units`), walked by the read tasks
(:func:`tree_documents`).

A path that exists is that path, whatever its name holds (``[Smith] Paper.pdf``, ``Books [2019]``);
only a path that does not exist is read as a glob. A local folder's top level is never listed on the
driver: it is planned as ``k`` units that each scan the folder and keep the names whose stable hash
falls in their slot, so the driver holds O(1) per folder however flat the folder is. An s3:// or gs://
folder's top level is listed on the driver (pyarrow's listing returns whole lists, never a stream).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import stat
import zlib
from typing import Iterator, Optional

import pyarrow.fs as pafs

from raypipe.errors import ErrorCode, InputError
from raypipe.listed import Document, Unit
from raypipe.storage import is_uri, refusal, resolve

GLOB_CHARS = re.compile(r"[*?\[]")


def _char_class(body: str) -> str:
    """A glob's ``[...]`` (its inside) as a regex class: ``[!...]`` negates, nothing matches '/'."""
    negate = body.startswith("!")
    body = (body[1:] if negate else body).replace("\\", "\\\\").replace("^", "\\^").replace("[", "\\[")
    return f"[^/{body}]" if negate else f"(?!/)[{body}]"


def glob_regex(pattern: str) -> str:
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
            start = i + 2 if pattern.startswith("[!", i) else i + 1
            end = pattern.find("]", start + 1 if pattern.startswith("]", start) else start)  # "[]a]": ']' is in it
            if end < 0:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append(_char_class(pattern[i + 1 : end]))
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out) + r"\Z"


def glob_root(inner: str) -> Optional[str]:
    """The folder before a glob's first wildcard ('' when there is none), or None for a plain path."""
    match = GLOB_CHARS.search(inner)
    if not match:
        return None
    static = inner[: match.start()]
    root = static.rsplit("/", 1)[0] if "/" in static else ""
    return "/" if not root and static.startswith("/") else root


def relative(path: str, root: str) -> str:
    return path[len(root.rstrip("/")) :].lstrip("/")


def source(spec: str, inner: str) -> str:
    """The source string of a path inside an input's filesystem: scheme and allowed options kept."""
    if not is_uri(spec):
        return inner
    options = "?" + spec.partition("?")[2] if "?" in spec else ""
    return spec.split("://", 1)[0] + "://" + inner + options


def slot_of(name: str, count: int) -> int:
    """A top-level name's slot of ``count``: a stable hash, the same in every process."""
    return zlib.crc32(os.fsencode(name)) % count


@dataclasses.dataclass
class Input:
    """One command-line input, resolved on the driver."""

    spec: str
    fs: pafs.FileSystem
    local: bool
    root: str  # the folder ids are relative to: the input's folder, a glob's static folder, a file's folder
    file: Optional[str] = None  # an input naming one file (or FIFO, device): its path; its id is its name
    pattern: Optional[str] = None  # a glob: the regex relative paths must match

    @functools.cached_property
    def extent(self) -> tuple[str, str]:
        """(scheme, path) of everything this input can list, symlinks resolved for local paths."""
        path = self.file or self.root
        return ("", os.path.realpath(path)) if self.local else (self.spec.split("://", 1)[0].lower(), path.rstrip("/"))

    def names(self) -> Iterator[str]:
        """The top-level names ids can start with, streamed for a local folder."""
        if self.file is not None:
            yield self.file.rsplit("/", 1)[-1]
        elif self.local:
            with os.scandir(self.root) as it:
                for entry in it:
                    yield entry.name
        else:
            yield from self._listed

    def holds(self, name: str) -> bool:
        """Whether an id of this input can start with ``name``."""
        if self.file is not None:
            return self.file.rsplit("/", 1)[-1] == name
        if self.local:
            return os.path.lexists(os.path.join(self.root, name))
        return name in self._listed

    @functools.cached_property
    def _listed(self) -> frozenset[str]:
        return frozenset(i.base_name for i in self.fs.get_file_info(pafs.FileSelector(self.root, recursive=False)))

    def units(self, parallelism: int) -> list[Unit]:
        if self.file is not None:
            return [Unit("files", self.spec, self.root, (self.file,))]
        if not self.local:
            names = sorted(self._listed)
            count = max(1, min(parallelism, len(names)))
            return [Unit("tree", self.spec, self.root, tuple(names[i::count]), self.pattern) for i in range(count)] if names else []
        count = 0
        with os.scandir(self.root) as it:  # counted, never kept: a flat folder may hold millions
            for _ in it:
                count += 1
                if count >= parallelism:
                    break
        return [Unit("tree", self.spec, self.root, (), self.pattern, slot=(i, count)) for i in range(count)]


def _literal(fs: pafs.FileSystem, inner: str, local: bool, spec: str) -> Optional[bool]:
    """Whether the path is a folder; None when nothing is there."""
    if not local:
        info = fs.get_file_info(inner)
        return None if info.type == pafs.FileType.NotFound else info.type == pafs.FileType.Directory
    try:
        return stat.S_ISDIR(os.stat(inner).st_mode)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise InputError(f"input {spec!r} cannot be read ({e.strerror})") from None


def resolve_input(spec: str, cfg, storage) -> Input:
    """The input as an existing file or folder, else as a glob; raises InputError."""
    why = refusal(spec, cfg.allow_file_uris, cfg.allow_uri_options)
    if why:
        raise InputError(f"input {spec!r}: {why}")
    check_utf8(spec)
    fs, inner = resolve(spec, storage)
    local = not is_uri(spec)
    is_folder = _literal(fs, inner, local, spec)
    if is_folder is not None:
        return Input(spec, fs, local, inner if is_folder else inner.rsplit("/", 1)[0], None if is_folder else inner)
    root = glob_root(inner)
    if root is None:
        raise InputError(f"input {spec!r} does not exist")
    if not root or fs.get_file_info(root).type != pafs.FileType.Directory:
        raise InputError(f"input {spec!r}: folder {root or inner!r} does not exist")
    return Input(spec, fs, local, root, pattern=glob_regex(relative(inner, root)))


def check_utf8(spec: str, what: str = "input") -> None:
    """Every document's path starts with its input's, and a path is kept as text: an input whose path is
    not valid UTF-8 would make every file in it a failed row, so it is refused here, once. (A name that
    is not UTF-8 below the input is a row of its own: see :func:`document`.)"""
    try:
        spec.encode("utf-8")
    except UnicodeEncodeError:
        shown = spec.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise InputError(f"{what} '{shown}': the path is not valid UTF-8 (shown with \\x escapes), so no file in "
                         "it could be named in the output; rename it, or give a symlink to it whose name is "
                         "UTF-8") from None


# --- in a read task: walk -----------------------------------------------------------------------


def _entries(path: str) -> list[os.DirEntry]:
    with os.scandir(path) as it:
        return sorted(it, key=lambda e: e.name)


def _walk_local(path: str) -> Iterator[str]:
    """Every non-folder path at or below ``path``, in sorted order, never into a symlinked folder. A
    folder that cannot be listed is yielded as a path (its row says why). An explicit stack: a tree
    thousands of levels deep is walked, not a RecursionError."""
    try:
        if not os.path.isdir(path) or os.path.islink(path):
            yield path
            return
        stack = [iter(_entries(path))]
    except OSError:
        yield path
        return
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        try:
            into = entry.is_dir(follow_symlinks=False)
        except OSError:
            into = False
        if into:
            try:
                stack.append(iter(_entries(entry.path)))
            except OSError:
                yield entry.path
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


def document(doc_id: str, src: str) -> Document:
    """A listed file. A name that is not valid UTF-8 (a surrogate-escaped str) becomes a read_error row whose
    id is the name with \\x escapes plus a hash of its bytes: escaping alone could give the id of a real
    file whose name is spelled with those escapes."""
    try:
        src.encode("utf-8")
        doc_id.encode("utf-8")
    except UnicodeEncodeError:
        raw = doc_id.encode("utf-8", "surrogateescape")
        shown = lambda text: text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")  # noqa: E731
        tag = hashlib.blake2b(raw, digest_size=6).hexdigest()
        return Document(f"{shown(doc_id)}#non-utf8={tag}", shown(src), ErrorCode.READ_ERROR.value,
                        "the file name is not valid UTF-8 (shown with \\x escapes); rename the file to read it")
    return Document(doc_id, src)


def _slot_names(unit: Unit) -> list[str]:
    index, count = unit.slot
    with os.scandir(unit.root) as it:
        return sorted(e.name for e in it if slot_of(e.name, count) == index)


def tree_documents(unit: Unit, cfg, storage) -> Iterator[Document]:
    fs, _ = resolve(unit.spec, storage)
    local = not is_uri(unit.spec)
    extensions = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in cfg.extensions)
    pattern = re.compile(unit.pattern) if unit.pattern else None
    names = unit.entries
    if unit.slot is not None:
        try:
            names = _slot_names(unit)
        except OSError as e:  # the folder went away (or its permissions changed) since it was planned
            index, count = unit.slot
            yield Document(f"{unit.spec}#unlisted={index}-of-{count}", unit.root, ErrorCode.READ_ERROR.value,
                           f"folder {unit.root!r} could not be listed ({e.strerror or e})")
            return
    for name in names:
        for path in _walk(fs, f"{unit.root.rstrip('/')}/{name}", local):
            rel = relative(path, unit.root)
            if pattern.match(rel) if pattern else path.lower().endswith(extensions):
                yield document(rel, source(unit.spec, path))
