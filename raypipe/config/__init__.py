"""Typed, validated configuration shared by the CLI, the jobs/ entry points and the Python API.

Every field carries a description: the CLI builds its options and help text from these models, so a
wrong value fails here, before Ray starts, with a message that names the option. A field's option is
``--field-name`` (with the prefix its sub-model declares, e.g. ``--render-num-cpus``) unless its
``cli`` metadata names another; ``aliases`` are older spellings that keep working.
"""

from __future__ import annotations

from typing import Optional

from pydantic import Field, model_validator

from raypipe.config.base import Section, cli
from raypipe.config.engine import EngineConfig, OpenAIOptions, VLLMOptions
from raypipe.config.input import InputConfig, StorageConfig
from raypipe.config.output import OutputConfig
from raypipe.config.ray import EngineResources, RayConfig, StageResources
from raypipe.config.render import RenderConfig

__all__ = [
    "EngineConfig",
    "EngineResources",
    "InputConfig",
    "OpenAIOptions",
    "OutputConfig",
    "PipelineConfig",
    "RayConfig",
    "RenderConfig",
    "Section",
    "StageResources",
    "StorageConfig",
    "VLLMOptions",
    "cli",
]


class PipelineConfig(Section):
    input: InputConfig = Field(default_factory=InputConfig, description="What to read.")
    storage: StorageConfig = Field(
        default_factory=StorageConfig, description="How s3:// and gs:// are reached.", json_schema_extra=cli(prefix="storage-")
    )
    render: RenderConfig = Field(default_factory=RenderConfig, description="How pages are rendered.")
    engine: EngineConfig = Field(default_factory=EngineConfig, description="What turns pages into text.")
    output: Optional[OutputConfig] = Field(
        default=None, description="Where and how results are written (needed to run, not to build the Dataset)."
    )
    ray: RayConfig = Field(default_factory=RayConfig, description="Ray cluster and resources.")

    @model_validator(mode="after")
    def _has_input(self) -> "PipelineConfig":
        if not self.input.inputs and not self.input.manifest:
            raise ValueError("no input: give at least one path, glob or URI, or a manifest")
        return self
