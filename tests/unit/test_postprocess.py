"""Postprocess: a document's text with per-page offsets, and its status from its pages."""

from __future__ import annotations

import pyarrow as pa

from raypipe.postprocess import assemble, finish, postprocess_batch
from raypipe.schema import OUTPUT, WORK


def page(n, text, source="model", **extra):
    return {"page_number": n, "text": text, "text_source": source, **extra}


def test_assemble_joins_pages_with_offsets():
    text, offsets = assemble([page(1, "alpha"), page(2, None), page(3, "gamma")])
    assert text == "alpha\n\n\n\ngamma" and offsets == [0, 7, 9]
    assert text[offsets[2]:] == "gamma"


def test_status_follows_the_failed_share():
    ok = finish({"pages": [page(1, "a"), page(2, "b", "text_layer"), page(3, "", "blank")]}, 0.1)
    assert ok["status"] == "ok" and ok.get("error_code") is None and ok["num_pages_processed"] == 3
    partial = finish({"pages": [page(i, "x") for i in range(19)] + [page(20, "", "failed", error="e")]}, 0.1)
    assert (partial["status"], partial["error_code"]) == ("partial", "pages_failed")
    too_many = finish({"pages": [page(1, "x"), page(2, "y", "text_layer_fallback", error="e")]}, 0.1)
    assert (too_many["status"], too_many["error_code"]) == ("failed", "too_many_pages_failed")
    all_failed = finish({"pages": [page(1, None, "failed", error="first reason")]}, 0.5)
    assert (all_failed["status"], all_failed["error_code"]) == ("failed", "all_pages_failed")
    assert "first reason" in all_failed["error"]
    already = finish({"status": "failed", "error_code": "empty", "pages": []}, 0.1)
    assert (already["status"], already["error_code"], already["text"]) == ("failed", "empty", "")


def test_output_pages_drop_the_work_fields():
    rows = [{"doc_id": "d", "source": "/d.pdf", "pages": [
        {"page_number": 1, "image": b"x", "text_layer": "layer", "blank": False, **page(1, "t")}]}]
    out = postprocess_batch(pa.Table.from_pylist(rows, schema=WORK), 0.1)
    assert out.schema == OUTPUT
    [row] = out.to_pylist()
    assert "image" not in row["pages"][0] and "text_layer" not in row["pages"][0]
    assert row["text"] == "t" and row["schema_version"] == 1
