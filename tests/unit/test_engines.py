"""The document-level logic every engine shares (raypipe.engines.base), the registry, and the
text-layer engine, without Ray: a model engine whose ``generate`` is scripted, real rendered pages.
The last line (no document fails the stage) and the time bounds are tested here too."""

from __future__ import annotations

import asyncio
import time

import pyarrow as pa
import pytest
import tiny_vl
from samples import SamplePage, pdf_bytes, text_pages

from raypipe import engines
from raypipe.config import EngineConfig, InputConfig, RenderConfig
from raypipe.engines import presets
from raypipe.engines.answers import EngineUnavailable
from raypipe.engines.base import PageEngine
from raypipe.engines.pages import Generation, RequestRejected
from raypipe.engines.resolve import EngineSpec
from raypipe.engines.text_layer import TextLayerEngine
from raypipe.postprocess import finish
from raypipe.render import Render
from raypipe.schema import DOCUMENT, OUTPUT, WORK, table

DIGITAL = "\n".join(f"Line {i} of a born-digital page with a proper text layer." for i in range(6))


class Scripted(PageEngine):
    """A model engine whose answer is tiny_vl.RESPONSE, except for images of a refused size."""

    name = "scripted"

    def __init__(self, spec, refuse_width=None):
        super().__init__(spec)
        self.calls = []
        self.refuse_width = refuse_width

    async def generate(self, doc_id, image, temperature):
        self.calls.append((doc_id, image.size, temperature))
        if image.size[0] == self.refuse_width:
            raise RequestRejected("too wide")
        return Generation(tiny_vl.RESPONSE, "stop", 11, 7)


def rendered(tmp_path, pages, images=True, name="doc.pdf") -> dict:
    path = tmp_path / name
    path.write_bytes(pdf_bytes(pages))
    return Render(RenderConfig(longest_side=200), InputConfig(), images).one(name, str(path))


def spec(**engine) -> EngineSpec:
    cfg = EngineConfig(**engine)
    return EngineSpec("vllm", cfg, presets.get(cfg.preset))


def test_registry_names_every_engine():
    assert sorted(engines.ENGINES) == ["openai", "text-layer", "vllm"]
    assert engines.get("text-layer") is TextLayerEngine and not TextLayerEngine.needs_images
    assert engines.get("vllm").needs_images and engines.get("openai").needs_images
    with pytest.raises(KeyError, match="known: openai, text-layer, vllm"):
        engines.get("nope")


def test_routing_by_ocr_mode(tmp_path):
    pages = [SamplePage(lines=tuple(DIGITAL.splitlines())), SamplePage(boxes=2), SamplePage()]
    for mode, expected in (
        ("always", ["model", "model", "blank"]),
        ("auto", ["text_layer", "model", "blank"]),
        ("never", ["text_layer", "needs_ocr", "blank"]),  # ink but no text: not ok text
    ):
        row = rendered(tmp_path, pages)
        engine = Scripted(spec(ocr_mode=mode))
        out = asyncio.run(engine.document(row))
        assert [p["text_source"] for p in out["pages"]] == expected, mode
        assert len(engine.calls) == expected.count("model")
        assert all(p["image"] is None for p in out["pages"])  # images stop at the engine


def test_document_totals_and_columns(tmp_path):
    row = rendered(tmp_path, [SamplePage(boxes=1), SamplePage(boxes=2, width=900, height=300)])
    engine = Scripted(spec(preset="rolmocr", temperatures=[0.3]), refuse_width=200)
    out = asyncio.run(engine.document(row))
    assert (out["engine"], out["model"], out["preset"]) == ("scripted", "reducto/RolmOCR", "rolmocr")
    first, wide = out["pages"]
    assert first["text_source"] == "model" and first["text"] == tiny_vl.RESPONSE.strip()  # plain parser: as is
    assert wide["text_source"] == "failed" and wide["error"] == "rejected: too wide"
    assert out["prompt_tokens"] == 11 and out["completion_tokens"] == 7
    assert out["engine_finished_at"] >= out["engine_started_at"] and out["engine_seconds"] >= 0
    assert [t for _, _, t in engine.calls] == [0.3, 0.3]


def test_a_failed_document_is_stamped_and_not_sent(tmp_path):
    (tmp_path / "empty.pdf").write_bytes(b"")
    row = Render(RenderConfig(), InputConfig(), True).one("empty.pdf", str(tmp_path / "empty.pdf"))
    engine = Scripted(spec())
    out = asyncio.run(engine.document(row))
    assert out["status"] == "failed" and out["error_code"] == "empty" and out["engine"] == "scripted"
    assert engine.calls == []


def test_the_actor_udf_yields_rows_of_the_work_schema(tmp_path):
    row = rendered(tmp_path, [SamplePage(boxes=1)])

    async def collect():
        return [t async for t in Scripted(spec())(pa.Table.from_pylist([row], schema=WORK))]

    [out] = asyncio.run(collect())
    assert out.schema == WORK and out.num_rows == 1


def test_text_layer_engine(tmp_path):
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf_bytes(text_pages(["First page", "Second page"]) + [SamplePage(boxes=1)]))
    rows = Render(RenderConfig(), InputConfig(), images=False)(
        pa.Table.from_pylist([{"doc_id": "doc.pdf", "source": str(path)}], schema=DOCUMENT)
    )
    out = TextLayerEngine(EngineSpec("text-layer", EngineConfig(engine="text-layer")))(rows).to_pylist()[0]
    assert [p["text"] for p in out["pages"]] == ["First page", "Second page", ""]
    assert [p["text_source"] for p in out["pages"]] == ["text_layer", "text_layer", "needs_ocr"]
    assert out["engine"] == "text-layer" and out["model"] is None and out["prompt_tokens"] is None
    done = finish(out, 0.1)
    assert (done["status"], done["error_code"]) == ("needs_ocr", "needs_ocr")
    assert done["error"] == "OCR is still needed: 1 of 3 pages have ink but no text"
    broken = {"page_number": 1, "text_layer": None, "error": "text layer: broken"}
    TextLayerEngine(EngineSpec("text-layer", EngineConfig())).route(broken)
    assert broken["text_source"] == "failed" and broken["text"] is None


def test_text_layer_pages_without_text():
    engine = TextLayerEngine(EngineSpec("text-layer", EngineConfig()))
    cases = [
        ({"text_layer": "", "blank": True}, "blank"),
        ({"text_layer": " \n ", "blank": True}, "blank"),
        ({"text_layer": "", "blank": False}, "needs_ocr"),
        ({"text_layer": "", "blank": None}, "needs_ocr"),  # not known whether it has ink: not ok text
        ({"text_layer": "\n\x0c . -", "blank": None}, "needs_ocr"),  # no letter or digit
        ({"text_layer": "3", "blank": False}, "text_layer"),
        ({"text_layer": "Text", "blank": None}, "text_layer"),
    ]
    for page, source in cases:
        engine.route(page)
        assert page["text_source"] == source, page


# --- no document fails the stage ---------------------------------------------------------------


class Exploding(Scripted):
    """A model engine with a bug that shows on one document only."""

    async def generate(self, doc_id, image, temperature):
        if "bad" in doc_id:
            raise ZeroDivisionError("a bug in the engine")
        return await super().generate(doc_id, image, temperature)


def test_an_unexpected_error_fails_only_its_document(tmp_path):
    rows = [rendered(tmp_path, [SamplePage(boxes=1)], name=name) for name in ("good.pdf", "bad.pdf", "fine.pdf")]

    async def collect():
        engine = Exploding(spec())
        return [t async for t in engine(pa.Table.from_pylist(rows, schema=WORK))]

    out = {r["doc_id"]: r for t in asyncio.run(collect()) for r in t.to_pylist()}
    assert set(out) == {"good.pdf", "bad.pdf", "fine.pdf"}
    bad = out["bad.pdf"]
    assert (bad["status"], bad["error_code"]) == ("failed", "internal") and bad["pages"] == []
    assert bad["error"] == "ZeroDivisionError: a bug in the engine" and bad["engine"] == "scripted"
    assert all(out[d]["pages"][0]["text_source"] == "model" for d in ("good.pdf", "fine.pdf"))
    assert finish(bad, 0.1)["status"] == "failed"


class BuggyTextLayer(TextLayerEngine):
    """The text-layer engine with a bug that shows on one document's pages only."""

    def route(self, page):
        if page["text_layer"].startswith("Trigger"):
            raise KeyError("a bug in routing")
        return super().route(page)


def test_a_text_layer_document_that_raises_fails_alone(tmp_path):
    rows = [rendered(tmp_path, text_pages([text]), images=False, name=f"{i}.pdf") for i, text in enumerate(["Fine", "Trigger"])]
    out = BuggyTextLayer(EngineSpec("text-layer", EngineConfig()))(pa.Table.from_pylist(rows, schema=WORK)).to_pylist()
    assert out[0]["pages"][0]["text"] == "Fine" and out[0]["status"] is None
    assert (out[1]["status"], out[1]["error_code"], out[1]["error"]) == ("failed", "internal", "KeyError: 'a bug in routing'")
    assert out[1]["engine"] == "text-layer" and out[1]["pages"] == []


# --- time bounds ---------------------------------------------------------------------------------


class Slow(Scripted):
    """A model engine whose calls for pages of a given width never end (within the call bound), and
    which records the calls it saw cancelled."""

    def __init__(self, spec, hang_width):
        super().__init__(spec)
        self.hang_width = hang_width
        self.cancelled = 0

    async def generate(self, doc_id, image, temperature):
        if image.size[0] == self.hang_width:
            async with self.call_bound():
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    self.cancelled += 1
                    raise
        return await super().generate(doc_id, image, temperature)


def test_a_call_past_its_bound_is_abandoned_and_retried(tmp_path):
    row = rendered(tmp_path, [SamplePage(boxes=1), SamplePage(boxes=2, width=900, height=300)])
    engine = Slow(spec(call_timeout=0.05, max_attempts=3), hang_width=200)
    out = finish(asyncio.run(engine.document(row)), 0.1)
    ok, hung = out["pages"]
    assert ok["text_source"] == "model"
    assert hung["text_source"] == "failed" and hung["attempts"] == 3 and engine.cancelled == 3
    assert hung["error"] == "timeout: no answer within 0.05 s (engine.call_timeout)"
    # the engine did not answer: worth another try later
    assert (out["status"], out["error_code"]) == ("failed", "engine_unavailable")


def test_a_document_past_its_bound_fails_with_timeout(tmp_path):
    pages = [SamplePage(boxes=1), SamplePage(boxes=2, width=900, height=300), SamplePage(boxes=3)]
    row = rendered(tmp_path, pages)
    engine = Slow(spec(doc_timeout=0.3, call_timeout=3600), hang_width=200)  # the wide page hangs
    started = time.monotonic()
    out = asyncio.run(engine.document(row))
    assert time.monotonic() - started < 30  # bounded by doc_timeout, not by the hanging call
    assert (out["status"], out["error_code"]) == ("failed", "timeout")
    assert "engine.doc_timeout (0.3 s)" in out["error"] and "1 of 3 pages" in out["error"]
    first, hung, third = out["pages"]
    assert first["text_source"] == third["text_source"] == "model"  # finished pages keep their text
    assert hung["text_source"] == "failed" and hung["error"].startswith("timeout: unfinished")
    assert hung["attempts"] == 1 and hung["latency_seconds"] > 0 and engine.cancelled == 1
    assert all(p["image"] is None for p in out["pages"])
    done = finish(out, 0.1)
    assert (done["status"], done["error_code"]) == ("failed", "timeout") and len(done["pages"]) == 3
    table([done], OUTPUT)


class Down(Scripted):
    async def generate(self, doc_id, image, temperature):
        self.calls.append(doc_id)
        raise EngineUnavailable("HTTP 503: down (gave up after 6 retries)")


def test_pages_whose_engine_did_not_answer_mark_the_document_for_a_retry(tmp_path):
    row = rendered(tmp_path, [SamplePage(boxes=1), SamplePage(boxes=2)])
    out = finish(asyncio.run(Down(spec()).document(row)), 0.1)
    assert (out["status"], out["error_code"]) == ("failed", "engine_unavailable")
    assert all(p["error"].startswith("unavailable: HTTP 503") and p["attempts"] == 1 for p in out["pages"])


def test_an_engine_start_is_tried_again_only_when_the_engine_died_loading(monkeypatch):
    from raypipe.engines import vllm as engine_module

    monkeypatch.setattr(engine_module, "ENGINE_START_PAUSE", 0)
    calls = []

    def dies_twice():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("Engine core initialization failed")
        return "engine"

    assert engine_module._start_engine(dies_twice) == "engine" and len(calls) == 3
    for error in (ValueError("bad option"), NotImplementedError("not on this platform")):
        calls.clear()

        def fails(error=error):
            calls.append(1)
            raise error

        with pytest.raises(type(error)):
            engine_module._start_engine(fails)
        assert len(calls) == 1, error
