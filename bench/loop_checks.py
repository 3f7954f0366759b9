"""What the repetition-loop checks cost: the same pages through one vLLM engine in this process, (a)
with only the final output of each request (``RequestOutputKind.FINAL_ONLY``, no look at the text
before the end) and (b) as the vllm engine runs them: new text every ``loop_check_tokens`` tokens
(DELTA outputs), the text so far checked for a loop each time. Every request is made to generate
``--max-tokens`` tokens (end-of-text ignored) so that each one is checked many times, and (b)'s
checks never stop one, so both sides do the same work. Passes alternate (a, b, b, a, a, b, ...) and
the best pass of each is kept. Prints pages/s and tokens/s of each side and the ratio b / a.

    python bench/loop_checks.py [--model DIR] [--pages 48] [--max-tokens 768] [--check-every 256]

Without --model, the tiny trained test checkpoint (tests/tiny_vl.py) is built in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def page_images(n: int) -> list:
    from PIL import Image, ImageDraw

    from raypipe.engines.image import PageImage

    images = []
    for i in range(n):
        image = Image.new("RGB", (640, 828), "white")
        draw = ImageDraw.Draw(image)
        for line in range(20):
            draw.rectangle((40, 40 + 36 * line, 40 + (i * 37 + line * 53) % 500 + 60, 58 + 36 * line), fill="black")
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        images.append(PageImage(buffer.getvalue()))
    return images


def make_engine(model: str, args):
    from raypipe.config import EngineConfig, VLLMOptions
    from raypipe.engines import presets
    from raypipe.engines.pages import repetition_loop
    from raypipe.engines.resolve import EngineSpec
    from raypipe.engines.vllm import VLLMInfer

    class Bench(VLLMInfer):
        final_only = False
        checks = 0

        def sampling_params(self, temperature, guide=None):
            from vllm.sampling_params import RequestOutputKind

            params = super().sampling_params(temperature, guide)
            params.ignore_eos = True
            if self.final_only:
                params.output_kind, params.stream_interval = RequestOutputKind.FINAL_ONLY, None
            return params

        def is_loop(self, text):  # the real check, whose answer is ignored so that both sides do the same work
            type(self).checks += 1
            repetition_loop(text)
            return False

    Bench.loop_check_tokens = args.check_every
    cfg = EngineConfig(
        engine="vllm", model=model, max_tokens=args.max_tokens, guided_decoding=False,
        vllm=VLLMOptions(device=args.device, dtype=args.dtype, enforce_eager=True, max_model_len=4096,
                         max_num_seqs=args.in_flight),
    )
    spec = EngineSpec("vllm", cfg, dataclasses.replace(presets.get(args.preset), model=model), device=args.device)
    return Bench(spec, pages_in_flight=args.in_flight)


async def one_pass(engine, images, final_only: bool) -> tuple[float, int]:
    engine.final_only = final_only
    start = time.perf_counter()
    generations = await asyncio.gather(*(engine.generate(f"doc-{i}", image, 0.0) for i, image in enumerate(images)))
    seconds = time.perf_counter() - start
    return seconds, sum(g.completion_tokens for g in generations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder or hub id (default: build the tiny test checkpoint)")
    parser.add_argument("--preset", default="olmocr-2")
    parser.add_argument("--pages", type=int, default=48)
    parser.add_argument("--max-tokens", type=int, default=768)
    parser.add_argument("--check-every", type=int, default=256, help="tokens between two checks (the engine's loop_check_tokens)")
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "tests"))
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    model = args.model
    if model is None:
        import tiny_vl

        model = str(Path(tempfile.mkdtemp(prefix="raypipe-bench-")) / "tiny-vl")
        tiny_vl.build(model)
    engine = make_engine(model, args)
    images = page_images(args.pages)

    async def run():
        await one_pass(engine, images[:4], True)  # warm-up
        results = {True: [], False: []}
        for i in range(args.passes):
            for final_only in (True, False) if i % 2 == 0 else (False, True):
                results[final_only].append(await one_pass(engine, images, final_only))
        return results

    checks_before = type(engine).checks
    results = asyncio.run(run())
    engine.engine.shutdown()
    checks = type(engine).checks - checks_before
    (a_s, a_t), (b_s, b_t) = (min(results[True]), min(results[False]))
    print(f"pages: {args.pages} x {args.max_tokens} tokens, {args.in_flight} in flight, {args.passes} passes each")
    print(f"(a) final output only:           {args.pages / a_s:7.2f} pages/s  {a_t / a_s:9.1f} tokens/s  ({a_s:.1f} s)")
    print(f"(b) checked every {args.check_every:4d} tokens:   {args.pages / b_s:7.2f} pages/s  {b_t / b_s:9.1f} tokens/s  ({b_s:.1f} s)")
    print(f"loop checks made in (b) passes: {checks}")
    for name, final_only in (("a", True), ("b", False)):
        print(f"({name}) every pass, seconds: " + " ".join(f"{sec:.2f}" for sec, _ in results[final_only]))
    print(f"ratio b / a: {a_s / b_s:.3f}")


if __name__ == "__main__":
    main()
