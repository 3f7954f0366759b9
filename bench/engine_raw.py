"""Side (a) of bench/engine.py: raw vLLM offline generation (``LLM.generate``) in a process of its own,
with the engine arguments raypipe's actor would use. Run by bench/engine.py as a child process.

engine mode: the pages raypipe's render made, decoded to RGB before the timer starts; the timer spans
``LLM.generate`` only. e2e mode: the timer spans rendering every page of the PDFs with pypdfium2 (to
the same pixel size) and then ``LLM.generate`` over all of them.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import engine_setup as es


def decode(data: bytes):
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB") if image.mode != "RGB" else image


def render_pdfs(paths: list[Path], longest_side: int) -> list:
    """Every page of every PDF as an RGB image whose longest side is ``longest_side`` pixels."""
    import pypdfium2 as pdfium

    images = []
    for path in paths:
        pdf = pdfium.PdfDocument(str(path))
        try:
            for page in pdf:
                width, height = page.get_size()
                bitmap = page.render(scale=longest_side / max(width, height), rev_byteorder=True)
                image = bitmap.to_pil()
                images.append(image.convert("RGB") if image.mode != "RGB" else image)
                bitmap.close()
                page.close()
        finally:
            pdf.close()
    return images


def device_name() -> str:
    try:
        from vllm.platforms import current_platform

        return current_platform.get_device_name()
    except (ImportError, RuntimeError, AttributeError, NotImplementedError):
        import platform

        return platform.processor() or platform.machine()


def run(args, s: es.Setup, folder: Path) -> dict:
    from vllm import LLM

    llm = LLM(**s.engine_args)
    limits = es.resolved_limits(llm.llm_engine.vllm_config)
    params = es.sampling_params(s)
    images = None
    if args.mode == "engine":
        images = [decode(data) for doc in es.rendered_pages(folder) for data in doc]
    start = time.perf_counter()
    render_seconds = 0.0
    if images is None:
        images = render_pdfs(es.pdfs(folder), args.longest_side)
        render_seconds = time.perf_counter() - start
    requests = [{"prompt": s.prompt, "multi_modal_data": {"image": image}} for image in images]
    outputs = llm.generate(requests, params, use_tqdm=False)
    seconds = time.perf_counter() - start
    completion = [len(o.outputs[0].token_ids) for o in outputs]
    return {
        "device_name": device_name(),
        "seconds": seconds,
        "render_seconds": render_seconds,
        "pages": len(outputs),
        "pages_generated": sum(1 for n in completion if n),
        "completion_tokens": sum(completion),
        "prompt_tokens": sum(len(o.prompt_token_ids or ()) for o in outputs),
        "tokens_per_page": sorted(set(completion)),
        "limits": limits,
    }
