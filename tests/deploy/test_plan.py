"""``raypipe plan`` against a real ``ray start`` head with 8 logical GPUs (a CPU machine can declare
them: no actor ever asks for one here, ``plan`` starts none): it shows one engine per GPU, and the
autoscaler's maximum when the head reports one. The autoscaler's report is written into the GCS the
way a cluster launcher's autoscaler writes it (a stand-in: no cloud autoscaler runs here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import OFFLINE_ENV, ROOT, RayHead, needs_vllm_cpu, run_cli

from raypipe.engines.cpu_cores import BIND_ENV, machine_cpus, split

HEAD_PORT = 16790

REPORT_AUTOSCALER_CONFIG = """
import ray
from ray.core.generated import autoscaler_pb2
ray.init(log_to_driver=False)
config = autoscaler_pb2.ClusterConfig()
config.node_group_configs.add(name="gpu_worker", min_count=0, max_count=6, resources={"CPU": 8, "GPU": 2})
config.node_group_configs.add(name="head", min_count=1, max_count=1, resources={"CPU": 4})
ray.experimental.internal_kv._internal_kv_put(
    ray._raylet.GCS_AUTOSCALER_CLUSTER_CONFIG_KEY, config.SerializeToString(), overwrite=True,
    namespace=ray._raylet.GCS_AUTOSCALER_STATE_NAMESPACE,
)
"""


@pytest.fixture(scope="module")
def head():
    with RayHead(HEAD_PORT, num_cpus=4, num_gpus=8) as running:
        yield running


def plan(head, *args) -> dict:
    result = run_cli("plan", "examples", "--engine", "vllm", "--json", *args, env=head.env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_plan_shows_one_engine_per_gpu_and_starts_no_actor(head):
    described = plan(head)
    assert described["cluster"]["gpus"] == 8 and described["engine"]["device"] == "gpu"
    assert (described["actors"]["min"], described["actors"]["max"], described["actors"]["gpus_each"]) == (8, 8, 1)
    args = described["engine_args"]
    assert (args["max_num_seqs"], args["max_num_batched_tokens"]) == (512, 16384)
    assert described["pages_in_flight"] == 640 and described["docs_in_flight"] == 640
    assert described["documents"]["count"] == len(list((ROOT / "examples").glob("*.pdf")))
    assert described["engine"]["cpu_cores"] is None  # a cluster raypipe did not start keeps its cores as they are
    assert plan(head, "--tensor-parallel-size", "2")["actors"]["min"] == 4
    assert plan(head, "--infer-actors", "3")["actors"]["min"] == 3  # an explicit option wins
    assert described["write"] == {"num_cpus": 0.2}
    assert plan(head, "--stage-num-cpus", "1", "--write-concurrency", "2")["write"] == {"num_cpus": 0.2, "concurrency": 2}
    listed = subprocess.run([sys.executable, "-c", "import ray; ray.init(log_to_driver=False); "
                             "from ray.util.state import list_actors; print(len(list_actors(filters=[('state', '=', 'ALIVE')])))"],
                            env=head.env, capture_output=True, text=True, timeout=120)
    assert listed.stdout.strip() == "0", listed.stderr[-2000:]  # plan started no actor


def test_plan_grows_to_what_the_autoscaler_can_bring(head):
    reported = subprocess.run([sys.executable, "-c", REPORT_AUTOSCALER_CONFIG], env=head.env,
                              capture_output=True, text=True, timeout=120)
    assert reported.returncode == 0, reported.stderr[-2000:]
    described = plan(head)
    assert described["cluster"]["max_gpus"] == 12  # 6 workers x 2 GPUs
    assert (described["actors"]["min"], described["actors"]["max"]) == (8, 12)


@needs_vllm_cpu
def test_plan_on_a_local_ray_splits_the_cores_for_a_model_on_the_cpus():
    result = run_cli("plan", "examples", "--engine", "vllm", "--device", "cpu", "--address", "local", "--json",
                     env=OFFLINE_ENV, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    described = json.loads(result.stdout)
    cores = None if BIND_ENV in os.environ else split(machine_cpus(), 1)
    assert described["engine"]["cpu_cores"] == (cores.as_dict() if cores else None)
    result = run_cli("plan", "examples", "--engine", "vllm", "--device", "cpu", "--address", "local", "--json",
                     "--cpu-pipeline-cores", "0", env=OFFLINE_ENV, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["engine"]["cpu_cores"] is None
