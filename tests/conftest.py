"""Shared fixtures: the real sample corpus, generated PDFs with exact expectations, the tiny model, one
local Ray. Markers: every test under ``e2e/`` and ``deploy/`` is ``slow``; a test that runs the real
vLLM engine (it uses ``tiny_model``) is ``engine`` too. ``pytest -m "not slow"`` is the fast set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import CORPUS, OFFLINE_ENV
from samples import SamplePage, text_pages, write_pdf

SLOW_FOLDERS = ("e2e", "deploy")


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent.name in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)
        if "tiny_model" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.engine)
            item.add_marker(pytest.mark.slow)


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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny Qwen2-VL trained to give one known answer (tiny_vl.py), built once per test session."""
    import tiny_vl

    folder = tmp_path_factory.mktemp("tiny-vl") / "model"
    tiny_vl.build(str(folder))
    return folder


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray of the tests' own for the in-process tests (the CLI tests start their own), never
    a cluster some ``ray start`` left running on the machine."""
    import ray

    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": OFFLINE_ENV})
    yield ray
    ray.shutdown()
