"""Engine-independent page logic for the model engines: whether a text layer is usable, whether an
answer is acceptable, the retry ladder, and what a page that still fails keeps.

An engine supplies one coroutine, ``generate(image, temperature) -> Generation`` for a
:class:`~raypipe.engines.image.PageImage`; everything here is shared by every engine and is tested
without one.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Awaitable, Callable, Optional

from raypipe.engines.image import PageImage
from raypipe.engines.presets import Preset
from raypipe.engines.prompts import PageResponse, ParseError
from raypipe.schema import TEXT_SOURCE_FAILED, TEXT_SOURCE_FALLBACK, TEXT_SOURCE_MODEL


@dataclasses.dataclass
class Generation:
    text: str
    finish_reason: Optional[str]
    prompt_tokens: int
    completion_tokens: int


class RequestRejected(Exception):
    """The engine refused this one request (e.g. prompt longer than the context); not retried."""


def usable_text_layer(text: Optional[str], min_chars: int) -> bool:
    """Whether a page's own text layer is good enough to skip the model (``ocr_mode auto``)."""
    if not text:
        return False
    alnum = sum(ch.isalnum() for ch in text)
    bad = text.count("\ufffd") + sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\t")
    return alnum >= min_chars and bad <= 0.05 * len(text)


def repetition_loop(text: str, *, min_repeats: int = 10, min_span: int = 400, max_unit: int = 200) -> bool:
    """True when the text ends in one unit repeated over and over (a decoding loop)."""
    tail = text[-4 * max(min_span, max_unit * min_repeats) :]
    for unit_len in range(1, max_unit + 1):
        unit = tail[-unit_len:]
        if len(unit) < unit_len:
            break
        repeats, end = 1, len(tail) - unit_len
        while end >= unit_len and tail[end - unit_len : end] == unit:
            repeats += 1
            end -= unit_len
        span = repeats * unit_len
        needed = min_span if any(ch.isalnum() for ch in unit) else 2 * min_span
        if repeats >= min_repeats and span >= needed:
            return True
    return False


def judge(preset: Preset, generation: Generation) -> tuple[Optional[PageResponse], Optional[str]]:
    """(parsed response, None) when acceptable, else (None, reason to retry)."""
    if generation.finish_reason == "length":
        return None, "length: the output hit max_tokens"
    try:
        response = preset.parse(generation.text)
    except ParseError as e:
        return None, f"parse: {e}"
    if repetition_loop(response.natural_text):
        return None, "repetition: the output ends in a loop"
    return response, None


def temperature(temperatures: tuple[float, ...], attempt: int) -> float:
    """Temperature for a 1-based attempt; the last rung repeats."""
    return temperatures[min(attempt, len(temperatures)) - 1]


Generate = Callable[[PageImage, float], Awaitable[Generation]]


async def ocr_page(page: dict, preset: Preset, generate: Generate, max_attempts: int, temperatures: tuple[float, ...]) -> dict:
    """Run one rendered page through the model with retries; fills the page's text fields in place."""
    image = PageImage(page["image"])
    start = time.perf_counter()
    prompt_tokens = completion_tokens = 0
    reason, generation = None, None
    attempt = 0
    for attempt in range(1, max_attempts + 1):
        try:
            generation = await generate(image, temperature(temperatures, attempt))
        except RequestRejected as e:
            reason = f"rejected: {e}"
            break
        prompt_tokens += generation.prompt_tokens
        completion_tokens += generation.completion_tokens
        response, reason = judge(preset, generation)
        if response is None:
            continue
        if not response.is_rotation_valid and response.rotation_correction and attempt < max_attempts:
            # The model says the page is turned: turn the image clockwise by its correction and ask again.
            image = image.rotated(response.rotation_correction)
            reason = f"rotation: the model asked for {response.rotation_correction} degrees"
            continue
        page.update(
            text=response.natural_text,
            text_source=TEXT_SOURCE_MODEL,
            error=None,
            language=response.primary_language,
            rotation_correction=response.rotation_correction,
            is_table=response.is_table,
            is_diagram=response.is_diagram,
        )
        reason = None
        break
    if reason is not None:
        layer = page.get("text_layer") or ""
        page.update(
            text=layer,
            text_source=TEXT_SOURCE_FALLBACK if layer.strip() else TEXT_SOURCE_FAILED,
            error=reason,
        )
    page.update(
        attempts=attempt,
        finish_reason=generation.finish_reason if generation else None,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_seconds=time.perf_counter() - start,
    )
    return page
