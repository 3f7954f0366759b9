"""The engine stage's size as a pure function of the configuration, the engine and the cluster."""

from __future__ import annotations

from raypipe.cluster import ClusterResources
from raypipe.config import (
    EngineConfig,
    EngineResources,
    OpenAIOptions,
    RayConfig,
    VLLMOptions,
)
from raypipe.engines import presets, sizing
from raypipe.engines.resolve import EngineSpec


def vllm(device="gpu", **options) -> EngineSpec:
    return EngineSpec("vllm", EngineConfig(vllm=VLLMOptions(**options)), presets.get("olmocr-2"), device=device)


def test_one_engine_per_gpu_growing_to_what_the_autoscaler_can_bring():
    eight = ClusterResources(cpus=64, gpus=8, nodes=8)
    assert (s := sizing.size(vllm(), RayConfig(), eight)).min_actors == 8 and s.max_actors == 8
    assert sizing.size(vllm(tensor_parallel_size=2), RayConfig(), eight).min_actors == 4
    scaling = ClusterResources(cpus=4, gpus=0, max_gpus=8)  # GPU workers scale from zero
    s = sizing.size(vllm(), RayConfig(), scaling)
    assert (s.min_actors, s.max_actors) == (1, 8)  # never fewer than one
    mine = RayConfig(infer=EngineResources(actors=2, max_actors=3))
    s = sizing.size(vllm(), mine, eight)
    assert (s.min_actors, s.max_actors) == (2, 3)  # explicit options win


def test_engine_limits_and_pages_in_flight_follow_the_device():
    s = sizing.size(vllm(), RayConfig(), ClusterResources(gpus=1))
    assert s.limits == {"max_num_seqs": 512, "max_num_batched_tokens": 16384}
    assert s.pages_in_flight == 640 and s.docs_in_flight == 640  # one-page documents can fill the engine
    cpu = sizing.size(vllm("cpu", max_num_seqs=32), RayConfig(), ClusterResources(cpus=4))
    assert cpu.limits == {"max_num_seqs": 32, "max_num_batched_tokens": 4096} and cpu.pages_in_flight == 48
    assert (cpu.min_actors, cpu.max_actors, cpu.gpus_per_actor) == (1, 1, 0)
    set_ = sizing.size(vllm(), RayConfig(infer=EngineResources(pages_in_flight=100, docs_in_flight=7)), ClusterResources(gpus=1))
    assert (set_.pages_in_flight, set_.docs_in_flight) == (100, 7)


def test_endpoint_and_text_layer_sizes():
    openai = EngineSpec("openai", EngineConfig(engine="openai", openai=OpenAIOptions(base_url="http://h/v1", max_concurrency=9)),
                        presets.get("olmocr-2"))
    s = sizing.size(openai, RayConfig(), ClusterResources(cpus=4, gpus=4))
    assert (s.min_actors, s.pages_in_flight, s.limits) == (1, 9, {})


def test_apply_writes_concrete_values_into_the_configuration():
    from raypipe.config import InputConfig, PipelineConfig

    config = PipelineConfig(input=InputConfig(inputs=["x"]), engine=EngineConfig(engine="vllm"))
    spec = EngineSpec("vllm", config.engine, presets.get("olmocr-2"), device="gpu")
    applied, spec = sizing.apply(config, spec, sizing.size(spec, config.ray, ClusterResources(gpus=2)))
    assert (applied.ray.infer.actors, applied.ray.infer.pages_in_flight) == (2, 640)
    assert spec.config.vllm.max_num_seqs == 512 == applied.engine.vllm.max_num_seqs
