"""Ray start-up, in one place: attach to the cluster the user means, or start a local one; and what
the cluster offers.

Which cluster, in order: ``--address`` / ``RayConfig.address``; ``RAY_ADDRESS``; a cluster this
machine's ``ray start`` recorded in Ray's temp folder (``ray_current_cluster``) when it still
answers; else a new local Ray sized for this machine. An address file left by a head that is gone
is ignored, with a word in the log.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from raypipe.config import RayConfig

if TYPE_CHECKING:
    from raypipe.engines.cpu_cores import CoreSplit

log = logging.getLogger("raypipe")


@dataclasses.dataclass(frozen=True)
class ClusterResources:
    """What the cluster offers now (logical resources summed over its nodes), and the most GPUs its
    autoscaler may bring (None: no autoscaler, or one that reports no limits)."""

    cpus: float = 0.0
    gpus: float = 0.0
    nodes: int = 1
    max_gpus: Optional[float] = None


def recorded_head() -> Optional[str]:
    """The address a ``ray start`` on this machine recorded (``ray_current_cluster``), if any."""
    from ray._private.utils import read_ray_address

    try:
        return read_ray_address() or None
    except OSError:
        return None


def _answers(address: str, timeout: float = 2.0) -> bool:
    """Whether something listens at ``host:port`` (a live GCS; a stale file points at nothing)."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


LOCAL = "a local Ray started for this run"
_started: dict = {}  # the local Ray this process started: which one (_session) and its core split (or None)


def connect(cfg: RayConfig, split: Optional["CoreSplit"] = None) -> str:
    """Attach to the cluster ``cfg`` names, or start a local Ray; a no-op when Ray is up already (a
    notebook's own ``ray.init``). A local Ray it starts runs on the pipeline's cores of ``split`` (a
    ``raypipe.engines.cpu_cores.CoreSplit``; every core when None): its processes inherit the
    affinity, as do the threads Ray starts in this process; the calling thread keeps its own. Returns
    how it connected (``LOCAL`` when it started a local Ray), for the log."""
    import ray
    import ray.data

    from raypipe.engines.cpu_cores import pinned

    how = "an already initialised Ray"
    if not ray.is_initialized():
        address = cfg.address or os.environ.get("RAY_ADDRESS")
        if address and address != "local":
            ray.init(address=address, log_to_driver=True)
            how = f"the Ray cluster at {address}"
        else:
            head = recorded_head() if not address else None
            if head and _answers(head):
                log.info("attaching to the Ray cluster at %s, started on this machine with `ray start` "
                         "(pass --address local for a Ray of this run's own)", head)
                # no address, as a plain ray.init() attaches: to the recorded cluster, with the token
                # ~/.ray/auth_token holds when the cluster uses token authentication
                ray.init(log_to_driver=True)
                how = f"the Ray cluster at {head} (started with ray start)"
            else:
                if head:
                    log.info("ignoring %s: no Ray cluster answers there any more; starting a local Ray", head)
                # read by the raylet this starts; a cluster's own setting is left alone
                os.environ.setdefault("RAY_worker_niceness", str(cfg.local_worker_niceness))
                with pinned(split.pipeline if split else None) as pin:
                    ray.init(address="local", num_cpus=cfg.local_num_cpus or max(os.cpu_count() or 1, 4))
                _started.update(session=_session(), split=split if pin.applied else None)
                how = LOCAL
    ray.data.DataContext.get_current().memory_usage_poll_interval_s = cfg.task_memory_poll_seconds
    return how


def _session() -> Optional[tuple[str, str]]:
    """Which Ray this process is connected to: its GCS address and this node's id (new with every start)."""
    import ray

    try:
        context = ray.get_runtime_context()
        return (context.gcs_address, context.get_node_id())
    except Exception:  # noqa: BLE001 - not connected
        return None


def local_split() -> Optional["CoreSplit"]:
    """The core split the Ray this process is connected to runs with, when this process started it as
    a local Ray for a model on the CPUs (its daemons and workers keep to the split's pipeline cores for
    as long as it lives), else None."""
    import ray

    if not ray.is_initialized() or not _started.get("session") or _started["session"] != _session():
        return None
    return _started.get("split")


LAUNCHER_CONFIG = "~/ray_bootstrap_config.yaml"  # where `ray up` leaves its autoscaler's config on the head


def autoscaler_max_gpus() -> Optional[float]:
    """The GPUs the autoscaler's node types can bring at most: from the cluster config an autoscaler
    reports to the GCS, else from the config the cluster launcher leaves on its head (the driver of a
    `ray job submit` runs there); None when there is no autoscaler."""
    from ray._private.state import state

    try:
        most = state.get_max_resources_from_cluster_config()
    except Exception:  # noqa: BLE001 - an older head, or no autoscaler: nothing to read
        most = None
    if most and most.get("GPU"):
        return float(most["GPU"])
    return launcher_max_gpus(Path(LAUNCHER_CONFIG).expanduser())


def launcher_max_gpus(path: Path) -> Optional[float]:
    """GPUs of a cluster launcher's config at most: each node type's GPUs times its max_workers (at most
    the cluster's max_workers), and the head's; None when the file is not there or not such a config."""
    import yaml

    try:
        config = yaml.safe_load(path.read_text())
        cap = int(config.get("max_workers", 2**31))
        total = 0.0
        for name, node_type in config["available_node_types"].items():
            gpus = float((node_type.get("resources") or {}).get("GPU", 0))
            count = 1 if name == config.get("head_node_type") else min(int(node_type.get("max_workers", 0)), cap)
            total += gpus * count
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError, ValueError):
        return None
    return total or None


def resources() -> ClusterResources:
    """What the connected cluster offers now, and what its autoscaler may add."""
    import ray

    total = ray.cluster_resources()
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    return ClusterResources(cpus=total.get("CPU", 0.0), gpus=total.get("GPU", 0.0), nodes=max(nodes, 1),
                            max_gpus=autoscaler_max_gpus())


def on_driver_node() -> dict:
    """Actor options that keep a run's small bookkeeping actors (ledger, stats) beside the driver:
    they live as long as the run, so a lost worker node must not take them with it. (A soft affinity
    is not enough: Ray placed such actors on other nodes about half the time on a two-node cluster.)"""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=False)}
