"""The ``raypipe`` CLI end to end, as a user runs it: a fresh process with its own local Ray,
the real sample corpus, and output read back with independent readers."""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys

import pyarrow.dataset as pads
from helpers import ROOT, check_corpus_rows, run_cli

DOCS_PER_BLOCK = 4


def test_corpus_to_parquet(corpus, corpus_files, tmp_path):
    out = tmp_path / "out"
    result = run_cli("run", str(corpus), "--output", str(out), "--docs-per-block", str(DOCS_PER_BLOCK))
    assert result.returncode == 0, result.stderr[-3000:]
    files = sorted(p.name for p in out.glob("*.parquet"))
    assert 1 <= len(files) <= math.ceil(31 / DOCS_PER_BLOCK)  # files follow blocks, not documents
    table = pads.dataset(str(out), format="parquet").to_table()  # the summary must not be read as data
    check_corpus_rows(table.to_pylist(), corpus_files)
    summary = json.loads((out / "_raypipe" / "summary.json").read_text())
    assert summary["documents"] == 31 and summary["documents_by_status"] == {"failed": 1, "needs_ocr": 6, "ok": 24}
    assert summary["failures_by_error_code"] == {"encrypted": 1, "needs_ocr": 6}
    assert "documents        31" in result.stdout

    # The same command again resumes: everything is committed already, so nothing is written.
    again = run_cli("run", str(corpus), "--output", str(out), "--docs-per-block", str(DOCS_PER_BLOCK))
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(p.name for p in out.glob("*.parquet")) == files
    assert json.loads((out / "_raypipe" / "summary.json").read_text())["documents"] == 31


def test_corpus_to_jsonl_gzip(corpus, corpus_files, tmp_path, ray_local):
    out = tmp_path / "out"
    result = run_cli("run", str(corpus), "-o", str(out), "--format", "jsonl", "--compression", "gzip")
    assert result.returncode == 0, result.stderr[-3000:]
    files = sorted(out.glob("*.jsonl.gz"))
    assert files and not list(out.glob("*.jsonl"))
    rows = [json.loads(line) for f in files for line in gzip.open(f, "rt")]
    check_corpus_rows(rows, corpus_files)
    # Ray's own reader sees exactly the documents too
    ds = ray_local.data.read_json(str(out), file_extensions=["gz"])
    assert ds.count() == 31


def test_job_entry_point_runs_the_same_code(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "jobs/ocr_pdfs.py", "examples", "--output", str(out), "--format", "jsonl"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for f in out.glob("*.jsonl") for line in f.open()]
    assert sorted(r["doc_id"] for r in rows) == sorted(p.name for p in (ROOT / "examples").glob("*.pdf"))
    # the scan-like example has ink and no text: the text layer cannot read it
    assert {r["doc_id"]: r["status"] for r in rows} == {p.name: "needs_ocr" if p.name == "scan-like.pdf" else "ok"
                                                        for p in (ROOT / "examples").glob("*.pdf")}


def test_output_never_escapes_the_output_folder(generated, tmp_path):
    """File names come from Ray's writer (run id and block index), never from the input's names or ids."""
    manifest = tmp_path / "inputs" / "m.jsonl"
    manifest.parent.mkdir()
    hostile_ids = ["../../escaped.pdf", "/etc/passwd", "..", "a/../../b", "con:nul?*<>|"]
    manifest.write_text("".join(
        json.dumps({"path": str(generated / "one-page.pdf"), "doc_id": doc_id}) + "\n" for doc_id in hostile_ids
    ))
    out = tmp_path / "deep" / "out"
    result = run_cli("run", "--manifest", str(manifest), "-o", str(out), "--engine", "text-layer", "--format", "jsonl")
    assert result.returncode == 0, result.stderr[-3000:]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != manifest]
    assert written and all(out in p.parents for p in written), written
    rows = [json.loads(line) for f in out.glob("*.jsonl") for line in f.open()]
    assert sorted(r["doc_id"] for r in rows) == sorted(hostile_ids)
