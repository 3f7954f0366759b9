"""The typed configuration: validation before anything runs, per-stage resources with job-wide
defaults, and the CLI's names for nested fields in its error messages."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from raypipe.config import (
    EngineConfig,
    EngineResources,
    OpenAIOptions,
    PipelineConfig,
    RayConfig,
    StageResources,
)


def test_every_field_has_a_description():
    from raypipe.cli import options

    missing = [option.path for option in options() if not option.field.description]
    assert missing == []


def test_stage_resources_fall_back_to_the_job_then_to_the_stage():
    ray = RayConfig()
    assert ray.stage("render", 1.0) == {"num_cpus": 1.0}
    assert ray.stage("postprocess", 0.25) == {"num_cpus": 0.25}
    job_wide = RayConfig(stage_num_cpus=0.5, stage_memory=1 << 30)
    assert job_wide.stage("render", 1.0) == {"num_cpus": 0.5, "memory": 1 << 30}
    own = RayConfig(stage_num_cpus=0.5, render=StageResources(num_cpus=2, concurrency=3, memory=0))
    assert own.stage("render", 1.0) == {"num_cpus": 2, "concurrency": 3}  # memory 0: none reserved
    assert own.stage("postprocess", 0.25) == {"num_cpus": 0.5}
    engine = RayConfig(infer=EngineResources(num_cpus=3, memory=5))
    assert engine.stage("infer", 1.0) == {"num_cpus": 3, "memory": 5}
    # the writer keeps its small default whatever the job-wide default says (a whole CPU starves it)
    assert job_wide.stage("write", 0.2, job_wide=False) == {"num_cpus": 0.2}
    writer = RayConfig(stage_num_cpus=1, write=StageResources(num_cpus=0.5, concurrency=2))
    assert writer.stage("write", 0.2, job_wide=False) == {"num_cpus": 0.5, "concurrency": 2}


def test_invalid_values_are_refused_when_built():
    with pytest.raises(ValidationError, match="max_actors is below actors"):
        EngineResources(actors=4, max_actors=2)
    with pytest.raises(ValidationError, match="base_url"):
        EngineConfig(engine="openai")
    with pytest.raises(ValidationError, match="http"):
        OpenAIOptions(base_url="ftp://host/v1")
    with pytest.raises(ValidationError, match="unknown preset"):
        EngineConfig(preset="nope")
    with pytest.raises(ValidationError, match="no input"):
        PipelineConfig()
    with pytest.raises(ValidationError, match="extra"):
        EngineConfig(dtype="float32")  # a vLLM option belongs in EngineConfig.vllm
    assert OpenAIOptions(base_url="http://h:1/v1/").base_url == "http://h:1/v1"


def test_validation_errors_name_the_option():
    from raypipe.cli import describe_validation_error

    try:
        PipelineConfig.model_validate(
            {"input": {"inputs": ["x"]}, "engine": {"vllm": {"max_model_len": 3}}, "ray": {"infer": {"actors": 0}}}
        )
    except ValidationError as e:
        message = describe_validation_error(e)
    assert "--max-model-len (engine.vllm.max_model_len)" in message
    assert "--infer-actors (ray.infer.actors)" in message
