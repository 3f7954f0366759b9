"""Engine resolution: which engine a run uses, on which device, with which preset — a pure function
of the configuration and the cluster's resources, decided on the driver before any actor starts."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
from typing import TYPE_CHECKING, Optional

from raypipe.engines import presets
from raypipe.errors import EngineUnavailableError

if TYPE_CHECKING:
    from raypipe.cluster import ClusterResources
    from raypipe.config import EngineConfig, PipelineConfig
    from raypipe.engines.cpu_cores import CoreSplit


@dataclasses.dataclass(frozen=True)
class EngineSpec:
    """Everything an engine needs, resolved on the driver before any actor starts."""

    name: str  # a key of raypipe.engines.ENGINES
    config: "EngineConfig"
    preset: Optional[presets.Preset] = None  # model engines: with the model, prompt and parser to use
    device: Optional[str] = None  # vllm: "gpu" or "cpu"
    api_key: Optional[str] = dataclasses.field(default=None, repr=False)  # openai: sent as a bearer token
    cores: Optional["CoreSplit"] = None  # vllm on the CPUs of a local Ray: the model's cores and the rest's


def has_vllm_cpu() -> bool:
    """Whether the CPU build of vLLM is installed (it provides the same ``vllm`` module)."""
    try:
        importlib.metadata.version("vllm-cpu")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def engine_name(cfg: "EngineConfig", cluster: Optional["ClusterResources"]) -> str:
    """The engine a run uses: as asked, or for 'auto' vllm when the cluster has GPUs or its autoscaler can
    bring some, else the text layer."""
    if cfg.engine != "auto":
        return cfg.engine
    return "vllm" if cluster is not None and (cluster.gpus or cluster.max_gpus) else "text-layer"


def _preset(cfg: "EngineConfig") -> presets.Preset:
    """The preset with the model, prompt and parser the configuration puts in its place."""
    preset = presets.get(cfg.preset)
    return dataclasses.replace(
        preset,
        model=cfg.model or preset.model,
        prompt=cfg.prompt or preset.prompt,
        parser=cfg.parser or preset.parser,
    )


def _local_model(cfg: "EngineConfig", preset: presets.Preset) -> str:
    """The model to load: a local folder made absolute (actors may run in another working directory),
    or a hub id as it is."""
    model = os.path.expanduser(cfg.model or preset.model)
    if os.path.exists(model):
        return os.path.abspath(model)
    if model.startswith(("/", "./", "../")):
        raise EngineUnavailableError(f"--model: the folder {model!r} does not exist")
    return model


def resolve_engine(cfg: "EngineConfig", cluster: Optional["ClusterResources"]) -> EngineSpec:
    """The engine spec for this configuration on a cluster with these resources (``None``: not known
    yet, enough for the text-layer and openai engines). Raises EngineUnavailableError, naming the option
    to change, when the engine cannot run there."""
    name = engine_name(cfg, cluster)
    if name == "text-layer":
        return EngineSpec(name, cfg)
    if name == "openai":
        api_key = cfg.openai.api_key or os.environ.get(cfg.openai.api_key_env) or None
        return EngineSpec(name, cfg, _preset(cfg), api_key=api_key)
    if cluster is None:
        raise ValueError("the vllm engine is resolved against the cluster's resources")
    device = cfg.vllm.device if cfg.vllm.device != "auto" else ("gpu" if cluster.gpus or cluster.max_gpus else "cpu")
    needed = cfg.vllm.tensor_parallel_size
    if device == "gpu" and max(cluster.gpus, cluster.max_gpus or 0) < needed:
        raise EngineUnavailableError(
            f"--device gpu: each engine needs {needed} GPU(s) (--tensor-parallel-size), and the Ray cluster has "
            f"{cluster.gpus:g} and no autoscaler that can bring more; the run would wait for them forever. Start "
            "GPU workers first, or use --device cpu or --engine text-layer."
        )
    if device == "cpu" and not has_vllm_cpu():
        raise EngineUnavailableError(
            "--engine vllm: the Ray cluster has no GPUs and the CPU build of vLLM is not installed. "
            "Install it with pip install 'raypipe[cpu]' to run the model on CPUs, pass --device gpu if an "
            "autoscaler will add GPU workers, or use --engine text-layer."
        )
    preset = _preset(cfg)
    return EngineSpec(name, cfg, dataclasses.replace(preset, model=_local_model(cfg, preset)), device=device)


def with_engine_defaults(config: "PipelineConfig", spec: EngineSpec) -> "PipelineConfig":
    """Model engines: the preset's page size and one document per block, unless set explicitly."""
    if spec.preset is None:
        return config
    render, inp = config.render, config.input
    if "longest_side" not in render.model_fields_set:
        render = render.model_copy(update={"longest_side": spec.preset.longest_side})
    if "docs_per_block" not in inp.model_fields_set:
        inp = inp.model_copy(update={"docs_per_block": 1})
    return config.model_copy(update={"render": render, "input": inp})
