"""The run summary, checked against the output read back independently (pyarrow, plain Python
counting), and Ray Data's per-stage progress in the log of a CLI run whose stdout is not a terminal."""

from __future__ import annotations

import collections
import gzip
import json
import shutil
from pathlib import Path

import pyarrow.dataset as pads
from helpers import ROOT, run_cli
from samples import text_pages, write_pdf


def expected_counts(rows: list[dict]) -> dict:
    sources = collections.Counter(p["text_source"] for r in rows for p in r["pages"] or [])
    return {
        "documents": len(rows),
        "documents_by_status": dict(sorted(collections.Counter(r["status"] for r in rows).items())),
        "failures_by_error_code": dict(sorted(collections.Counter(r["error_code"] for r in rows if r["error_code"]).items())),
        "pages": sum(r["num_pages"] or 0 for r in rows),
        "pages_processed": sum(r["num_pages_processed"] or 0 for r in rows),
        "pages_by_text_source": dict(sorted(sources.items())),
        "prompt_tokens": sum(r["prompt_tokens"] or 0 for r in rows),
        "completion_tokens": sum(r["completion_tokens"] or 0 for r in rows),
    }


def progress_lines(log: str, name: str) -> list[str]:
    """Ray Data's per-operator progress report lines for one operator ("NAME: done/total")."""
    return [line for line in log.splitlines() if "logging_progress" in line and f"-- {name}: " in line]


def read_parquet_rows(out) -> list[dict]:
    columns = ["doc_id", "status", "error_code", "num_pages", "num_pages_processed", "prompt_tokens",
               "completion_tokens", "pages"]
    return pads.dataset(str(out), format="parquet").to_table(columns=columns).to_pylist()


def summary_matching_rows(out: Path) -> tuple[list[dict], dict]:
    """The rows read back and summary.json, after checking its counts against those rows."""
    rows = read_parquet_rows(out)
    summary = json.loads((out / "_raypipe" / "summary.json").read_text())
    expected = expected_counts(rows)
    assert {k: summary[k] for k in expected} == expected
    return rows, summary


def test_summary_matches_output_and_stages_are_timed(corpus, generated, tmp_path):
    inputs = tmp_path / "generated"
    shutil.copytree(generated, inputs)
    out = tmp_path / "out"
    result = run_cli("run", str(corpus), str(inputs), "-o", str(out), "--docs-per-block", "4")
    assert result.returncode == 0, result.stderr[-3000:]
    rows, summary = summary_matching_rows(out)
    assert sum(summary["pages_by_text_source"].values()) == summary["pages_processed"]
    assert summary["pages_by_text_source"]["text_layer"] > 0
    run = summary["run"]
    assert run["documents"] == run["documents_listed"] == len(rows)
    assert run["data_files"] == summary["data_files"] == len(list(out.glob("*.parquet")))
    assert run["pages_processed"] == summary["pages_processed"]
    assert run["wall_seconds"] > 0 and run["pages_per_second"] > 0 and run["engine_window_seconds"] > 0
    assert run["tokens_per_second"] == 0  # the text layer costs no tokens

    stages = run["stages"]
    names = [s["name"] for s in stages]
    assert any("Render" in n for n in names) and any("TextLayer" in n for n in names) and names[-1] == "Write"
    for stage in stages:
        assert stage["wall_seconds"] > 0 and stage["task_seconds"] > 0 and stage["tasks"] > 0, stage
        assert stage["cpu_seconds"] >= 0 and stage["blocks"] >= stage["tasks"]
        if "fused" in stage:
            assert [f["name"] for f in stage["fused"]] == stage["name"].split("->")
            assert sum(f["task_seconds"] for f in stage["fused"]) <= stage["task_seconds"] + 1e-3
    assert stages[0]["rows_out"] == len(rows)  # one row per listed input, from the read on
    assert stages[-1]["rows_in"] == len(rows)  # every row reached the writer

    # the printed table and Ray Data's progress report, per stage, in a log that is not a terminal
    assert f"documents        {len(rows)}" in result.stdout
    for name in names:
        assert name in result.stdout
        assert progress_lines(result.stderr, name), f"no progress lines for {name}"

    # Resume with one new input: the counts cover the whole output, the run's figures only the new file.
    write_pdf(inputs / "added-later.pdf", text_pages(["Added after the first run", "second page"]))
    again = run_cli("run", str(corpus), str(inputs), "-o", str(out), "--docs-per-block", "4")
    assert again.returncode == 0, again.stderr[-3000:]
    rows, summary = summary_matching_rows(out)
    assert summary["documents"] == run["documents"] + 1
    run = summary["run"]
    assert run["documents_listed"] == summary["documents"]
    assert run["documents_skipped"] == summary["documents"] - 1  # already written: skipped as they were listed
    assert run["documents"] == run["data_files"] == 1 and run["pages_processed"] == 2
    assert run["stages"] and run["stages"][-1]["name"] == "Write" and run["stages"][-1]["rows_in"] == 1


def test_jsonl_summary_and_progress_off(tmp_path):
    out = tmp_path / "out"
    result = run_cli("run", "examples", "-o", str(out), "--format", "jsonl", "--compression", "gzip",
                     "--no-progress-bars")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for f in out.glob("*.jsonl.gz") for line in gzip.open(f, "rt")]
    assert len(rows) == len(list((ROOT / "examples").glob("*.pdf")))
    summary = json.loads((out / "_raypipe" / "summary.json").read_text())
    expected = expected_counts(rows)
    assert {k: summary[k] for k in expected} == expected
    assert summary["pages_by_text_source"]["text_layer"] > 0
    names = [s["name"] for s in summary["run"]["stages"]]
    assert names and all(not progress_lines(result.stderr, n) for n in names)
