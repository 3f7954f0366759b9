"""Engines: what turns a rendered page into text.

A small registry, name → engine class; each class is the engine stage's function and knows how to
add its stage to a Dataset (``stage``). Every engine shares the document-level logic of
:mod:`raypipe.engines.base`; the model engines also share the page logic of
:mod:`raypipe.engines.pages` and one ``generate(doc_id, image, temperature)`` signature.

- ``text-layer`` (:mod:`.text_layer`): the PDF's own text layer, no model;
- ``vllm`` (:mod:`.vllm`): a vision-language model in one async vLLM engine per actor;
- ``openai`` (:mod:`.openai`): an OpenAI-compatible chat-completions endpoint.

Beside them: :mod:`.presets` and :mod:`.prompts` (models, prompts, output parsers), :mod:`.answers`
(a model call's answer, checked field by field, and the ways a call fails), :mod:`.budget` (the fair
pages-in-flight budget), :mod:`.image` (the page image) and :mod:`.resolve` (which engine a run uses).
"""

from __future__ import annotations

from raypipe.engines.base import DocumentEngine
from raypipe.engines.openai import OpenAIInfer
from raypipe.engines.text_layer import TextLayerEngine
from raypipe.engines.vllm import VLLMInfer

ENGINES: dict[str, type[DocumentEngine]] = {cls.name: cls for cls in (TextLayerEngine, VLLMInfer, OpenAIInfer)}


def get(name: str) -> type[DocumentEngine]:
    if name not in ENGINES:
        raise KeyError(f"unknown engine {name!r}; known: {', '.join(sorted(ENGINES))}")
    return ENGINES[name]
