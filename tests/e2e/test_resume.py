"""Crash and resume: the real CLI is killed with SIGKILL (every process of its session, Ray's
workers included) at several moments, then run again; the output must hold every document exactly
once, and a finished run run again must write nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from helpers import (
    ENGINE_OPTIONS,
    OFFLINE_ENV,
    kill_session,
    needs_vllm_cpu,
    run_cli,
    start_cli,
)
from samples import SamplePage, pdf_bytes, text_pages

N_DOCS = 300
ARGS = ["--docs-per-block", "5", "--rows-per-file", "10", "--render-concurrency", "1"]


@pytest.fixture(scope="module")
def many_docs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("many")
    for i in range(N_DOCS):
        (root / f"doc-{i:04d}.pdf").write_bytes(pdf_bytes(text_pages([f"Document number {i}"])))
    return root


def data_files(out: Path) -> list[Path]:
    return [p for p in out.glob("*.parquet")] if out.exists() else []


def doc_ids(out: Path) -> list[str]:
    return pads.dataset(str(out), format="parquet").to_table(columns=["doc_id"])["doc_id"].to_pylist()


@pytest.mark.parametrize("moment", ["before-any-write", "mid-write", "after-most-writes", "after-the-last-write"])
def test_kill_9_then_rerun_loses_nothing_and_writes_nothing_twice(moment, many_docs, tmp_path):
    out = tmp_path / "out"
    proc = start_cli([str(many_docs), "-o", str(out), *ARGS], tmp_path / "first.log")
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            files = len(data_files(out))
            if moment == "before-any-write" and "Starting execution" in (tmp_path / "first.log").read_text():
                assert files == 0
                break
            if moment == "mid-write" and files >= 1:
                break
            if moment == "after-most-writes" and files >= 20:
                break
            if moment == "after-the-last-write" and "Data sink Parquet finished" in (tmp_path / "first.log").read_text():
                break  # every file written and committed; the run is summarising and shutting down
            time.sleep(0.05)
        assert proc.poll() is None, f"the run ended before the kill point {moment!r}"
    finally:
        kill_session(proc)
    killed_with = len(data_files(out))
    # between the crash and the rerun, whatever sits under a data file's name is a whole file
    for path in data_files(out):
        pq.read_metadata(path)

    rerun = run_cli("run", str(many_docs), "-o", str(out), *ARGS)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    said = rerun.stdout + rerun.stderr
    assert "Execution plan" in said and "CheckpointFilter" not in said  # the read tasks skip committed ids
    ids = doc_ids(out)  # every file readable: no half-written file is left as data
    assert len(ids) == len(set(ids)) == N_DOCS, (moment, killed_with, len(ids), len(set(ids)))
    assert sorted(ids) == sorted(p.name for p in many_docs.glob("*.pdf"))

    if moment == "after-most-writes":  # a finished run, run again, writes nothing (once is enough)
        files_before = sorted(p.name for p in data_files(out))
        again = run_cli("run", str(many_docs), "-o", str(out), *ARGS)
        assert again.returncode == 0, again.stderr[-3000:]
        assert f"resuming: {N_DOCS:,} documents are already written" in again.stdout
        assert sorted(p.name for p in data_files(out)) == files_before


@needs_vllm_cpu
def test_kill_9_mid_run_with_the_vllm_engine(tiny_model, tmp_path):
    import tiny_vl

    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(160):
        (inputs / f"scan-{i:03d}.pdf").write_bytes(pdf_bytes([SamplePage(boxes=1 + i % 5)]))
    out = tmp_path / "out"
    args = [str(inputs), "-o", str(out), "--format", "jsonl", "--rows-per-file", "4", "--model", str(tiny_model),
            *ENGINE_OPTIONS]
    proc = start_cli(args, tmp_path / "first.log", OFFLINE_ENV)
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and proc.poll() is None and not list(out.glob("*.jsonl")):
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before the kill point"
    finally:
        kill_session(proc)
    written_before = len(list(out.glob("*.jsonl")))

    rerun = run_cli("run", *args, env=OFFLINE_ENV, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    rows = [json.loads(line) for f in out.glob("*.jsonl") for line in f.open()]
    ids = [r["doc_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 160, (written_before, len(ids))
    assert all(p["text"] == tiny_vl.RESPONSE_TEXT for r in rows for p in r["pages"])
