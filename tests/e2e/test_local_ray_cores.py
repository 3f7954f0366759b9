"""A local Ray that raypipe starts for a model on the CPUs runs on the pipeline's cores: every process
it starts (daemons and workers, and the tasks they run) inherits the affinity, and the caller keeps its
own; a later run in the same Ray (a notebook's) keeps to the same split. Checked on a real local Ray,
in a child process so that this one is left as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import needs_vllm_cpu

from raypipe.engines.cpu_cores import BIND_ENV, machine_cpus, split

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin Ray to one")

SCRIPT = """
import json, os, sys
import ray
from raypipe.cluster import LOCAL, connect, local_split
from raypipe.config import RayConfig
from raypipe.engines.cpu_cores import CoreSplit

cores = (int(sys.argv[1]),)
before = sorted(os.sched_getaffinity(0))
how = connect(RayConfig(address="local", local_num_cpus=2), CoreSplit((), cores))
recorded = local_split().pipeline

@ray.remote
def where():
    return sorted(os.sched_getaffinity(0))

tasks = ray.get([where.remote() for _ in range(4)])

def children(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
    return kids + [k for kid in kids for k in children(kid)]

def allowed(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()

started = {}
for pid in children(os.getpid()):
    try:
        started[open(f"/proc/{pid}/comm").read().strip()] = allowed(pid)
    except OSError:
        pass
print(json.dumps({"how": how, "local": how == LOCAL, "recorded": recorded, "before": before, "after": sorted(os.sched_getaffinity(0)),
                  "tasks": tasks, "started": started}))
ray.shutdown()
ray.init(address="local", num_cpus=1, include_dashboard=False)  # another Ray, not raypipe's
print(json.dumps({"after_restart": local_split()}))
ray.shutdown()
"""


def test_a_local_ray_runs_on_the_cores_it_is_given(tmp_path):
    last = max(os.sched_getaffinity(0))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(last)], capture_output=True, text=True,
                         timeout=300, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    *_, line, restarted = out.stdout.strip().splitlines()
    got = json.loads(line)
    assert json.loads(restarted) == {"after_restart": None}
    assert got["local"], got["how"]
    assert got["recorded"] == [last]
    assert got["before"] == got["after"] == sorted(os.sched_getaffinity(0))  # the caller is as it was
    assert got["tasks"] == [[last]] * 4
    assert "raylet" in got["started"] and "gcs_server" in got["started"], got["started"]
    assert set(got["started"].values()) == {str(last)}, got["started"]


NOTEBOOK = """
import json
from raypipe.config import PipelineConfig
from raypipe.plan import make_plan

def plan(**vllm):
    config = PipelineConfig.model_validate({"input": {"inputs": ["examples"]}, "ray": {"address": "local"},
                                            "engine": {"engine": "vllm", "vllm": {"device": "cpu", **vllm}}})
    cores = make_plan(config).engine.cores
    return cores.as_dict() if cores else None

# build_dataset, then run: each plans once; the second finds the Ray the first started
print(json.dumps([plan(), plan(cpu_pipeline_cores=0)]))
"""


@needs_vllm_cpu
def test_a_second_run_in_the_same_ray_keeps_its_split(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", BIND_ENV)}
    out = subprocess.run([sys.executable, "-c", NOTEBOOK], capture_output=True, text=True, timeout=300, env=env,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-3000:]
    first, second = json.loads(out.stdout.strip().splitlines()[-1])
    assert first == split(machine_cpus(), 1).as_dict()
    # its Ray keeps to the first split, so the model must bind to it (with a warning), or idle a core
    assert second == first
    assert "keeps to that split" in out.stderr
