"""The page logic of the model engines (raypipe.engines.pages): the acceptance check, the usable-text
test and the retry ladder on real model-output shapes, without an engine. The engine is replaced by
a scripted coroutine that returns given outputs in order."""

from __future__ import annotations

import asyncio
import io

import pytest
from helpers import OLMOCR_OUTPUT, OLMOCR_ROTATED
from PIL import Image

from raypipe.engines import presets
from raypipe.engines.answers import CallTimeout, EngineUnavailable, MalformedAnswer
from raypipe.engines.pages import (
    FINISH_LOOP,
    Generation,
    RequestRejected,
    judge,
    ocr_page,
    repetition_loop,
    temperature,
    usable_text_layer,
)


def test_repetition_loop():
    loop = "Introduction to the topic. " + "the the the " * 60
    assert repetition_loop(loop)
    assert repetition_loop("Table:\n" + "| 0.00 | 0.00 |\n" * 40)
    normal = " ".join(f"Sentence number {i} says something different." for i in range(100))
    assert not repetition_loop(normal)
    assert not repetition_loop("short " * 5)
    assert not repetition_loop("Rule below\n" + "-" * 300)  # punctuation runs need a longer span


def test_judge_reasons():
    preset = presets.get("olmocr-2")
    ok, reason = judge(preset, Generation(OLMOCR_OUTPUT, "stop", 10, 20))
    assert ok is not None and reason is None
    assert judge(preset, Generation(OLMOCR_OUTPUT, "length", 10, 20))[1].startswith("length")
    assert judge(preset, Generation("no front matter", "stop", 10, 20))[1].startswith("parse")
    looping = OLMOCR_OUTPUT + "and so on " * 100
    assert judge(preset, Generation(looping, "stop", 10, 20))[1].startswith("repetition")
    assert judge(preset, Generation(OLMOCR_OUTPUT[:80], FINISH_LOOP, 10, 300))[1] == (
        "repetition: the output ran into a loop (stopped after 300 tokens)")
    assert judge(preset, Generation("", "content_filter", 10, 0))[1].startswith("refused")
    assert judge(preset, Generation(OLMOCR_OUTPUT, "abort", 10, 20))[1] == "unfinished: the model stopped with finish_reason 'abort'"
    assert judge(preset, Generation(" \n ", "stop", 10, 1))[1].startswith("empty")
    assert judge(preset, Generation(OLMOCR_OUTPUT, None, 0, 0))[1] is None  # an engine that does not say


@pytest.mark.parametrize(
    "fields, match",
    [
        (dict(text=["a", "list"]), "the text is list"),
        (dict(text=42), "the text is int"),
        (dict(text=None), "the text is NoneType"),
        (dict(text="ok \ud800 then"), "lone surrogate at character 3"),
        (dict(text="x" * 2_000_001), "2,000,001 characters"),
        (dict(finish_reason=7), "finish_reason is int"),
        (dict(finish_reason="s" * 65), "finish_reason is 65 characters"),
        (dict(prompt_tokens="12"), "prompt_tokens is str"),
        (dict(prompt_tokens=True), "prompt_tokens is bool"),
        (dict(completion_tokens=-1), "completion_tokens is out of range"),
        (dict(completion_tokens=2**63), "completion_tokens is out of range"),
        (dict(completion_tokens=3.0), "completion_tokens is float"),
    ],
)
def test_a_generation_checks_every_field(fields, match):
    good = dict(text="text", finish_reason="stop", prompt_tokens=1, completion_tokens=1)
    with pytest.raises(MalformedAnswer, match=match):
        Generation(**{**good, **fields})


def test_temperature_ladder():
    ladder = (0.1, 0.3, 0.7)
    assert [temperature(ladder, a) for a in (1, 2, 3, 4, 9)] == [0.1, 0.3, 0.7, 0.7, 0.7]


def test_usable_text_layer():
    assert usable_text_layer("A proper paragraph of born-digital text, long enough.", 32)
    assert not usable_text_layer("", 32) and not usable_text_layer(None, 32)
    assert not usable_text_layer("  12 \n 3 ", 32)
    assert not usable_text_layer("\ufffd" * 10 + "a" * 40, 32)  # mojibake from a broken font map


def _page(text_layer: str = "") -> dict:
    buf = io.BytesIO()
    Image.new("RGB", (60, 40), "white").save(buf, format="PNG")
    return {"page_number": 1, "image": buf.getvalue(), "text_layer": text_layer}


class Scripted:
    """Returns the given outputs in order and records the temperatures and image sizes it was asked with."""

    def __init__(self, *outputs):
        self.outputs = list(outputs)
        self.calls = []

    async def __call__(self, image, temp):
        self.calls.append((temp, image.size))
        out = self.outputs.pop(0)
        if isinstance(out, Exception):
            raise out
        return out


def run_page(script, page=None, preset="olmocr-2", attempts=4):
    p = presets.get(preset)
    return asyncio.run(ocr_page(page or _page(), p, script, attempts, (0.1, 0.2, 0.5)))


def test_retry_ladder_until_accepted():
    script = Scripted(
        Generation("---\nprimary_language: en\n", "length", 100, 8000),
        Generation("garbage", "stop", 100, 3),
        Generation(OLMOCR_OUTPUT, "stop", 100, 40),
    )
    page = run_page(script)
    assert [t for t, _ in script.calls] == [0.1, 0.2, 0.5]
    assert page["text_source"] == "model" and page["attempts"] == 3 and page["error"] is None
    assert page["prompt_tokens"] == 300 and page["completion_tokens"] == 8043
    assert page["finish_reason"] == "stop" and page["language"] == "en"


def test_rotation_correction_turns_the_image_and_asks_again():
    script = Scripted(Generation(OLMOCR_ROTATED, "stop", 5, 5), Generation(OLMOCR_OUTPUT, "stop", 5, 5))
    page = run_page(script)
    assert [size for _, size in script.calls] == [(60, 40), (40, 60)]
    assert page["text_source"] == "model" and page["attempts"] == 2


def test_exhausted_retries_fall_back_to_the_text_layer_flagged():
    script = Scripted(*[Generation("x" * 10, "length", 1, 1)] * 4)
    page = run_page(script, _page("Born-digital text of this page"))
    assert page["text_source"] == "text_layer_fallback" and page["text"] == "Born-digital text of this page"
    assert page["attempts"] == 4 and page["error"].startswith("length")
    scanned = run_page(Scripted(*[Generation("x", "length", 1, 1)] * 4))
    assert scanned["text_source"] == "failed" and scanned["text"] == ""


def test_rejected_request_is_not_retried():
    script = Scripted(RequestRejected("prompt is 9000 tokens; max_model_len is 4096"))
    page = run_page(script, preset="rolmocr")
    assert len(script.calls) == 1 and page["text_source"] == "failed" and "9000 tokens" in page["error"]


def test_malformed_answers_and_timeouts_are_retried_then_fail_the_page_with_the_reason():
    script = Scripted(MalformedAnswer("the text is list"), {"text": "a dict"}, CallTimeout("no answer within 1 s"),
                      Generation(OLMOCR_OUTPUT, "stop", 3, 4))
    page = run_page(script)
    assert page["text_source"] == "model" and page["attempts"] == 4 and page["error"] is None
    assert page["prompt_tokens"] == 3  # only the answer that came back counts
    failing = run_page(Scripted(CallTimeout("a"), MalformedAnswer("b"), {"no": "generation"}, CallTimeout("no answer within 1 s")))
    assert failing["text_source"] == "failed" and failing["attempts"] == 4
    assert failing["error"] == "timeout: no answer within 1 s"
    wrong_type = run_page(Scripted(*[["not", "a", "generation"]] * 4))
    assert wrong_type["error"] == "malformed: the engine returned list, not a Generation"


def test_an_unavailable_engine_fails_the_page_at_once():
    script = Scripted(EngineUnavailable("HTTP 503: down (gave up after 6 retries)"))
    page = run_page(script, _page("Layer text"))
    assert len(script.calls) == 1 and page["attempts"] == 1
    assert page["text_source"] == "text_layer_fallback" and page["error"] == "unavailable: HTTP 503: down (gave up after 6 retries)"


def test_an_empty_answer_or_a_refusal_is_not_a_page():
    refusals = [Generation("", "content_filter", 5, 0), Generation("", "stop", 5, 0),
                Generation(OLMOCR_OUTPUT.split("# Results")[0], "stop", 5, 5), Generation("", None, 5, 0)]
    page = run_page(Scripted(*refusals))
    assert page["text_source"] == "failed" and page["attempts"] == 4 and page["error"].startswith("empty")
    plain = run_page(Scripted(Generation("  \n", "stop", 1, 1), Generation("Real text", "stop", 1, 1)), preset="rolmocr")
    assert plain["text"] == "Real text" and plain["attempts"] == 2
    refused_then_read = run_page(Scripted(refusals[0], Generation(OLMOCR_OUTPUT, "stop", 1, 1)))
    assert refused_then_read["text_source"] == "model" and refused_then_read["attempts"] == 2


def test_a_diagram_without_text_is_a_page():
    diagram = OLMOCR_ROTATED.replace("is_rotation_valid: false", "is_rotation_valid: true").replace(
        "is_diagram: false", "is_diagram: true")
    script = Scripted(Generation(diagram, "stop", 1, 1))
    page = run_page(script)
    assert page["text_source"] == "model" and page["text"] == "" and page["is_diagram"] is True
    assert len(script.calls) == 1


def test_a_rotation_answer_on_the_last_attempt_is_not_a_page():
    script = Scripted(*[Generation(OLMOCR_ROTATED, "stop", 1, 1)] * 2)
    page = run_page(script, attempts=2)
    assert [size for _, size in script.calls] == [(60, 40), (40, 60)]
    assert page["text_source"] == "failed" and page["error"].startswith("empty")


def test_a_page_cut_short_keeps_its_counters():
    async def go():
        started = asyncio.Event()

        async def generate(image, temp):
            if started.is_set():
                await asyncio.sleep(3600)
            started.set()
            return Generation("garbage", "stop", 7, 9)

        page = _page()
        task = asyncio.ensure_future(ocr_page(page, presets.get("olmocr-2"), generate, 4, (0.1,)))
        await started.wait()
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return page

    page = asyncio.run(go())
    assert page["attempts"] == 2 and page["prompt_tokens"] == 7 and page["completion_tokens"] == 9
    assert page["latency_seconds"] > 0 and page.get("text_source") is None  # its document decides
