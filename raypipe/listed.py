"""What the listing hands around: a listed :class:`Document` and a :class:`Unit` of listing work (planned
on the driver, carried out by a read task)."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Optional

SEEN_LIMIT = 65536  # doc_ids a read task remembers before it starts over (its memory stays bounded)


def id_bytes(doc_id: str) -> bytes:
    """A doc_id's bytes (ids made from non-UTF-8 names may carry surrogates)."""
    return doc_id.encode("utf-8", "surrogatepass")


def id_hash(encoded: bytes) -> int:
    """A stable 64-bit hash of a doc_id's bytes, the same in every process and run (``--shard``, resume)."""
    return int.from_bytes(hashlib.blake2b(encoded, digest_size=8).digest(), "big")


@dataclasses.dataclass(frozen=True)
class Document:
    doc_id: str
    source: Optional[str]  # absolute local path, or a URI; None when a manifest row has no usable path
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
    rows: Optional[int] = None  # manifest Parquet: the rows of this unit, known before it is read
    prefix: str = ""  # manifest: the start of ids made from relative paths (a shard's folder in a folder of shards)
    slot: Optional[tuple[int, int]] = None  # tree without entries: (i, k), the top-level names hashing to slot i of k
