"""raypipe: PDFs to text with vision-language OCR models, as a Ray Data pipeline."""

from raypipe.config import (
    EngineConfig,
    InputConfig,
    OutputConfig,
    PipelineConfig,
    RayConfig,
    RenderConfig,
)
from raypipe.pipeline import build_dataset, run

__all__ = [
    "EngineConfig",
    "InputConfig",
    "OutputConfig",
    "PipelineConfig",
    "RayConfig",
    "RenderConfig",
    "build_dataset",
    "run",
]
__version__ = "0.1.0"
