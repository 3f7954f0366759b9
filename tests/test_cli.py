"""The ``raypipe`` CLI end to end, as a user runs it: a fresh process with its own local Ray,
the real sample corpus, and output read back with independent readers."""

from __future__ import annotations

import gzip
import json
import math

import pyarrow.dataset as pads
import pytest

from conftest import ROOT, run_cli

DOCS_PER_BLOCK = 4
# opens in neither PDFium nor qpdf; rebuilt from the 3 page dictionaries in its bytes (its metadata says 4)
REBUILT = "017-unreadable-meta-data/unreadablemetadata.pdf"


def expected_statuses(corpus_files) -> dict[str, tuple[str, str | None]]:
    special = {
        "005-libreoffice-writer-password/libreoffice-writer-password.pdf": ("failed", "encrypted"),
    }
    return {doc_id: special.get(doc_id, ("ok", None)) for doc_id in corpus_files}


def check_corpus_rows(rows: list[dict], corpus_files: dict) -> None:
    by_id = {r["doc_id"]: r for r in rows}
    assert len(rows) == len(by_id) == len(corpus_files) == 31
    expected = expected_statuses(corpus_files)
    assert {k: (r["status"], r["error_code"]) for k, r in by_id.items()} == expected
    for doc_id, row in by_id.items():
        if row["status"] == "ok":
            pages = 3 if doc_id == REBUILT else corpus_files[doc_id]["pages"]
            assert row["num_pages"] == row["num_pages_processed"] == pages, doc_id
            assert len(row["pages"]) == row["num_pages"]
        else:
            assert row["error"] and row["pages"] == []
    assert "Krümmung" in by_id["009-pdflatex-geotopo/GeoTopo-komprimiert.pdf"]["text"]
    assert by_id[REBUILT]["recovered"] is True


def test_corpus_to_parquet(corpus, corpus_files, tmp_path):
    out = tmp_path / "out"
    result = run_cli("run", str(corpus), "--output", str(out), "--docs-per-block", str(DOCS_PER_BLOCK))
    assert result.returncode == 0, result.stderr[-3000:]
    files = sorted(p.name for p in out.glob("*.parquet"))
    assert 1 <= len(files) <= math.ceil(31 / DOCS_PER_BLOCK)  # files follow blocks, not documents
    table = pads.dataset(str(out), format="parquet").to_table()  # the summary must not be read as data
    check_corpus_rows(table.to_pylist(), corpus_files)
    summary = json.loads((out / "_raypipe" / "summary.json").read_text())
    assert summary["documents"] == 31 and summary["documents_by_status"] == {"failed": 1, "ok": 30}
    assert summary["failures_by_error_code"] == {"encrypted": 1}
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


@pytest.mark.parametrize(
    "args, named",
    [
        (["--format", "xml"], "--format"),
        (["--max-pages", "-3"], "--max-pages"),
        (["--longest-side", "0"], "--longest-side"),
        (["--format", "jsonl", "--compression", "snappy"], "snappy"),
        (["--first-page", "5", "--last-page", "2"], "last_page"),
    ],
)
def test_bad_options_fail_before_ray_starts(args, named, generated, tmp_path):
    result = run_cli("run", str(generated), "-o", str(tmp_path / "o"), *args, timeout=60)
    assert result.returncode == 2
    assert named in result.stderr
    assert "Started a local Ray" not in result.stderr + result.stdout
    assert not (tmp_path / "o").exists()


def test_missing_input_fails_before_ray_starts(tmp_path):
    result = run_cli("run", str(tmp_path / "missing.pdf"), "-o", str(tmp_path / "o"), timeout=60)
    assert result.returncode == 2 and "missing.pdf" in result.stderr and "does not exist" in result.stderr
    assert "Started a local Ray" not in result.stderr


def test_job_entry_point_runs_the_same_code(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "jobs/ocr_pdfs.py", "examples", "--output", str(out), "--format", "jsonl"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for f in out.glob("*.jsonl") for line in f.open()]
    assert sorted(r["doc_id"] for r in rows) == sorted(p.name for p in (ROOT / "examples").glob("*.pdf"))
    assert all(r["status"] == "ok" for r in rows)


def test_presets_command_lists_the_registry():
    from raypipe import presets

    result = run_cli("presets", timeout=60)
    assert result.returncode == 0
    for name in presets.names():
        assert name in result.stdout and presets.get(name).model in result.stdout
