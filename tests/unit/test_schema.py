"""Tables are built with the explicit schemas; a row that cannot be stored (a key the schema does
not know, a value of the wrong type, text that is not valid Unicode) becomes its document's failed
row with error_code internal, and the other rows of the batch pass."""

from __future__ import annotations

import pyarrow as pa

from raypipe.schema import OUTPUT, SCHEMA_VERSION, WORK, safe_text, table


def test_missing_keys_become_nulls():
    t = table([{"doc_id": "a", "source": "/a.pdf"}], OUTPUT)
    assert t.schema == OUTPUT and t.to_pylist()[0]["status"] is None


def internal(t: pa.Table) -> dict:
    return {r["doc_id"]: r["error"] for r in t.to_pylist() if r["error_code"] == "internal"}


def test_misspelt_keys_fail_their_row():
    t = table([{"doc_id": "a", "staus": "ok"}, {"doc_id": "b", "status": "ok"}], OUTPUT)
    assert t.schema == OUTPUT and t.column("doc_id").to_pylist() == ["a", "b"]
    assert "no field 'staus'" in internal(t)["a"] and t.to_pylist()[1]["status"] == "ok"
    t = table([{"doc_id": "a", "pages": [{"page_number": 1, "txt": "x"}]}], WORK)
    assert "row.pages[]: no field 'txt'" in internal(t)["a"]
    t = table([{"doc_id": "a", "pages": [{"page_number": 1, "image": b""}]}], OUTPUT)  # images never reach the output
    assert "'image'" in internal(t)["a"]


def test_unstorable_values_fail_only_their_row():
    good = {"doc_id": "good", "source": "/good.pdf", "status": "ok", "pages": [{"page_number": 1, "text": "fine"}]}
    rows = [
        good,
        {"doc_id": "bool", "source": "/b.pdf", "engine": "vllm", "pages": [{"page_number": 1, "rotation_correction": "90"}]},
        {"doc_id": "surrogate", "source": "/s.pdf", "pages": [{"page_number": 1, "text": "a \ud800 b"}]},
        {"doc_id": "overflow", "source": "/o.pdf", "pages": [{"page_number": 2**40}]},
        {"doc_id": "nested", "source": "/n.pdf", "pages": "not a list"},
        {"doc_id": "late", "source": "/l.pdf", "num_pages": "three", "engine": "vllm"},
        {"doc_id": "id \udcff", "source": "/x.pdf", "num_pages": "three"},
        "not even a dict",
    ]
    t = table(rows, OUTPUT)
    assert t.schema == OUTPUT and t.num_rows == len(rows)
    out = t.to_pylist()
    assert out[0]["status"] == "ok" and out[0]["pages"][0]["text"] == "fine"
    for row in out[1:]:
        assert (row["status"], row["error_code"]) == ("failed", "internal") and row["pages"] == []
        assert row["error"].startswith("the row could not be stored: ") and row["schema_version"] == SCHEMA_VERSION
    assert [r["doc_id"] for r in out[1:6]] == ["bool", "surrogate", "overflow", "nested", "late"]
    assert out[1]["engine"] == "vllm" and out[1]["source"] == "/b.pdf"  # what can be kept is kept
    assert out[6]["doc_id"] == "id \\udcff" and out[7]["doc_id"] is None
    work = table([good, rows[2]], WORK)
    assert work.schema == WORK and internal(work).keys() == {"surrogate"}
    assert table([], WORK).num_rows == 0


def test_safe_text():
    assert safe_text("plain") == "plain"
    assert safe_text("a\ud800b") == "a\\ud800b"
    assert len(safe_text("x" * 5000)) == 1001
    deep = []
    for _ in range(10_000):
        deep = [deep]
    assert len(safe_text(deep)) < 100 and len(safe_text(10**5000)) < 100
