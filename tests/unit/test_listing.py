"""Input listing: folders, globs, single files, manifests, and the errors raised before Ray starts."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from samples import text_pages, write_pdf

from raypipe.config import InputConfig
from raypipe.errors import InputError
from raypipe.listing import list_documents


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
    with pytest.raises(InputError, match="both hold 'one-page.pdf' at their top level"):
        list_documents(InputConfig(inputs=[str(generated / "one-page.pdf"), str(tmp_path / "one-page.pdf")]))


# --- hazards a crawl brings -----------------------------------------------------------------------


def test_symlinked_folders_are_not_followed_so_loops_end_and_each_file_is_listed_once(tmp_path):
    root = tmp_path / "crawl"
    for i in range(5):
        write_pdf(root / "docs" / f"d{i}.pdf", text_pages([f"D{i}"]))
    os.symlink(root, root / "docs" / "loop-to-root")  # a loop through the root
    os.symlink(root / "docs", root / "docs" / "loop-to-self")  # and one onto itself
    os.symlink(root / "docs", root / "another-way-in")  # a second name for a folder walked already
    os.symlink("missing", root / "broken.pdf")  # dangling
    os.symlink("self.pdf", root / "self.pdf")  # a link to itself
    docs = list_documents(InputConfig(inputs=[str(root)]))
    ok = [d.doc_id for d in docs if d.error_code is None]
    assert sorted(ok) == sorted([f"docs/d{i}.pdf" for i in range(5)] + ["broken.pdf", "self.pdf"])
    assert len(docs) == 7  # not 5 x (every path through the loops)
    # a symlinked folder named as the input itself is followed: the user asked for it
    assert len(list_documents(InputConfig(inputs=[str(root / "another-way-in")]))) == 5


def test_a_name_that_is_not_utf8_becomes_a_row_not_a_crash(tmp_path):
    root = tmp_path / "names"
    root.mkdir()
    write_pdf(root / "fine.pdf", text_pages(["Fine"]))
    bad = os.path.join(os.fsencode(root), b"caf\xe9-latin1.pdf")
    with open(bad, "wb") as f:
        f.write(b"%PDF-1.4")
    docs = {d.doc_id: d for d in list_documents(InputConfig(inputs=[str(root)]))}
    assert set(docs) == {"fine.pdf", "caf\\xe9-latin1.pdf"}
    row = docs["caf\\xe9-latin1.pdf"]
    assert row.error_code == "read_error" and "not valid UTF-8" in row.error
    row.doc_id.encode("utf-8") and row.source.encode("utf-8")  # both can go into an Arrow table


def test_fifos_and_devices_are_listed_for_a_row_without_being_opened(tmp_path):
    root = tmp_path / "odd"
    root.mkdir()
    os.mkfifo(root / "pipe.pdf")
    docs = list_documents(InputConfig(inputs=[str(root)]))
    assert [d.doc_id for d in docs] == ["pipe.pdf"] and docs[0].error_code is None  # render says read_error
    [direct] = list_documents(InputConfig(inputs=[str(root / "pipe.pdf")]))
    assert direct.source == str(root / "pipe.pdf")
    [zero] = list_documents(InputConfig(inputs=["/dev/zero"]))
    assert zero.doc_id == "zero"


def test_one_file_under_two_ids_is_read_once(generated, tmp_path):
    os.symlink(generated / "one-page.pdf", tmp_path / "alias.pdf")
    manifest = tmp_path / "m.jsonl"
    rows = [{"path": str(generated / "one-page.pdf"), "doc_id": "b-first"},
            {"path": str(tmp_path / "alias.pdf"), "doc_id": "a-second"},
            {"path": str(generated / "rotated.pdf"), "doc_id": "c"}]
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    docs = {d.doc_id: d for d in list_documents(InputConfig(manifest=str(manifest)))}
    assert docs["b-first"].error_code is None  # the first listed keeps the file
    assert docs["a-second"].error_code == "duplicate" and "'b-first'" in docs["a-second"].error
    assert docs["c"].error_code is None


def test_manifest_rows_without_a_path_or_outside_the_allow_list_become_rows(generated, tmp_path):
    manifest = tmp_path / "m.jsonl"
    rows = [{"path": None, "doc_id": "no-path"}, {"path": None},
            {"path": "file:///etc/passwd", "doc_id": "file-uri"},
            {"path": "s3://bucket/k.pdf?endpoint_override=127.0.0.1:9&scheme=http", "doc_id": "options"},
            {"path": "http://example.com/a.pdf", "doc_id": "http"},
            {"path": str(generated / "one-page.pdf"), "doc_id": "fine"}]
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    docs = {d.doc_id: d for d in list_documents(InputConfig(manifest=str(manifest)))}
    assert docs["fine"].error_code is None
    assert docs["no-path"].error_code == "invalid_input" and "no path" in docs["no-path"].error
    assert docs[f"{manifest}#row=2"].error_code == "invalid_input"  # no id either: named by its row
    assert "None" not in docs and all(d.source != "None" for d in docs.values())
    assert docs["file-uri"].error_code == "invalid_input" and "--allow-file-uris" in docs["file-uri"].error
    assert docs["options"].error_code == "invalid_input" and "--allow-uri-options" in docs["options"].error
    assert docs["http"].error_code == "invalid_input" and "not allowed" in docs["http"].error
    allowed = {d.doc_id: d for d in list_documents(InputConfig(manifest=str(manifest), allow_file_uris=True))}
    assert allowed["file-uri"].error_code is None


def test_command_line_uris_outside_the_allow_list_are_usage_errors(tmp_path):
    with pytest.raises(InputError, match="--allow-file-uris"):
        list_documents(InputConfig(inputs=[f"file://{tmp_path}"]))
    with pytest.raises(InputError, match="--allow-uri-options"):
        list_documents(InputConfig(inputs=["s3://bucket/prefix?endpoint_override=minio:9000"]))
