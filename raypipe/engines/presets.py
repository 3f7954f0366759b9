"""Model presets: a registry of small functions, name → :class:`Preset`.

A preset fixes what must match the model's training (prompt, image size, output parser) and gives
sensible engine defaults; everything else is configuration. ``raypipe presets`` lists them.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from raypipe.engines import prompts


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    model: str
    prompt: str
    parser: str  # key of prompts.PARSERS
    longest_side: int = 1288
    max_tokens: int = 8000
    temperatures: tuple[float, ...] = (0.1, 0.1, 0.2, 0.3, 0.5, 0.8)  # by attempt
    max_model_len: int = 16384
    image_first: bool = True  # order of the image and the prompt text in the user message
    description: str = ""

    def parse(self, text: str) -> prompts.PageResponse:
        return prompts.PARSERS[self.parser](text)

    @property
    def guide(self) -> Optional[str]:
        """The regular expression the output must match (structured-output decoding), if the parser has one."""
        return prompts.GUIDES.get(self.parser)


_REGISTRY: dict[str, Callable[[], Preset]] = {}


def register(fn: Callable[[], Preset]) -> Callable[[], Preset]:
    _REGISTRY[fn().name] = fn
    return fn


@register
def olmocr_2() -> Preset:
    return Preset(
        name="olmocr-2",
        model="allenai/olmOCR-2-7B-1025-FP8",
        prompt=prompts.OLMOCR_V4_YAML,
        parser="front-matter",
        longest_side=1288,
        max_tokens=8000,
        image_first=False,  # olmOCR puts the prompt text before the page image
        description="olmOCR-2 (Qwen2.5-VL-7B fine-tune, FP8): markdown with YAML front matter "
        "(language, rotation, table/diagram flags).",
    )


@register
def rolmocr() -> Preset:
    return Preset(
        name="rolmocr",
        model="reducto/RolmOCR",
        prompt=prompts.ROLMOCR_PLAIN,
        parser="plain",
        longest_side=1280,
        max_tokens=6000,
        description="RolmOCR (Qwen2.5-VL-7B fine-tune): plain text, as in FinePDFs.",
    )


@register
def qwen25_vl() -> Preset:
    return Preset(
        name="qwen2.5-vl",
        model="Qwen/Qwen2.5-VL-7B-Instruct",
        prompt=prompts.GENERIC_MARKDOWN_V1,
        parser="plain",
        longest_side=1288,
        max_tokens=6000,
        description="Generic Qwen2.5-VL instruct model with a markdown OCR prompt.",
    )


def names() -> list[str]:
    return sorted(_REGISTRY)


def get(name: str) -> Preset:
    if name not in _REGISTRY:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(names())}")
    return _REGISTRY[name]()
