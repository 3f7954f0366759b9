"""The page logic of the model engines (raypipe.engines.pages): the acceptance check, the usable-text
test and the retry ladder on real model-output shapes, without an engine. The engine is replaced by
a scripted coroutine that returns given outputs in order."""

from __future__ import annotations

import asyncio
import io

from helpers import OLMOCR_OUTPUT, OLMOCR_ROTATED
from PIL import Image

from raypipe.engines import presets
from raypipe.engines.pages import (
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
