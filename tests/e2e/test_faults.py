"""Worker and actor deaths: Ray restarts the worker and retries its documents; a document that kills
its worker every time (a poison document) ends as a ``crashed`` row after ``--max-doc-attempts``
starts. No PDF at hand crashes PDFium or vLLM, so the poison documents here use the
``RAYPIPE_TEST_CRASH_ON`` stand-in (raypipe.faults): the worker SIGKILLs itself when it starts one.
The actor-death test kills real processes from outside, with no stand-in."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest
from helpers import (
    ENGINE_OPTIONS,
    OFFLINE_ENV,
    find_processes,
    needs_vllm_cpu,
    run_cli,
    session_pids,
    start_cli,
    wait_for,
)
from samples import SamplePage, text_pages, write_pdf

from raypipe.faults import CRASH_TEST_ENV, ActorGuard, start_ledger


def rows_of(out: Path) -> dict[str, dict]:
    rows = [json.loads(line) for f in sorted(out.glob("*.jsonl")) for line in f.open()]
    ids = [r["doc_id"] for r in rows]
    assert len(ids) == len(set(ids)), "a document was written twice"
    return {r["doc_id"]: r for r in rows}


def poison_and_the_rest(out: Path, docs: Path, starts: int) -> dict[str, dict]:
    """Checks one row per input and poison.pdf as a crashed row after ``starts`` starts; returns the rest."""
    rows = rows_of(out)
    assert sorted(rows) == sorted(p.name for p in docs.glob("*.pdf"))
    poison = rows.pop("poison.pdf")
    assert (poison["status"], poison["error_code"]) == ("failed", "crashed")
    assert f"died {starts} times" in poison["error"]
    return rows


def test_poison_document_in_render_becomes_a_crashed_row(tmp_path):
    docs = tmp_path / "in"
    for i in range(12):
        write_pdf(docs / f"doc-{i:02d}.pdf", text_pages([f"Document {i}"]))
    write_pdf(docs / "poison.pdf", text_pages(["Kills its worker"]))
    out = tmp_path / "out"
    result = run_cli(
        "run", str(docs), "-o", str(out), "--format", "jsonl", "--engine", "text-layer",
        "--docs-per-block", "3", "--max-doc-attempts", "2", env={CRASH_TEST_ENV: "render:poison"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = poison_and_the_rest(out, docs, starts=2)
    # the documents that shared the poison document's block were retried, not lost
    for doc_id, row in rows.items():
        assert row["status"] == "ok", (doc_id, row["error"])
        assert row["text"].strip() == f"Document {int(doc_id[4:6])}"


def test_actor_guard_runs_a_twice_crashed_document_alone(ray_local):
    """The third start of a document waits for the actor to empty, and holds others off meanwhile."""
    ledger = start_ledger()
    for _ in range(2):  # two starts that never ended: the worker died twice with "suspect" in it
        ray_local.get(ledger.begin.remote("infer", "suspect"))
    guard = ActorGuard(ledger, max_attempts=3)
    running: set[str] = set()
    seen_with: dict[str, set[str]] = {}

    async def work(doc_id: str, delay: float):
        await asyncio.sleep(delay)
        async with guard.attempt(doc_id):
            running.add(doc_id)
            await asyncio.sleep(0.3)
            seen_with[doc_id] = set(running) - {doc_id}
            running.discard(doc_id)

    async def main():
        await asyncio.gather(work("a", 0), work("b", 0), work("suspect", 0.1), work("c", 0.15))

    asyncio.run(main())
    assert seen_with["suspect"] == set()  # alone
    assert "suspect" not in seen_with["c"] and "suspect" not in seen_with["a"]
    assert seen_with["a"] == {"b"}  # ordinary documents still share the actor
    assert ray_local.get(ledger.starts.remote("infer", "suspect")) == 0  # ended: the count is cleared


def test_actor_guard_refuses_a_document_past_its_attempts(ray_local):
    from raypipe.errors import DocumentError

    ledger = start_ledger()
    for _ in range(3):
        ray_local.get(ledger.begin.remote("infer", "poison"))
    guard = ActorGuard(ledger, max_attempts=3)

    async def main():
        async with guard.attempt("poison"):
            pass

    with pytest.raises(DocumentError) as info:
        asyncio.run(main())
    assert info.value.code.value == "crashed" and "died 3 times" in info.value.message


# --- the real engine --------------------------------------------------------------------------


@needs_vllm_cpu
def test_inference_actor_and_engine_killed_mid_run(tiny_model, tmp_path):
    """SIGKILL the inference actor's process mid-run, then the replacement's vLLM engine process, then
    the next engine while it loads: the run still finishes with every document once, each page with
    the model's answer."""
    import tiny_vl

    docs = tmp_path / "in"
    names = []
    for i in range(48):
        write_pdf(docs / f"doc-{i:02d}.pdf", [SamplePage(lines=(f"Scanned {i}",), boxes=3)] * 4)
        names.append(f"doc-{i:02d}.pdf")
    out = tmp_path / "out"
    log = tmp_path / "run.log"
    proc = start_cli(
        [str(docs), "-o", str(out), "--format", "jsonl", "--rows-per-file", "4", "--model", str(tiny_model),
         "--docs-in-flight", "4", "--pages-in-flight", "8", "--max-num-seqs", "8", *ENGINE_OPTIONS[:-2]],
        log, env=OFFLINE_ENV,
    )
    try:
        actor, engine = "MapBatches(VLLMInfer)", "VLLM::EngineCore"
        first_engines = wait_for(lambda: find_processes(proc.pid, engine), 300, "the first engine")
        wait_for(lambda: list(out.glob("*.jsonl")), 300, "the first data file")  # mid-run
        os.kill(find_processes(proc.pid, actor)[0], signal.SIGKILL)
        files_at_kill = len(list(out.glob("*.jsonl")))
        # the replacement actor starts a new engine; once it has written, its engine process is killed
        second = wait_for(lambda: [p for p in find_processes(proc.pid, engine) if p not in first_engines], 300,
                          "the replacement engine")
        wait_for(lambda: len(list(out.glob("*.jsonl"))) > files_at_kill or proc.poll() is not None, 300,
                 "a data file from the replacement")
        assert proc.poll() is None, "the run ended before the engine could be killed"
        os.kill(second[0], signal.SIGKILL)
        # the next engine is killed as soon as it appears, while it loads: the actor starts another
        seen = {*first_engines, *second}
        third = wait_for(lambda: [p for p in find_processes(proc.pid, engine) if p not in seen], 300, "a third engine")
        os.kill(third[0], signal.SIGKILL)
        assert proc.wait(timeout=900) == 0, log.read_text()[-4000:]
        assert "the vLLM engine did not start" in log.read_text()
    finally:
        if proc.poll() is None:
            for pid in session_pids(proc.pid):
                os.kill(pid, signal.SIGKILL)
    rows = rows_of(out)
    assert sorted(rows) == names  # every document once
    for doc_id, row in rows.items():
        assert row["status"] == "ok", (doc_id, row["error"])
        assert [p["text"] for p in row["pages"]] == [tiny_vl.RESPONSE_TEXT] * 4


@needs_vllm_cpu
def test_poison_document_in_the_engine_becomes_a_crashed_row(tiny_model, tmp_path):
    """A document that kills the inference actor at every start: its neighbours, charged for the first
    crashes too, succeed when they run alone; it is refused after --max-doc-attempts (3) starts."""
    import tiny_vl

    docs = tmp_path / "in"
    for i in range(5):
        write_pdf(docs / f"doc-{i}.pdf", [SamplePage(lines=(f"Scanned {i}",), boxes=2)])
    write_pdf(docs / "poison.pdf", [SamplePage(lines=("Poison",), boxes=2)])
    out = tmp_path / "out"
    result = run_cli(
        "run", str(docs), "-o", str(out), "--format", "jsonl", "--model", str(tiny_model), *ENGINE_OPTIONS,
        env={**OFFLINE_ENV, CRASH_TEST_ENV: "infer:poison"}, timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    rows = poison_and_the_rest(out, docs, starts=3)
    for doc_id, row in rows.items():
        assert row["status"] == "ok", (doc_id, row["error"])
        assert row["pages"][0]["text"] == tiny_vl.RESPONSE_TEXT
