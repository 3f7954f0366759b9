"""The output folder under real runs of the CLI: two runs at once on one output, --retry-failed
replacing failed rows exactly once, and --fresh starting over in raypipe's own output."""

from __future__ import annotations

import json
import os
import time

import pyarrow.dataset as pads
from helpers import kill_session, run_cli, start_cli
from samples import pdf_bytes, text_pages


def numbered_pdfs(folder, count: int, width: int = 0):
    """``folder`` holding ``count`` one-page PDFs, doc-0.pdf ... (numbers zero-padded to ``width``)."""
    folder.mkdir()
    for i in range(count):
        (folder / f"doc-{i:0{width}d}.pdf").write_bytes(pdf_bytes(text_pages([f"Document {i}"])))
    return folder


def rows(out) -> list[dict]:
    files = [str(p) for p in out.glob("*.parquet")]
    return pads.dataset(files, format="parquet").to_table(columns=["doc_id", "status", "error_code"]).to_pylist()


def test_a_second_run_on_a_busy_output_is_refused_and_names_the_first(tmp_path):
    inputs = numbered_pdfs(tmp_path / "in", 120, width=3)
    out = tmp_path / "out"
    args = [str(inputs), "-o", str(out), "--docs-per-block", "2", "--rows-per-file", "4", "--render-concurrency", "1"]
    first = start_cli(args, tmp_path / "first.log")
    try:
        lease = out / "_raypipe" / "leases" / "all.json"
        deadline = time.monotonic() + 120
        while not lease.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        holder = json.loads(lease.read_text())["run_id"]
        second = run_cli(*["run", *args], timeout=120)
        assert second.returncode == 2, second.stderr[-2000:]
        assert f"in use by raypipe run {holder}" in second.stderr and str(first.pid) in second.stderr
        assert first.wait(timeout=600) == 0, (tmp_path / "first.log").read_text()[-3000:]
    finally:
        if first.poll() is None:
            kill_session(first)
    ids = [r["doc_id"] for r in rows(out)]
    assert len(ids) == len(set(ids)) == 120  # the refused run touched nothing, not even the first's parts
    assert not (out / "_raypipe" / "leases" / "all.json").exists()


def test_retry_failed_replaces_the_failed_rows_exactly_once(tmp_path):
    inputs = numbered_pdfs(tmp_path / "in", 6)
    later = tmp_path / "arrives-later.pdf"
    os.symlink(later, inputs / "late.pdf")  # dangling for now: read_error
    out = tmp_path / "out"
    first = run_cli("run", str(inputs), "-o", str(out), "--rows-per-file", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    assert {r["doc_id"]: r["error_code"] for r in rows(out)}["late.pdf"] == "read_error"

    later.write_bytes(pdf_bytes(text_pages(["Here now"])))
    resumed = run_cli("run", str(inputs), "-o", str(out), "--rows-per-file", "2")  # a plain resume keeps it
    assert resumed.returncode == 0 and {r["doc_id"]: r["error_code"] for r in rows(out)}["late.pdf"] == "read_error"
    retried = run_cli("run", str(inputs), "-o", str(out), "--rows-per-file", "2", "--retry-failed")
    assert retried.returncode == 0, retried.stderr[-3000:]
    after = rows(out)
    assert sorted(r["doc_id"] for r in after) == sorted(["late.pdf"] + [f"doc-{i}.pdf" for i in range(6)])
    assert all(r["status"] == "ok" for r in after)
    summary = json.loads((out / "_raypipe" / "summary.json").read_text())
    assert summary["documents"] == 7 and summary["run"]["documents"] == 1


def test_fresh_starts_over_in_raypipes_own_output_and_leaves_the_rest(tmp_path):
    inputs = numbered_pdfs(tmp_path / "in", 3)
    out = tmp_path / "out"
    assert run_cli("run", str(inputs), "-o", str(out)).returncode == 0
    (out / "README.txt").write_text("notes a user keeps beside the output")
    old = sorted(p.name for p in out.glob("*.parquet"))
    fresh = run_cli("run", str(inputs), "-o", str(out), "--fresh")
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    new = sorted(p.name for p in out.glob("*.parquet"))
    assert not set(old) & set(new) and sorted(r["doc_id"] for r in rows(out)) == [f"doc-{i}.pdf" for i in range(3)]
    assert (out / "README.txt").read_text() == "notes a user keeps beside the output"


def test_two_slices_share_one_output_and_together_write_every_document_once(tmp_path):
    inputs = numbered_pdfs(tmp_path / "in", 24, width=2)
    out = tmp_path / "out"
    halves = []
    for index in (0, 1):
        result = run_cli("run", str(inputs), "-o", str(out), "--shard", f"{index}/2")
        assert result.returncode == 0, result.stderr[-3000:]
        halves.append(sorted(r["doc_id"] for r in rows(out)))
    ids = [r["doc_id"] for r in rows(out)]
    assert len(ids) == len(set(ids)) == 24 and 0 < len(halves[0]) < 24  # the first slice wrote only its part
    again = run_cli("run", str(inputs), "-o", str(out), "--shard", "1/2")
    assert again.returncode == 0 and sorted(r["doc_id"] for r in rows(out)) == sorted(ids)  # resumed: nothing new
    whole = run_cli("run", str(inputs), "-o", str(out))
    assert whole.returncode == 2 and "shards: 2 before, 1 now" in whole.stderr, whole.stderr[-2000:]


def test_a_damaged_checkpoint_stops_the_resume_by_name_and_writes_nothing(tmp_path):
    inputs = numbered_pdfs(tmp_path / "in", 3)
    out = tmp_path / "out"
    first = run_cli("run", str(inputs), "-o", str(out), timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    before = sorted(p.name for p in out.glob("*.parquet"))
    broken = out / "_raypipe" / "checkpoint" / "zzzz_broken.parquet"
    broken.write_bytes(b"PAR1 cut short")
    again = run_cli("run", str(inputs), "-o", str(out), timeout=300)
    assert again.returncode == 2, again.stderr[-2000:]
    assert f"checkpoint file '{broken}' cannot be read" in again.stderr and "--fresh" in again.stderr
    assert "Traceback" not in again.stderr and "Unhandled error" not in again.stderr
    assert sorted(p.name for p in out.glob("*.parquet")) == before
