"""raypipe on a machine where a Ray head is already up, as a user has it after the README's
``ray start --head``: the CLI and the quickstart notebook attach to that cluster (and say so), and an
address file left by a head that is gone starts a local Ray instead of failing."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import nbformat
import pyarrow.dataset as pads
import pytest
from helpers import ROOT, RayHead, run_cli
from nbclient import NotebookClient

HEAD_PORT = 16590
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.pdf"))


@pytest.fixture(scope="module")
def head():
    with RayHead(HEAD_PORT, num_cpus=4) as running:
        yield running


def ids(out) -> list[str]:
    return sorted(pads.dataset(str(out), format="parquet").to_table(columns=["doc_id"])["doc_id"].to_pylist())


def test_the_cli_attaches_to_the_running_head(head, tmp_path):
    out = tmp_path / "out"
    result = run_cli("run", "examples", "--output", str(out), env=head.env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"attaching to the Ray cluster at {head.address}" in result.stderr
    assert f"Connecting to existing Ray cluster at address: {head.address}" in result.stderr  # Ray's own word
    assert ids(out) == EXAMPLES


def test_the_notebook_attaches_to_the_running_head(head, tmp_path, monkeypatch):
    for key, value in head.env.items():  # the kernel inherits this environment
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    out = tmp_path / "out"
    monkeypatch.setenv("RAYPIPE_NOTEBOOK_OUTPUT", str(out))
    nb = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}})
    client.execute()
    assert ids(out) == EXAMPLES
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert f"Connecting to existing Ray cluster at address: {head.address}" in outputs


def test_a_stale_address_file_starts_a_local_ray(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on: the head that wrote the file is gone
        sock.bind(("127.0.0.1", 0))
        gone = "127.0.0.1:%d" % sock.getsockname()[1]
    tmp = Path(tempfile.mkdtemp(prefix="rps-", dir="/tmp"))  # short: Ray's unix sockets live under it
    (tmp / "ray").mkdir()
    (tmp / "ray" / "ray_current_cluster").write_text(gone)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = tmp_path / "out"
    try:
        result = run_cli("run", "examples", "--output", str(out), env={**env, "RAY_TMPDIR": str(tmp)}, timeout=300)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"ignoring {gone}" in result.stderr and "starting a local Ray" in result.stderr
    assert ids(out) == EXAMPLES
