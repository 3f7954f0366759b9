"""``ray job submit`` against a real Ray head started here (``ray start --head`` on loopback ports of
its own, token authentication on), the job entry point's exit codes as ``ray job status`` reports
them, the runtime_env file and ``cluster.yaml`` checked by Ray's own code."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pyarrow.dataset as pads
import pytest
import yaml

from conftest import ROOT
from raypipe.summary import render_table
from test_cli import check_corpus_rows

DASHBOARD = "http://127.0.0.1:18265"
# Ports of this head only, so it runs beside any other Ray on the machine.
HEAD_OPTIONS = [
    "--node-ip-address", "127.0.0.1", "--port", "16390",
    "--dashboard-host", "127.0.0.1", "--dashboard-port", "18265",
    "--dashboard-agent-listen-port", "18266", "--dashboard-agent-grpc-port", "18267",
    "--metrics-export-port", "18268", "--runtime-env-agent-port", "18269",
    "--node-manager-port", "18270", "--object-manager-port", "18271",
    "--ray-client-server-port", "10301", "--min-worker-port", "21000", "--max-worker-port", "21999",
    "--num-cpus", "4", "--disable-usage-stats",
]
BIN = Path(sys.executable).parent


class Head:
    """A running head: its dashboard address, the token jobs are submitted with, its temp dir."""

    def __init__(self, temp_dir: Path, token: str):
        self.temp_dir, self.token = temp_dir, token

    @property
    def env(self) -> dict:
        """Environment for the ``ray`` CLI talking to this head."""
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "PYTHONPATH")}
        return {**env, "PATH": f"{BIN}:{env.get('PATH', '')}", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    def client(self):
        from ray.job_submission import JobSubmissionClient

        return JobSubmissionClient(DASHBOARD, headers={"Authorization": f"Bearer {self.token}"})


def _dashboard_up(token: str) -> bool:
    request = urllib.request.Request(f"{DASHBOARD}/api/version", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def head():
    """``ray start --head --block`` in a session of its own; stopped by signalling that session only
    (``ray stop`` would stop every Ray on the machine)."""
    temp_dir = Path(tempfile.mkdtemp(prefix="rpj-", dir="/tmp"))  # short: Ray's unix sockets live under it
    head = Head(temp_dir, uuid.uuid4().hex)
    # No PYTHONPATH: the job must get this checkout's raypipe from its working_dir.
    log = open(temp_dir / "head.log", "w")
    proc = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", "--temp-dir", str(temp_dir), *HEAD_OPTIONS],
        # a test head has nothing to drain when it is stopped
        env={**head.env, "RAY_worker_niceness": "0", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _dashboard_up(head.token):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Ray head did not come up:\n{(temp_dir / 'head.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield head
    finally:
        proc.send_signal(signal.SIGTERM)  # the head drains and stops the processes it started
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of this session is left
        except ProcessLookupError:
            pass
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def cluster_runtime_env(tmp_path: Path) -> list[str]:
    """jobs/runtime_env.yaml without its pip list (vllm for CUDA): this machine has what it needs."""
    env = yaml.safe_load((ROOT / "jobs" / "runtime_env.yaml").read_text())
    env.pop("pip")
    path = tmp_path / "runtime_env.yaml"
    path.write_text(yaml.safe_dump(env))
    return ["--runtime-env", str(path)]


def ran_submitted_checkout(head: Head, logs: str) -> bool:
    """The job ran this checkout's raypipe, unpacked from its working_dir, not the machine's install."""
    return f"raypipe 0.1.0 from {head.temp_dir}/session_" in logs and "/runtime_resources/working_dir_files/" in logs


def submit(head: Head, runtime_env: list[str], *job_args: str, timeout: int = 600) -> tuple[str, subprocess.CompletedProcess]:
    """The README's ``ray job submit`` command from the repository's root, against the local head;
    returns (submission id, result)."""
    job_id = f"raypipe-test-{uuid.uuid4().hex[:8]}"
    command = [
        str(BIN / "ray"), "job", "submit", "--address", DASHBOARD, "--submission-id", job_id,
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
    assert by_id["one-page.pdf"]["text"] == "Hello raypipe\nsecond line"

    assert ran_submitted_checkout(head, logs)
    # Ray Data's progress and the run summary, as raypipe renders it, are in the job's logs.
    assert "Running Dataset" in logs and "Execution plan of Dataset" in logs
    summary = json.loads((out / "_raypipe" / "summary.json").read_text())
    assert summary["documents"] == len(rows) == len(expected_generated) + len(corpus_files)
    assert summary["failures_by_error_code"] == {"empty": 1, "encrypted": 1, "not_pdf": 1}
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


def test_runtime_env_file_is_accepted_by_ray():
    from ray.runtime_env import RuntimeEnv

    env = yaml.safe_load((ROOT / "jobs" / "runtime_env.yaml").read_text())
    assert set(env) <= RuntimeEnv.known_fields, set(env) - RuntimeEnv.known_fields
    parsed = RuntimeEnv(**env)
    assert parsed["working_dir"] == "."
    assert {".git", ".venv"} <= set(parsed["excludes"])


def _requirement_names(requirements: list[str]) -> set[str]:
    from packaging.requirements import Requirement

    return {Requirement(r).name.lower() for r in requirements}


def test_runtime_env_installs_raypipes_dependencies():
    """The job's pip list is pyproject's dependencies with the gpu extra, less Ray (the cluster's)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _requirement_names(project["dependencies"] + project["optional-dependencies"]["gpu"]) - {"ray"}
    env = yaml.safe_load((ROOT / "jobs" / "runtime_env.yaml").read_text())
    assert _requirement_names(env["pip"]) == wanted


class MapBatchesRecorder:
    """Stand-in for a ray.data.Dataset that records what a stage asks of ``map_batches`` (building
    the real stage needs no cluster; these are the resources Ray would request per actor)."""

    def map_batches(self, fn, **kwargs):
        self.kwargs = kwargs
        return self


def _cluster_config() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_cluster_yaml_passes_rays_validation():
    import ray
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = _cluster_config()
    validate_config(prepare_config(copy.deepcopy(config)))  # what `ray up` does before it touches AWS
    broken = copy.deepcopy(config)
    broken["available_node_types"]["gpu_worker"]["resources"]["GPU"] = "one"
    with pytest.raises(Exception, match="one"):
        validate_config(prepare_config(broken))
    # the image's Ray is the Ray raypipe pins
    assert config["docker"]["image"].startswith(f"rayproject/ray:{ray.__version__}-")


def test_cluster_gpu_workers_fit_the_inference_actor():
    from raypipe import presets
    from raypipe.config import EngineConfig, RayConfig
    from raypipe.infer import EngineSpec, infer_stage

    engine, ray_cfg = EngineConfig(), RayConfig()
    spec = EngineSpec(preset=presets.get(engine.preset), config=engine, device="gpu")
    asked = infer_stage(MapBatchesRecorder(), spec, ray_cfg).kwargs
    assert asked["num_gpus"] >= 1

    config = _cluster_config()
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0 and head["resources"]["CPU"] == 0  # no work on the head
    gpu_types = {name: t for name, t in types.items() if t["resources"].get("GPU", 0) > 0}
    assert gpu_types, "no GPU worker type"
    for name, node in gpu_types.items():
        resources = node["resources"]
        assert resources["GPU"] % asked["num_gpus"] == 0, name  # whole actors per node, no idle GPU
        actors = resources["GPU"] // asked["num_gpus"]
        # the actors' CPUs, and at least one more per actor for rendering
        assert resources["CPU"] >= actors * (asked["num_cpus"] + ray_cfg.render_num_cpus), name
        assert node.get("min_workers", 0) == 0 and node["max_workers"] >= 1, name  # scales from zero
    assert any("raypipe[gpu]" in command for command in config["setup_commands"])
