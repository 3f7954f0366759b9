"""Postprocess: a document's text with per-page offsets, and its status from its pages."""

from __future__ import annotations

import pyarrow as pa

from raypipe.postprocess import assemble, finish, postprocess_batch
from raypipe.schema import OUTPUT, SCHEMA_VERSION, WORK


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
    assert partial["error"] == "1 of 20 pages failed; first: e"
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
    assert row["text"] == "t" and row["schema_version"] == SCHEMA_VERSION


def test_needs_ocr_is_not_ok():
    scan = finish({"pages": [page(1, "a", "text_layer"), page(2, "", "needs_ocr"), page(3, "", "needs_ocr"), page(4, "", "blank")]}, 0.1)
    assert (scan["status"], scan["error_code"]) == ("needs_ocr", "needs_ocr")
    assert scan["error"] == "OCR is still needed: 2 of 4 pages have ink but no text"
    mixed = finish({"pages": [page(i, "a", "text_layer") for i in range(20)] + [page(21, "", "needs_ocr"), page(22, None, "failed", error="e")]}, 0.1)
    assert (mixed["status"], mixed["error_code"]) == ("needs_ocr", "needs_ocr") and "1 page failed, first: e" in mixed["error"]
    failed = finish({"pages": [page(1, "", "needs_ocr"), page(2, None, "failed", error="e")]}, 0.1)
    assert (failed["status"], failed["error_code"]) == ("failed", "too_many_pages_failed")  # failure wins


def test_pages_whose_engine_did_not_answer_give_engine_unavailable():
    down = "unavailable: HTTP 503: down (gave up after 6 retries)"
    late = "timeout: no answer within 600 s (engine.call_timeout)"
    all_down = finish({"pages": [page(1, "", "failed", error=down), page(2, "", "failed", error=late)]}, 0.1)
    assert (all_down["status"], all_down["error_code"]) == ("failed", "engine_unavailable")
    some = finish({"pages": [page(i, "x") for i in range(19)] + [page(20, "t", "text_layer_fallback", error=late)]}, 0.1)
    assert (some["status"], some["error_code"]) == ("partial", "engine_unavailable")
    bad_page = finish({"pages": [page(1, "", "failed", error="parse: no YAML front matter"), page(2, "", "failed", error=down)]}, 0.1)
    assert bad_page["error_code"] == "engine_unavailable"
    parse_only = finish({"pages": [page(1, "", "failed", error="parse: no YAML front matter: timeout: x")]}, 0.1)
    assert parse_only["error_code"] == "all_pages_failed"
    timed_out = finish({"status": "failed", "error_code": "timeout", "error": "doc", "pages": [page(1, "", "failed", error=late)]}, 0.1)
    assert timed_out["error_code"] == "timeout"  # the engine's decision stands


def test_an_error_while_finishing_fails_only_that_document():
    rows = [
        {"doc_id": "good", "source": "/good.pdf", "pages": [page(1, "t")]},
        {"doc_id": "bad", "source": "/bad.pdf", "pages": [page(1, "t"), "not a page"]},
        {"doc_id": "weird", "source": "/weird.pdf", "pages": [page(1, 12345)]},  # a number for a text
    ]
    out = {r["doc_id"]: r for r in (finish(dict(r), 0.1) for r in rows)}
    assert out["good"]["status"] == "ok"
    for doc_id in ("bad", "weird"):
        assert (out[doc_id]["status"], out[doc_id]["error_code"]) == ("failed", "internal"), doc_id
        assert out[doc_id]["pages"] == [] and out[doc_id]["text"] == "" and out[doc_id]["error"]
    assert out["bad"]["error"].startswith("AttributeError")


def test_a_long_first_error_is_bounded():
    done = finish({"pages": [page(1, None, "failed", error="x" * 5000)]}, 0.1)
    assert len(done["error"]) <= 1001
