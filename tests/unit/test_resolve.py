"""Engine resolution as a pure function of the configuration and the cluster's resources, without Ray:
which engine 'auto' picks, the device, the model path, the preset's defaults, vLLM's arguments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raypipe.cluster import ClusterResources, launcher_max_gpus
from raypipe.config import (
    EngineConfig,
    InputConfig,
    PipelineConfig,
    RenderConfig,
    VLLMOptions,
)
from raypipe.engines import resolve
from raypipe.engines.resolve import EngineSpec, resolve_engine, with_engine_defaults
from raypipe.engines.vllm import engine_args
from raypipe.errors import EngineUnavailableError

ROOT = Path(__file__).resolve().parents[2]
NO_GPU = ClusterResources(cpus=4, gpus=0)
EIGHT_GPUS = ClusterResources(cpus=64, gpus=8, nodes=8)


def test_auto_is_the_text_layer_without_gpus_and_vllm_with_them(monkeypatch):
    monkeypatch.setattr(resolve, "has_vllm_cpu", lambda: False)
    assert resolve_engine(EngineConfig(), NO_GPU).name == "text-layer"
    spec = resolve_engine(EngineConfig(), EIGHT_GPUS)
    assert (spec.name, spec.device, spec.preset.name) == ("vllm", "gpu", "olmocr-2")
    assert spec.preset.model == "allenai/olmOCR-2-7B-1025-FP8"  # a hub id stays as it is


def test_vllm_on_cpu_needs_the_cpu_build(monkeypatch):
    monkeypatch.setattr(resolve, "has_vllm_cpu", lambda: False)  # as on a machine without the cpu extra
    with pytest.raises(EngineUnavailableError, match=r"raypipe\[cpu\]"):
        resolve_engine(EngineConfig(engine="vllm"), NO_GPU)
    monkeypatch.setattr(resolve, "has_vllm_cpu", lambda: True)
    assert resolve_engine(EngineConfig(engine="vllm"), NO_GPU).device == "cpu"


def test_gpus_an_autoscaler_can_bring_count_and_none_at_all_is_refused():
    autoscaled = ClusterResources(cpus=8, gpus=0, nodes=1, max_gpus=8)
    gpu = EngineConfig(engine="vllm", vllm=VLLMOptions(device="gpu"))
    assert resolve_engine(gpu, autoscaled).device == "gpu"
    auto = resolve_engine(EngineConfig(), autoscaled)  # auto: the GPUs are coming
    assert (auto.name, auto.device) == ("vllm", "gpu")
    with pytest.raises(EngineUnavailableError, match=r"^--device gpu: .* has 0 and no autoscaler"):
        resolve_engine(gpu, NO_GPU)  # nothing could ever run it
    wide = EngineConfig(engine="vllm", vllm=VLLMOptions(device="gpu", tensor_parallel_size=4))
    with pytest.raises(EngineUnavailableError, match=r"needs 4 GPU\(s\)"):
        resolve_engine(wide, ClusterResources(cpus=8, gpus=2, nodes=1, max_gpus=2))
    assert resolve_engine(EngineConfig(), NO_GPU).name == "text-layer"


def test_the_cluster_launchers_config_gives_the_most_gpus(tmp_path):
    """`ray up` leaves its autoscaler's config on the head (ray_bootstrap_config.yaml, JSON): the GPUs of
    each worker type times its max_workers, capped by the cluster's max_workers, and the head's."""
    import yaml
    from ray.autoscaler._private.util import prepare_config

    config = prepare_config(yaml.safe_load((ROOT / "cluster.yaml").read_text()))
    path = tmp_path / "ray_bootstrap_config.yaml"
    path.write_text(json.dumps(config))
    assert launcher_max_gpus(path) == 8  # cluster.yaml: up to 8 workers of one GPU each
    config["max_workers"] = 3
    path.write_text(json.dumps(config))
    assert launcher_max_gpus(path) == 3
    path.write_text("not: [a, cluster")
    assert launcher_max_gpus(path) is None
    assert launcher_max_gpus(tmp_path / "missing.yaml") is None


def test_model_folders_are_made_absolute_and_a_missing_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(resolve, "has_vllm_cpu", lambda: True)
    (tmp_path / "model").mkdir()
    monkeypatch.chdir(tmp_path)
    spec = resolve_engine(EngineConfig(engine="vllm", model="model"), NO_GPU)
    assert spec.preset.model == str(tmp_path / "model")
    with pytest.raises(EngineUnavailableError, match="--model: the folder './no/such/model' does not exist"):
        resolve_engine(EngineConfig(engine="vllm", model="./no/such/model"), NO_GPU)


def test_openai_needs_no_cluster_and_reads_its_key_from_the_environment(monkeypatch):
    from raypipe.config import OpenAIOptions

    monkeypatch.setenv("MY_KEY", "sk-1")
    cfg = EngineConfig(engine="openai", model="served", prompt="Read it.", parser="plain",
                       openai=OpenAIOptions(base_url="http://127.0.0.1:1/v1", api_key_env="MY_KEY"))
    spec = resolve_engine(cfg, None)
    assert (spec.name, spec.preset.model, spec.preset.prompt, spec.preset.parser) == ("openai", "served", "Read it.", "plain")
    assert spec.api_key == "sk-1" and "sk-1" not in repr(spec)


def test_model_engines_take_the_presets_page_size_and_one_document_per_block(monkeypatch):
    monkeypatch.setattr(resolve, "has_vllm_cpu", lambda: True)
    config = PipelineConfig(input=InputConfig(inputs=["x"]), engine=EngineConfig(engine="vllm", preset="rolmocr"))
    applied = with_engine_defaults(config, resolve_engine(config.engine, NO_GPU))
    assert (applied.render.longest_side, applied.input.docs_per_block) == (1280, 1)
    mine = config.model_copy(update={"render": RenderConfig(longest_side=640), "input": InputConfig(inputs=["x"], docs_per_block=3)})
    applied = with_engine_defaults(mine, resolve_engine(mine.engine, NO_GPU))
    assert (applied.render.longest_side, applied.input.docs_per_block) == (640, 3)  # set explicitly: kept
    text = with_engine_defaults(config, EngineSpec("text-layer", config.engine))
    assert text is config


def test_trust_remote_code_is_off_unless_asked():
    from raypipe.engines import presets

    spec = EngineSpec("vllm", EngineConfig(), presets.get("olmocr-2"), device="gpu")
    assert engine_args(spec)["trust_remote_code"] is False
    asked = EngineSpec("vllm", EngineConfig(vllm=VLLMOptions(trust_remote_code=True)), presets.get("olmocr-2"), device="gpu")
    assert engine_args(asked)["trust_remote_code"] is True


def test_engine_args_on_cpu_leave_gpu_memory_alone():
    from raypipe.engines import presets

    spec = EngineSpec("vllm", EngineConfig(vllm=VLLMOptions(max_num_seqs=8)), presets.get("olmocr-2"), device="cpu")
    args = engine_args(spec)
    assert args["limit_mm_per_prompt"] == {"image": 1} and "gpu_memory_utilization" not in args
    assert args["max_num_seqs"] == 8 and args["max_model_len"] == 16384
