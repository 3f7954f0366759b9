"""Paths and URIs to pyarrow filesystems, shared by read, render and write."""

from __future__ import annotations

import os

import pyarrow.fs as pafs

from raypipe.storage import is_uri, resolve


def test_local_paths_come_back_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fs, inner = resolve("sub/doc.pdf")
    assert isinstance(fs, pafs.LocalFileSystem) and inner == str(tmp_path / "sub" / "doc.pdf")
    assert resolve("~/doc.pdf")[1] == os.path.expanduser("~/doc.pdf")
    assert resolve(str(tmp_path) + "/")[1] == str(tmp_path)
    assert not is_uri(str(tmp_path)) and is_uri("s3://bucket/key")


def test_uris_match_pyarrow_and_reuse_one_client(tmp_path):
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4")
    for uri in (f"file://{tmp_path}/a.pdf", f"file://{tmp_path}/", f"file://{tmp_path}"):
        fs, inner = resolve(uri)
        assert inner == pafs.FileSystem.from_uri(uri)[1].rstrip("/")
    fs, inner = resolve(f"file://{tmp_path}/a.pdf")
    assert fs.open_input_file(inner).read() == b"%PDF-1.4"
    assert resolve(f"file://{tmp_path}/b.pdf")[0] is fs  # one client per scheme and bucket
