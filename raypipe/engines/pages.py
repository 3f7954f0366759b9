"""Engine-independent page logic for the model engines: whether a text layer is usable, whether an
answer is acceptable, the retry ladder, and what a page that still fails keeps.

An engine supplies one coroutine, ``generate(image, temperature) -> Generation`` for a
:class:`~raypipe.engines.image.PageImage`; everything here is shared by every engine and is tested
without one. An answer is accepted only when it finished by itself, parses, does not loop and has
text (or says the page is a diagram); a malformed, late, empty or refused answer is asked again up
the temperature ladder, and a page that never gets an accepted one keeps its text layer, flagged, with
the last reason as its ``error`` (its first word the kind: ``parse``, ``length``, ``timeout``, ...).
"""

from __future__ import annotations

import time
from typing import Awaitable, Callable, Optional

from raypipe.engines.answers import (
    CallTimeout,
    EngineUnavailable,
    Generation,
    MalformedAnswer,
    RequestRejected,
    safe_text,
)
from raypipe.engines.image import PageImage
from raypipe.engines.presets import Preset
from raypipe.engines.prompts import PageResponse, ParseError
from raypipe.schema import TEXT_SOURCE_FAILED, TEXT_SOURCE_FALLBACK, TEXT_SOURCE_MODEL

__all__ = ["FINISH_LOOP", "Generation", "RequestRejected", "fail_page", "judge", "ocr_page", "repetition_loop", "usable_text_layer"]

# The finish reason an engine gives a generation it stopped because it ran into a loop.
FINISH_LOOP = "repetition"
# Finish reasons of an answer that ended by itself (None: the engine does not say).
_FINISHED = {None, "stop", "eos", "end_turn", "stop_sequence"}


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
    """(parsed response, None) when the answer is usable, else (None, reason to retry). A usable
    answer may still ask for the page to be turned, or lack text (see :func:`missing_text`)."""
    finish = generation.finish_reason
    if finish == "length":
        return None, "length: the output hit max_tokens"
    if finish == FINISH_LOOP:
        return None, f"repetition: the output ran into a loop (stopped after {generation.completion_tokens} tokens)"
    if finish == "content_filter":
        return None, "refused: the answer was withheld (finish_reason content_filter)"
    if finish not in _FINISHED:
        return None, f"unfinished: the model stopped with finish_reason {finish!r}"
    if not generation.text.strip():
        return None, "empty: the model answered no text for a page with ink"
    try:
        response = preset.parse(generation.text)
    except ParseError as e:
        return None, f"parse: {e}"
    if repetition_loop(response.natural_text):
        return None, "repetition: the output ends in a loop"
    return response, None


def wants_rotation(response: PageResponse) -> bool:
    """The model says the page is turned and by how much to turn it back."""
    return not response.is_rotation_valid and response.rotation_correction != 0


def missing_text(response: PageResponse) -> Optional[str]:
    """Why an otherwise usable answer is not accepted: no text for a page with ink (every page sent to
    a model has ink), unless the model says the page is a diagram."""
    if response.natural_text.strip() or response.is_diagram:
        return None
    return "empty: the model answered no text for a page with ink"


def temperature(temperatures: tuple[float, ...], attempt: int) -> float:
    """Temperature for a 1-based attempt; the last rung repeats."""
    return temperatures[min(attempt, len(temperatures)) - 1]


Generate = Callable[[PageImage, float], Awaitable[Generation]]


def fail_page(page: dict, reason: str) -> None:
    """A page the model did not read: its text layer stands in, flagged, or it has no text at all."""
    layer = page.get("text_layer") or ""
    page.update(
        text=layer,
        text_source=TEXT_SOURCE_FALLBACK if layer.strip() else TEXT_SOURCE_FAILED,
        error=safe_text(reason),
    )


async def ocr_page(page: dict, preset: Preset, generate: Generate, max_attempts: int, temperatures: tuple[float, ...]) -> dict:
    """Run one rendered page through the model with retries; fills the page's text fields in place.
    The counters (attempts, tokens, finish reason) are kept up to date as the attempts go, so that a
    page cut short (its document ran out of time) still says what it cost."""
    image = PageImage(page["image"])
    start = time.perf_counter()
    page.update(attempts=0, prompt_tokens=0, completion_tokens=0, finish_reason=None)
    reason = None
    try:
        for attempt in range(1, max_attempts + 1):
            page["attempts"] = attempt
            try:
                generation = await generate(image, temperature(temperatures, attempt))
                if not isinstance(generation, Generation):
                    raise MalformedAnswer(f"the engine returned {type(generation).__name__}, not a Generation")
            except (RequestRejected, EngineUnavailable) as e:
                reason = f"{e.kind}: {e}"
                break
            except (CallTimeout, MalformedAnswer) as e:
                reason = f"{e.kind}: {e}"
                continue
            page["prompt_tokens"] += generation.prompt_tokens
            page["completion_tokens"] += generation.completion_tokens
            page["finish_reason"] = generation.finish_reason
            response, reason = judge(preset, generation)
            if response is None:
                continue
            if wants_rotation(response) and attempt < max_attempts:
                # The model says the page is turned: turn the image by its correction and ask again.
                image = image.rotated(response.rotation_correction)
                reason = f"rotation: the model asked for {response.rotation_correction} degrees"
                continue
            reason = missing_text(response)
            if reason is not None:
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
            break
        if reason is not None:
            fail_page(page, reason)
    finally:
        page["latency_seconds"] = time.perf_counter() - start
    return page
