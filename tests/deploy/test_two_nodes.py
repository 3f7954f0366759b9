"""raypipe on a real two-node Ray cluster: a ``ray start`` head and a second ``ray start`` node joined to
it (two raylets and object stores on this machine, with Ray's token authentication as cluster.yaml has it). The engine's actors spread over both nodes and the
run summary counts each node's documents; losing the worker node mid-run (SIGKILL to all of its
processes, as a machine loss) loses no document and writes none twice, and the run's bookkeeping
actors (crash ledger, statistics), which live beside the driver, keep their counts. The endpoint is the scripted
stand-in of helpers.py, slowed down so the run is still going when the node dies."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from helpers import (
    FlakyChatServer,
    RayHead,
    RayWorker,
    read_jsonl,
    run_cli,
    start_cli,
    wait_for,
)
from samples import text_pages, write_pdf

HEAD_PORT = 16990
WORKER_PORT = 17990


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("two-nodes")
    for i in range(24):
        write_pdf(root / f"doc-{i:02d}.pdf", text_pages([f"Document {i} page {p}" for p in (1, 2)]))
    return root


def slow_ok(delay: float):
    def plan(n: int, width: int, height: int) -> str:
        time.sleep(delay)  # under the server's lock: answers come one at a time, `delay` apart
        return "ok"
    return plan


def engine_options(server: FlakyChatServer) -> list[str]:
    return ["--engine", "openai", "--base-url", server.base_url, "--model", "stand-in",
            "--infer-actors", "2", "--longest-side", "300", "--format", "jsonl", "--rows-per-file", "2",
            "--max-concurrency", "4"]


def test_engine_actors_spread_over_both_nodes(inputs, tmp_path):
    out = tmp_path / "out"
    with RayHead(HEAD_PORT, token=uuid.uuid4().hex, num_cpus=2) as head, RayWorker(head, WORKER_PORT, num_cpus=2), \
            FlakyChatServer(slow_ok(0.02)) as server:
        result = run_cli("run", str(inputs), "--output", str(out), *engine_options(server), env=head.env, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    rows = read_jsonl(out)
    assert sorted(r["doc_id"] for r in rows) == sorted(p.name for p in inputs.glob("*.pdf"))
    assert all(r["status"] == "ok" for r in rows)
    assert len(server.log) == 48

    run = json.loads((out / "_raypipe" / "summary.json").read_text())["run"]
    by_node = run["documents_by_node"]
    assert len(by_node) == 2, by_node  # one engine actor on each node
    assert sum(n["documents"] for n in by_node.values()) == 24
    assert sum(n["pages"] for n in by_node.values()) == 48
    assert all(n["documents"] > 0 for n in by_node.values())
    assert result.stdout.count("engine node ") == 2  # the summary table names both


def test_losing_the_worker_node_mid_run_loses_no_document(inputs, tmp_path):
    out = tmp_path / "out"
    with RayHead(HEAD_PORT, token=uuid.uuid4().hex, num_cpus=2) as head, FlakyChatServer(slow_ok(0.25)) as server:
        with RayWorker(head, WORKER_PORT, num_cpus=2) as worker:
            proc = start_cli([str(inputs), "--output", str(out), *engine_options(server)],
                             tmp_path / "run.log", env=head.env)
            wait_for(lambda: len(server.log) >= 12 or proc.poll() is not None, 300, "a quarter of the pages")
            assert proc.poll() is None, (tmp_path / "run.log").read_text()[-4000:]
            worker.kill()
            wait_for(lambda: worker.alive_nodes() == 1, 120, "Ray to see the worker node dead")
        code = proc.wait(timeout=900)
    log = (tmp_path / "run.log").read_text()
    assert code == 0, log[-4000:]
    rows = read_jsonl(out)
    ids = [r["doc_id"] for r in rows]
    assert sorted(ids) == sorted(p.name for p in inputs.glob("*.pdf"))  # each document once
    assert all(r["status"] == "ok" for r in rows), [(r["doc_id"], r["error"]) for r in rows if r["status"] != "ok"]
    assert len(server.log) >= 48  # every page answered at least once (those in flight on the lost node again)
    # the run's bookkeeping actors live beside the driver: the per-node counts survived the node
    by_node = json.loads((out / "_raypipe" / "summary.json").read_text())["run"]["documents_by_node"]
    assert sum(n["documents"] for n in by_node.values()) >= 24, by_node
