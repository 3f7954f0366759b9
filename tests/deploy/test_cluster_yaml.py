"""The deployment files checked by Ray's own code: jobs/runtime_env.yaml (``RuntimeEnv``) and
cluster.yaml (the autoscaler's ``prepare_config``/``validate_config``, what ``ray up`` runs before it
touches AWS), and that the cluster's GPU workers fit what the engine stage asks per actor."""

from __future__ import annotations

import copy

import pytest
import yaml
from helpers import ROOT


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
    from raypipe.config import EngineConfig, RayConfig
    from raypipe.engines import presets
    from raypipe.engines.resolve import EngineSpec
    from raypipe.engines.vllm import VLLMInfer

    engine, ray_cfg = EngineConfig(), RayConfig()
    spec = EngineSpec("vllm", engine, presets.get(engine.preset), device="gpu")
    asked = VLLMInfer.stage(MapBatchesRecorder(), spec, ray_cfg).kwargs
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
        assert resources["CPU"] >= actors * (asked["num_cpus"] + ray_cfg.stage("render", 1.0)["num_cpus"]), name
        assert node.get("min_workers", 0) == 0 and node["max_workers"] >= 1, name  # scales from zero
    assert any("raypipe[gpu]" in command for command in config["setup_commands"])
