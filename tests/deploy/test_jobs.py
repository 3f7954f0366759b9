"""``ray job submit`` against a real Ray head started here (``ray start --head`` on loopback ports of
its own, token authentication on), the job entry point's exit codes as ``ray job status`` reports
them, the runtime_env file and ``cluster.yaml`` checked by Ray's own code."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pyarrow.dataset as pads
import pytest
import yaml
from helpers import BIN, ROOT, RayHead, check_corpus_rows

import raypipe
from raypipe.summary import render_table

HEAD_PORT = 16390  # this head's ports start here, so it runs beside any other Ray on the machine


@pytest.fixture(scope="module")
def head():
    """A head with token authentication on; no PYTHONPATH, so the job must get this checkout's raypipe
    from its working_dir."""
    with RayHead(HEAD_PORT, token=uuid.uuid4().hex) as running:
        yield running


def cluster_runtime_env(tmp_path: Path) -> list[str]:
    """jobs/runtime_env.yaml without its pip list (vllm for CUDA): this machine has what it needs."""
    env = yaml.safe_load((ROOT / "jobs" / "runtime_env.yaml").read_text())
    env.pop("pip")
    path = tmp_path / "runtime_env.yaml"
    path.write_text(yaml.safe_dump(env))
    return ["--runtime-env", str(path)]


def ran_submitted_checkout(head: RayHead, logs: str) -> bool:
    """The job ran this checkout's raypipe, unpacked from its working_dir, not the machine's install."""
    return f"raypipe {raypipe.__version__} from {head.temp_dir}/session_" in logs and "/runtime_resources/working_dir_files/" in logs


def submit(head: RayHead, runtime_env: list[str], *job_args: str, timeout: int = 600) -> tuple[str, subprocess.CompletedProcess]:
    """The README's ``ray job submit`` command from the repository's root, against the local head;
    returns (submission id, result)."""
    job_id = f"raypipe-test-{uuid.uuid4().hex[:8]}"
    command = [
        str(BIN / "ray"), "job", "submit", "--address", head.dashboard, "--submission-id", job_id,
        *runtime_env, "--", "python", "jobs/ocr_pdfs.py", *job_args,
    ]
    result = subprocess.run(command, cwd=ROOT, env=head.env, capture_output=True, text=True, timeout=timeout)
    return job_id, result


def generated_expectations(generated: Path) -> dict[str, tuple[str, str | None]]:
    special = {"zero-bytes.pdf": ("failed", "empty"), "page.html.pdf": ("failed", "not_pdf")}
    ids = [str(p.relative_to(generated)) for p in generated.rglob("*.pdf")]
    return {doc_id: special.get(doc_id, ("ok", None)) for doc_id in ids}


def test_submitted_job_succeeds_with_one_row_per_input(head, generated, corpus, corpus_files, tmp_path):
    from ray.job_submission import JobStatus

    out = tmp_path / "out"
    # the README's one-machine command
    job_id, result = submit(
        head, ["--working-dir", "."], str(generated), str(corpus), "--output", str(out), "--engine", "text-layer"
    )
    client = head.client()
    logs = client.get_job_logs(job_id)
    assert result.returncode == 0, logs[-3000:] + result.stderr[-2000:]
    info = client.get_job_info(job_id)
    # failed documents do not fail the job
    assert (info.status, info.driver_exit_code) == (JobStatus.SUCCEEDED, 0), info.message

    rows = pads.dataset(str(out), format="parquet").to_table().to_pylist()
    by_id = {r["doc_id"]: r for r in rows}
    assert len(by_id) == len(rows)
    expected_generated = generated_expectations(generated)
    assert {k: (r["status"], r["error_code"]) for k, r in by_id.items() if k in expected_generated} == expected_generated
    check_corpus_rows([r for r in rows if r["doc_id"] not in expected_generated], corpus_files)
    assert by_id["one-page.pdf"]["text"] == "Hello raypipe second line"  # two lines, one paragraph

    assert ran_submitted_checkout(head, logs)
    # Ray Data's progress and the run summary, as raypipe renders it, are in the job's logs.
    assert "Running Dataset" in logs and "Execution plan of Dataset" in logs
    summary = json.loads((out / "_raypipe" / "summary.json").read_text())
    assert summary["documents"] == len(rows) == len(expected_generated) + len(corpus_files)
    assert summary["failures_by_error_code"] == {"empty": 1, "encrypted": 1, "needs_ocr": 6, "not_pdf": 1}
    assert render_table(summary) in logs


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rows-per-file", "0"], "--rows-per-file (output.rows_per_file): Input should be greater than or equal to 1"),
        (["--no-such-option"], "unrecognized arguments: --no-such-option"),
        # found once the job has attached to the cluster, before any actor starts
        (["--engine", "vllm", "--device", "cpu", "--model", "./no-such-model"], "--model: the folder './no-such-model' does not exist"),
    ],
)
def test_bad_argument_fails_the_job_with_the_message_in_its_logs(head, generated, tmp_path, args, message):
    from ray.job_submission import JobStatus

    out = tmp_path / "out"
    job_id, result = submit(head, cluster_runtime_env(tmp_path), str(generated), "--output", str(out), *args, timeout=300)
    client = head.client()
    info = client.get_job_info(job_id)
    assert result.returncode != 0  # `ray job submit` itself reports the failure
    assert (info.status, info.driver_exit_code) == (JobStatus.FAILED, 2), info.message
    logs = client.get_job_logs(job_id)
    assert message in logs and ran_submitted_checkout(head, logs)
    assert not out.exists()


def test_job_that_cannot_write_its_output_fails(head, generated, tmp_path):
    from ray.job_submission import JobStatus

    (tmp_path / "a-file").write_text("not a folder")
    job_id, result = submit(head, cluster_runtime_env(tmp_path), str(generated), "--output", str(tmp_path / "a-file" / "out"))
    client = head.client()
    info = client.get_job_info(job_id)
    assert result.returncode != 0
    assert (info.status, info.driver_exit_code) == (JobStatus.FAILED, 1), info.message
    assert "NotADirectoryError" in client.get_job_logs(job_id)
