"""Paths and URIs to pyarrow filesystems: local paths, and s3:// / gs:// URIs (any URI pyarrow knows when
asked for). Used by read (listing), render (fetching) and the output alike, with the same storage
options (endpoint, region, anonymous) — which come from the configuration, never from a URI a
manifest row carries unless the user allows it."""

from __future__ import annotations

import os
from typing import Optional
from urllib.parse import urlsplit

import pyarrow.fs as pafs

# Schemes accepted by default; file:// and query-string options only when the user allows them.
SCHEMES = ("s3", "gs", "gcs")

_clients: dict[tuple, pafs.FileSystem] = {}  # per process: one client per scheme, bucket and options
_LOCAL = pafs.LocalFileSystem()  # stateless: one serves every local path (and groups them by identity)


def is_uri(path: str) -> bool:
    return "://" in path


def scheme(path: str) -> str:
    return path.split("://", 1)[0].lower() if is_uri(path) else ""


def refusal(path: Optional[str], allow_file_uris: bool = False, allow_uri_options: bool = False) -> Optional[str]:
    """Why ``path`` may not be read under the allow-list (None: it may): a missing path, a scheme other
    than local paths, s3:// and gs:// (file:// with ``allow_file_uris``), or filesystem options in
    its query string without ``allow_uri_options`` (they could send requests, and credentials, to an
    endpoint of the input's choosing)."""
    if path is None or not str(path).strip():
        return "no path"
    if not is_uri(path):
        return None
    name = scheme(path)
    if name == "file":
        if not allow_file_uris:
            return "file:// URIs are not allowed (--allow-file-uris); give a plain local path"
    elif name not in SCHEMES:
        return f"scheme {name}:// is not allowed (local paths, s3:// and gs:// are)"
    if "?" in path and not allow_uri_options:
        return "filesystem options in a URI's query string are not allowed (--allow-uri-options); use --storage-endpoint, --storage-region, --storage-anonymous"
    return None


def _endpoint(url: str) -> tuple[str, str]:
    """(host[:port], scheme) of an endpoint URL such as http://minio:9000."""
    parts = urlsplit(url)
    return parts.netloc, parts.scheme or "https"


def _client(path: str, storage) -> pafs.FileSystem:
    """A filesystem for ``path``'s scheme with the configured storage options (a query string, when
    the path has one, wins: it was allowed explicitly)."""
    name = scheme(path)
    if "?" in path or name not in SCHEMES or storage is None or not (storage.endpoint or storage.region or storage.anonymous):
        return pafs.FileSystem.from_uri(path)[0]  # for s3://, pyarrow finds the bucket's region itself
    kwargs: dict = {}
    if storage.endpoint:
        kwargs["endpoint_override"], kwargs["scheme"] = _endpoint(storage.endpoint)
    if storage.anonymous:
        kwargs["anonymous"] = True
    if name == "s3":
        if storage.region:
            kwargs["region"] = storage.region
        return pafs.S3FileSystem(**kwargs)
    return pafs.GcsFileSystem(**kwargs)


def resolve(path: str, storage=None) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it). Local paths come back absolute, with ``~`` expanded. ``storage``:
    the run's StorageConfig (endpoint, region, anonymous), applied to s3:// and gs://."""
    if not is_uri(path):
        return _LOCAL, os.path.abspath(os.path.expanduser(path))
    base, _, options = path.partition("?")  # e.g. s3://bucket/key?region=eu-west-1
    bucket = "/".join(base.split("/", 3)[:3])
    key = (bucket, options, storage.model_dump_json() if storage is not None else None)
    if key not in _clients:
        _clients[key] = _client(path, storage)
    return _clients[key], base.split("://", 1)[1].rstrip("/")
