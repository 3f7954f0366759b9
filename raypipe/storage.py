"""Paths and URIs to pyarrow filesystems: local paths, and any URI pyarrow knows (s3://, gs://,
hdfs://, ...). Used by read (listing), render (fetching) and write (output)."""

from __future__ import annotations

import os

import pyarrow.fs as pafs

_clients: dict[str, pafs.FileSystem] = {}  # per process: one client per scheme and bucket


def is_uri(path: str) -> bool:
    return "://" in path


def resolve(path: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it). Local paths come back absolute, with ``~`` expanded."""
    if not is_uri(path):
        return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(path))
    base, _, options = path.partition("?")  # e.g. s3://bucket/key?region=eu-west-1
    key = "/".join(base.split("/", 3)[:3]) + (f"?{options}" if options else "")  # scheme://bucket?options
    if key not in _clients:
        _clients[key] = pafs.FileSystem.from_uri(path)[0]
    return _clients[key], base.split("://", 1)[1].rstrip("/")
