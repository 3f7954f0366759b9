"""The split of a machine's cores between vLLM's threads and everything else (raypipe.engines.cpu_cores):
the pure split on made-up topologies, this machine's topology as /sys gives it, when there is no split,
and the affinity changes themselves, checked in child processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from raypipe.config import EngineConfig, VLLMOptions
from raypipe.engines import cpu_cores
from raypipe.engines.cpu_cores import CoreSplit, Cpu, split
from raypipe.engines.resolve import has_vllm_cpu


def flat(n: int) -> list[Cpu]:
    """n logical CPUs, each its own physical core, one NUMA node."""
    return [Cpu(i, i, 0) for i in range(n)]


def test_two_cores_give_one_to_the_model_and_one_to_the_rest():
    assert split(flat(2), 1) == CoreSplit(engine=(0,), pipeline=(1,))
    assert split(flat(8), 2) == CoreSplit(engine=(0, 1, 2, 3, 4, 5), pipeline=(6, 7))


def test_hyperthreads_one_thread_per_core_and_the_siblings_left_idle():
    # 4 physical cores, Linux numbering: CPU i and i + 4 share core i
    cpus = [Cpu(i, i % 4, 0) for i in range(8)]
    s = split(cpus, 1)
    assert s.engine == (4, 5, 6)  # the last logical CPU of each core, as vLLM's own x86 binding picks
    assert s.pipeline == (3, 7)  # the whole last core; 0, 1, 2 share a core with a model thread: nobody's
    assert s.bind() == "4,5,6"


def test_the_model_stays_on_the_first_numa_node_and_the_rest_gets_the_others():
    cpus = [Cpu(i, i, i // 4) for i in range(8)]
    s = split(cpus, 1)
    assert s.engine == (0, 1, 2)
    assert s.pipeline == (3, 4, 5, 6, 7)
    # the same whatever order /sys lists them in
    assert split(list(reversed(cpus)), 1) == s


def test_no_split_without_a_core_to_spare():
    assert split(flat(1), 1) is None
    assert split(flat(2), 2) is None
    assert split(flat(4), 0) is None
    assert split([], 1) is None
    two_threads_one_core = [Cpu(0, 0, 0), Cpu(1, 0, 0)]
    assert split(two_threads_one_core, 1) is None


def test_kernel_cpu_lists():
    assert cpu_cores.parse_list("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11]
    assert cpu_cores.parse_list("5") == [5]
    assert cpu_cores.parse_list("") == []


def test_this_machine_as_sys_describes_it():
    allowed = os.sched_getaffinity(0)
    cpus = cpu_cores.machine_cpus()
    assert [c.id for c in cpus] == sorted(allowed)
    for c in cpus:  # a CPU is on its own core's sibling list
        siblings = cpu_cores.SYS_CPU / f"cpu{c.id}" / "topology" / "thread_siblings_list"
        if siblings.exists():
            assert c.id in cpu_cores.parse_list(siblings.read_text()) and c.core == min(cpu_cores.parse_list(siblings.read_text()))
    one = min(allowed)
    assert [c.id for c in cpu_cores.machine_cpus({one})] == [one]


def vllm_config(**options) -> EngineConfig:
    return EngineConfig(engine="vllm", vllm=VLLMOptions(device="cpu", **options))


@pytest.mark.skipif(not has_vllm_cpu(), reason="a split is made only for the CPU build of vLLM")
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to split")
def test_when_a_local_run_gets_a_split(monkeypatch):
    monkeypatch.delenv(cpu_cores.BIND_ENV, raising=False)
    made = cpu_cores.for_local_run(vllm_config(), None)
    assert made == split(cpu_cores.machine_cpus(), 1)
    assert cpu_cores.for_local_run(vllm_config(), 1) == made
    # no split: another engine, the GPU, tensor parallelism, several engines, asked for none, or a
    # binding the user chose
    assert cpu_cores.for_local_run(EngineConfig(engine="text-layer"), None) is None
    assert cpu_cores.for_local_run(EngineConfig(engine="auto"), None) is None
    assert cpu_cores.for_local_run(EngineConfig(engine="vllm", vllm=VLLMOptions(device="gpu")), None) is None
    assert cpu_cores.for_local_run(vllm_config(tensor_parallel_size=2), None) is None
    assert cpu_cores.for_local_run(vllm_config(), 2) is None
    assert cpu_cores.for_local_run(vllm_config(cpu_pipeline_cores=0), None) is None
    for key, value in (("tensor_parallel_size", 2), ("pipeline_parallel_size", 2), ("distributed_executor_backend", "uni")):
        assert cpu_cores.for_local_run(vllm_config(engine_kwargs={key: value}), None) is None, key
    assert cpu_cores.for_local_run(vllm_config(engine_kwargs={"seed": 1}), None) == made
    monkeypatch.setenv(cpu_cores.BIND_ENV, "0")
    assert cpu_cores.for_local_run(vllm_config(), None) is None


@pytest.mark.skipif(not has_vllm_cpu(), reason="a split is made only for the CPU build of vLLM")
def test_asking_for_more_cores_than_there_are_says_so(monkeypatch, caplog):
    monkeypatch.delenv(cpu_cores.BIND_ENV, raising=False)
    assert cpu_cores.for_local_run(vllm_config(cpu_pipeline_cores=4096), None) is None
    assert "--cpu-pipeline-cores 4096" in caplog.text and "no core split" in caplog.text


def test_a_negative_core_count_is_refused_by_name():
    with pytest.raises(ValueError, match="cpu_pipeline_cores"):
        VLLMOptions(cpu_pipeline_cores=-1)


def child(code: str) -> dict:
    """Run ``code`` in a fresh Python and return the JSON it prints last."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin to one")
def test_pinned_holds_inside_for_children_too_and_restores():
    last = max(os.sched_getaffinity(0))
    got = child(f"""
import json, os, subprocess, sys
from raypipe.engines.cpu_cores import pinned
before = sorted(os.sched_getaffinity(0))
with pinned(({last},)):
    inside = sorted(os.sched_getaffinity(0))
    kid = subprocess.run([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                         capture_output=True, text=True).stdout.strip()
after = sorted(os.sched_getaffinity(0))
with pinned(None):
    untouched = sorted(os.sched_getaffinity(0))
print(json.dumps({{"before": before, "inside": inside, "kid": kid, "after": after, "untouched": untouched}}))
""")
    assert got["inside"] == [last] and got["kid"] == str([last])
    assert got["after"] == got["before"] == got["untouched"] == sorted(os.sched_getaffinity(0))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_the_engine_actor_binds_the_model_and_stays_on_the_pipeline_cores():
    cpus = sorted(os.sched_getaffinity(0))
    engine, rest = cpus[:1], cpus[1:]
    got = child(f"""
import json, os
from raypipe.engines.cpu_cores import BIND_ENV, CoreSplit, prepare_engine
os.environ.pop(BIND_ENV, None)
os.sched_setaffinity(0, {rest!r})  # as the local Ray's workers start: on the pipeline's cores
prepare_engine(CoreSplit({tuple(engine)!r}, {tuple(rest)!r}))
first = (os.environ[BIND_ENV], sorted(os.sched_getaffinity(0)))
os.environ[BIND_ENV] = "7"  # a binding already there wins
prepare_engine(CoreSplit({tuple(engine)!r}, {tuple(rest)!r}))
prepare_engine(None)
print(json.dumps({{"first": first, "kept": os.environ[BIND_ENV]}}))
""")
    assert got["first"] == [",".join(map(str, engine)), rest]
    assert got["kept"] == "7"


def test_pinned_to_cpus_that_are_not_there_leaves_the_process_as_it_was(caplog):
    before = os.sched_getaffinity(0)
    missing = (max(before) + 4096,)
    with cpu_cores.pinned(missing):
        assert os.sched_getaffinity(0) == before
    assert os.sched_getaffinity(0) == before
    assert "cannot keep this process" in caplog.text


def test_worker_cpus_are_read_from_the_kernel():
    assert cpu_cores.worker_cpus(os.getpid()) is None  # no vLLM worker below this process
    last = max(os.sched_getaffinity(0))
    code = (f"import os, sys, time; open('/proc/self/comm', 'w').write('VLLM::Worker'); "
            f"os.sched_setaffinity(0, {{{last}}}); print('ready', flush=True); time.sleep(60)")
    kid = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert kid.stdout.readline().strip() == "ready"
        assert cpu_cores.worker_cpus(os.getpid()) == [last]
    finally:
        kid.kill()
        kid.wait()
