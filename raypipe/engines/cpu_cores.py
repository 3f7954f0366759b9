"""Which cores compute the model and which run everything else, when vLLM runs on the CPUs of a
machine raypipe has to itself (a local Ray it starts).

vLLM's CPU worker binds its OpenMP threads to cores, one thread per core, and a thread that loses its
core to another process holds up every step of the model. A local Ray is some twenty processes
(daemons, the driver's executor, idle workers, Ray Data's actors), each waking a few times a second,
and the render and read tasks come on top: wherever the kernel puts them, part lands on the model's
cores. So raypipe splits the machine: the model's threads get one logical CPU on each physical core
but the last ``vllm.cpu_pipeline_cores`` of the first NUMA node (the cores vLLM's own binding would
pick, given the same reserve), and the local Ray, its workers and the driver during a run are kept to
the rest — the reserved cores, and any other NUMA node. vLLM's engine core and front end stay there too
(vLLM's own binding reserves a core for them): only the model's threads compute on the model's cores.

Measured with bench/engine.py --shrink --mode e2e on a 2-core machine (see the README): the engine
loses about a fifth of its speed to Ray's processes without the split, and almost none with it.

No split where it cannot help or would fight a choice already made: a user's own
``VLLM_CPU_OMP_THREADS_BIND``, a Ray cluster raypipe did not start, several engines on one machine,
tensor parallelism, or a machine without a physical core to spare."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Optional

SYS_CPU = Path("/sys/devices/system/cpu")
SYS_NODE = Path("/sys/devices/system/node")
BIND_ENV = "VLLM_CPU_OMP_THREADS_BIND"
log = logging.getLogger("raypipe")
# vLLM engine arguments that make more than one worker, or none of its own: one core list would not do
PARALLEL_ARGS = {"tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "distributed_executor_backend"}


@dataclasses.dataclass(frozen=True)
class CoreSplit:
    engine: tuple[int, ...]  # logical CPUs vLLM's OpenMP threads are bound to, one per physical core
    pipeline: tuple[int, ...]  # logical CPUs for the local Ray, its workers and the driver

    def bind(self) -> str:
        """The engine's cores as vLLM's VLLM_CPU_OMP_THREADS_BIND wants them ("0,1,2")."""
        return ",".join(map(str, self.engine))

    def as_dict(self) -> dict:
        return {"engine": list(self.engine), "pipeline": list(self.pipeline)}


@dataclasses.dataclass(frozen=True)
class Cpu:
    id: int
    core: int  # the lowest logical CPU on its physical core: CPUs with the same one share that core
    node: int  # NUMA node


def split(cpus: list[Cpu], pipeline_cores: int) -> Optional[CoreSplit]:
    """The split of these logical CPUs: the model gets the last logical CPU of each physical core of the
    first NUMA node but its last ``pipeline_cores`` (as vLLM's own binding picks them), the pipeline
    every CPU of those last cores and of every other node. None when there is nothing to split."""
    if pipeline_cores < 1 or not cpus:
        return None
    first = min(c.node for c in cpus)
    cores: dict[int, list[int]] = {}
    for c in sorted(cpus, key=lambda c: c.id):
        if c.node == first:
            cores.setdefault(c.core, []).append(c.id)
    ordered = sorted(cores.values())  # by each core's first logical CPU
    if len(ordered) <= pipeline_cores:
        return None
    engine_cores = ordered[:-pipeline_cores]
    engine = tuple(ids[-1] for ids in engine_cores)
    taken = {i for ids in engine_cores for i in ids}  # a model core's sibling stays idle, as in vLLM
    pipeline = tuple(sorted(c.id for c in cpus if c.id not in taken))
    return CoreSplit(engine, pipeline)


def machine_cpus(allowed: Optional[set[int]] = None) -> list[Cpu]:
    """This process's allowed logical CPUs with their physical core and NUMA node, read from /sys
    (a CPU whose topology cannot be read counts as a core of its own on node 0)."""
    allowed = set(os.sched_getaffinity(0) if allowed is None else allowed)
    nodes: dict[int, int] = {}
    for node in SYS_NODE.glob("node[0-9]*"):
        try:
            for cpu in parse_list((node / "cpulist").read_text()):
                nodes[cpu] = int(node.name[4:])
        except (OSError, ValueError):
            continue
    cpus = []
    for cpu in sorted(allowed):
        try:  # the logical CPUs sharing this one's physical core (core ids repeat across clusters on some ARM kernels)
            core = min(parse_list((SYS_CPU / f"cpu{cpu}" / "topology" / "thread_siblings_list").read_text()))
        except (OSError, ValueError):
            core = cpu
        cpus.append(Cpu(cpu, core, nodes.get(cpu, 0)))
    return cpus


def parse_list(text: str) -> list[int]:
    """A kernel CPU list ("0-3,8,10-11") as numbers."""
    out: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        out.extend(range(int(low), int(high or low) + 1))
    return out


def for_local_run(engine_cfg, actors: Optional[int]) -> Optional[CoreSplit]:
    """The split for a run that starts a local Ray with this engine configuration, or None (see the
    module's docstring for when there is none)."""
    from raypipe.engines.resolve import has_vllm_cpu

    vllm = engine_cfg.vllm
    if engine_cfg.engine != "vllm" or vllm.device == "gpu" or not has_vllm_cpu():
        return None  # vllm-cpu is the only vLLM installed when it is installed: its engine is on the CPUs
    if BIND_ENV in os.environ or vllm.tensor_parallel_size != 1 or (actors or 1) != 1:
        return None
    if PARALLEL_ARGS & set(vllm.engine_kwargs):  # several workers, or the model in the actor's own process
        return None
    cpus = machine_cpus()
    made = split(cpus, vllm.cpu_pipeline_cores)
    if made is None and vllm.cpu_pipeline_cores:
        cores = len({c.core for c in cpus})
        say = log.warning if "cpu_pipeline_cores" in vllm.model_fields_set else log.info
        say("--cpu-pipeline-cores %d: this machine lets raypipe use %d physical core(s), none left for "
            "the model; no core split", vllm.cpu_pipeline_cores, cores)
    return made


class pinned:
    """Context manager: the calling thread on ``cpus`` inside the block (None: left alone), and so the
    processes and threads it starts there, which keep ``cpus``; its own affinity is restored on the way
    out."""

    def __init__(self, cpus: Optional[tuple[int, ...]]):
        self.cpus = cpus
        self.before: Optional[set[int]] = None

    @property
    def applied(self) -> bool:
        """Whether the block ran on ``cpus``."""
        return self.before is not None

    def __enter__(self):
        if self.cpus:
            before = os.sched_getaffinity(0)
            try:
                os.sched_setaffinity(0, self.cpus)
            except OSError as e:  # a CPU gone offline or out of this cgroup since the split was made
                log.warning("cannot keep this process to CPUs %s (%s); it runs where it did", list(self.cpus), e)
            else:
                self.before = before
        return self

    def __exit__(self, *exc):
        if self.before is not None:
            os.sched_setaffinity(0, self.before)


def prepare_engine(split_: Optional[CoreSplit]) -> None:
    """In the engine actor, before vLLM starts: vLLM's worker binds its threads to the engine's cores
    (VLLM_CPU_OMP_THREADS_BIND; a binding already set wins). The actor itself, and vLLM's engine core
    and front end with it, stay on the pipeline's cores, where vLLM's own binding reserves a core for
    them too: measured, letting them onto the model's cores cost 0.89-0.95 of raw vLLM's speed against
    0.99 (bench/engine.py --mode e2e, 40-page documents, 2 cores)."""
    if split_ is not None:
        os.environ.setdefault(BIND_ENV, split_.bind())


def worker_cpus(root: int) -> Optional[list[int]]:
    """The logical CPUs the threads of vLLM's worker processes (descendants of process ``root`` named
    ``VLLM::Worker``) may run on, as the kernel has them; None when there is no such process."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        names[int(entry.name)] = stat[stat.index("(") + 1:stat.rindex(")")]
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    found: set[int] = set()
    workers = 0
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        if names.get(pid) != "VLLM::Worker":
            continue
        workers += 1
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                found.update(os.sched_getaffinity(int(task.name)))
            except OSError:
                continue
    return sorted(found) if workers else None
