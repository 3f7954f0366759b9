"""Input listing: folders, globs, single files, manifests, and the errors raised before Ray starts."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raypipe.config import InputConfig
from raypipe.errors import InputError
from raypipe.read import list_documents


def ids(**cfg) -> list[str]:
    return [d.doc_id for d in list_documents(InputConfig(**cfg))]


def test_folder_is_searched_recursively_with_relative_ids(generated):
    assert ids(inputs=[str(generated)]) == [
        "blank-page.pdf",
        "huge-page.pdf",
        "nested/deep/inner.pdf",
        "one-page.pdf",
        "page.html.pdf",
        "rotated.pdf",
        "three-pages.pdf",
        "zero-bytes.pdf",
    ]


def test_sources_are_absolute(generated, monkeypatch):
    monkeypatch.chdir(generated.parent)
    docs = list_documents(InputConfig(inputs=[generated.name + "/one-page.pdf"]))
    assert docs[0].doc_id == "one-page.pdf" and docs[0].source == str(generated / "one-page.pdf")


def test_globs(generated):
    assert ids(inputs=[f"{generated}/*-page*.pdf"]) == ["blank-page.pdf", "huge-page.pdf", "one-page.pdf", "three-pages.pdf"]
    assert ids(inputs=[f"{generated}/**/inner.pdf"]) == ["nested/deep/inner.pdf"]
    # ids are relative to the folder before the first wildcard
    assert ids(inputs=[f"{generated}/nested/*/*.pdf"]) == ["deep/inner.pdf"]


def test_extensions_filter_folders_only(generated, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "UPPER.PDF").write_bytes(b"%PDF-1.4")
    assert ids(inputs=[str(tmp_path)]) == ["UPPER.PDF"]
    assert ids(inputs=[str(tmp_path / "notes.txt")]) == ["notes.txt"]  # named explicitly: kept


def test_manifests(generated, tmp_path):
    rows = [{"path": str(generated / "one-page.pdf"), "doc_id": "a"}, {"path": "three-pages.pdf", "doc_id": "b"}]
    # relative paths resolve against the manifest's folder
    (generated / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    docs = list_documents(InputConfig(manifest=str(generated / "m.jsonl")))
    assert [(d.doc_id, d.source) for d in docs] == [
        ("a", str(generated / "one-page.pdf")),
        ("b", str(generated / "three-pages.pdf")),
    ]
    pq.write_table(pa.table({"path": [str(generated / "rotated.pdf")]}), tmp_path / "m.parquet")
    assert ids(manifest=str(tmp_path / "m.parquet")) == [str(generated / "rotated.pdf")]
    pq.write_table(pa.table({"file": ["x"]}), tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="no 'path' column"):
        list_documents(InputConfig(manifest=str(tmp_path / "bad.parquet")))


def test_errors_name_the_input(generated, tmp_path):
    with pytest.raises(InputError, match="nope.pdf"):
        list_documents(InputConfig(inputs=[str(generated / "nope.pdf")]))
    with pytest.raises(InputError, match="no documents found"):
        list_documents(InputConfig(inputs=[str(tmp_path)]))
    (tmp_path / "one-page.pdf").write_bytes(b"%PDF-1.4")
    with pytest.raises(InputError, match="same doc_id 'one-page.pdf'"):
        list_documents(InputConfig(inputs=[str(generated / "one-page.pdf"), str(tmp_path / "one-page.pdf")]))
