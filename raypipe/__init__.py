"""raypipe: PDFs to text with vision-language OCR models, as a Ray Data pipeline."""

from raypipe.config import (
    EngineConfig,
    EngineResources,
    InputConfig,
    OpenAIOptions,
    OutputConfig,
    PipelineConfig,
    RayConfig,
    RenderConfig,
    StageResources,
    VLLMOptions,
)
from raypipe.errors import UsageError
from raypipe.pipeline import build_dataset, run

__all__ = [
    "EngineConfig",
    "EngineResources",
    "InputConfig",
    "OpenAIOptions",
    "OutputConfig",
    "PipelineConfig",
    "RayConfig",
    "RenderConfig",
    "StageResources",
    "UsageError",
    "VLLMOptions",
    "build_dataset",
    "run",
]
__version__ = "0.2.0"
