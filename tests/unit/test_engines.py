"""The document-level logic every engine shares (raypipe.engines.base), the registry, and the
text-layer engine, without Ray: a model engine whose ``generate`` is scripted, real rendered pages."""

from __future__ import annotations

import asyncio

import pyarrow as pa
import pytest
import tiny_vl
from samples import SamplePage, pdf_bytes, text_pages

from raypipe import engines
from raypipe.config import EngineConfig, InputConfig, RenderConfig
from raypipe.engines import presets
from raypipe.engines.base import PageEngine
from raypipe.engines.pages import Generation, RequestRejected
from raypipe.engines.resolve import EngineSpec
from raypipe.engines.text_layer import TextLayerEngine
from raypipe.render import Render
from raypipe.schema import DOCUMENT, WORK

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
        ("never", ["text_layer", "text_layer", "blank"]),
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
    assert [p["text_source"] for p in out["pages"]] == ["text_layer"] * 3
    assert out["engine"] == "text-layer" and out["model"] is None and out["prompt_tokens"] is None
    broken = {"page_number": 1, "text_layer": None, "error": "text layer: broken"}
    TextLayerEngine(EngineSpec("text-layer", EngineConfig())).route(broken)
    assert broken["text_source"] == "failed" and broken["text"] is None
