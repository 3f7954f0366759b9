"""Hostile PDFs through the render stage's bounds: for each case (tests/hostile.py), one document
through ``Render.one`` as a run does, with the default bounds unless told otherwise. Prints per
document the wall time, the peak resident size of the render process and of this process (the
worker) while it ran, and what stopped it (the row's error code and message), then two ordinary
documents for scale: the corpus's 117-page thesis and a generated 1,000-page one, with their
slowest page.

    python bench/hostile.py [--memory-mib 2048] [--page-timeout 60] [--render-timeout 600] [--only CASE ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import hostile_pdfs as hostile
from samples import pdf_bytes, text_pages

from raypipe.config import InputConfig, RenderConfig
from raypipe.pdf.pages import render_pages
from raypipe.render import Render, render_process

DEFAULT_CORPUS = Path(os.environ.get("RAYPIPE_CORPUS",
                                     Path(__file__).resolve().parents[2] / "shared" / "corpus" / "sample-files"))
THESIS = "009-pdflatex-geotopo/GeoTopo-komprimiert.pdf"

CASES = {
    "nested forms, depth 19": lambda: hostile.nested_forms(19),
    "nested forms, depth 22": lambda: hostile.nested_forms(22),
    "inflate bomb, 3 GiB": lambda: hostile.inflate_bomb(3 << 30),
    "operator flood, 20 MB": lambda: hostile.operator_flood(20),
    "glyph flood, 5 M": lambda: hostile.glyph_flood(5_000_000),
    "glyph flood, 10 M": lambda: hostile.glyph_flood(10_000_000),
    "annotation flood, 200 k": lambda: hostile.annotation_flood(200_000),
    "damaged, 100 k objects": lambda: hostile.damaged_object_flood(100_000),
    "damaged, 1 M objects": lambda: hostile.damaged_object_flood(1_000_000),
    "salvage bombs, 200": lambda: hostile.salvage_bombs(200),
    "self-drawing form": hostile.self_drawing_form,
    "cyclic page tree": hostile.cyclic_page_tree,
    "deep page tree, 100 k": lambda: hostile.deep_page_tree(100_000),
    "huge image, 60000 px": hostile.huge_image,
    "deep arrays, 1 M": lambda: hostile.deep_arrays(1_000_000),
}


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def own_peak() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def outcome(row: dict) -> str:
    if row.get("error_code"):
        return f"{row['error_code']}: {row['error']}"
    failed = sum(1 for p in row["pages"] if p.get("error"))
    return f"rendered: {len(row['pages'])} pages ({failed} with a page error)"


def one(stage: Render, cfg: RenderConfig, name: str, path: Path) -> dict:
    reset_peak()
    start = time.perf_counter()
    row = stage.one(name, str(path))
    seconds = time.perf_counter() - start
    child = render_process(cfg).last_peak
    print(f"{name:26} {path.stat().st_size / 1e6:8.3f} MB {seconds:7.2f} s  render process {child / 2**20:6.0f} MiB  "
          f"worker {own_peak() / 2**20:5.0f} MiB  {outcome(row)[:150]}", flush=True)
    return row


def slowest_page(data: bytes, cfg: RenderConfig) -> float:
    worst, last = 0.0, time.perf_counter()
    for _ in render_pages(data, cfg, images=True):
        now = time.perf_counter()
        worst, last = max(worst, now - last), now
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--memory-mib", type=int, default=RenderConfig().render_memory_limit >> 20)
    ap.add_argument("--page-timeout", type=float, default=RenderConfig().page_timeout)
    ap.add_argument("--render-timeout", type=float, default=RenderConfig().render_timeout)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--only", nargs="*", help="case names (substrings) to run")
    args = ap.parse_args()
    cfg = RenderConfig(render_memory_limit=args.memory_mib << 20, page_timeout=args.page_timeout,
                       render_timeout=args.render_timeout)
    stage = Render(cfg, InputConfig(), images=True)
    print(f"bounds: render_memory_limit {args.memory_mib} MiB, page_timeout {args.page_timeout:g} s, "
          f"render_timeout {args.render_timeout:g} s; images at {cfg.longest_side} px {cfg.image_format}")
    with tempfile.TemporaryDirectory(prefix="raypipe-bench-hostile-") as tmp:
        folder = Path(tmp)
        warm = folder / "warm.pdf"
        warm.write_bytes(pdf_bytes(text_pages(["warm"])))
        stage.one("warm", str(warm))  # the render process starts once per worker
        box = render_process(cfg)
        with box.lock:
            starts = []
            for _ in range(3):
                start = time.perf_counter()
                box.start()
                starts.append(time.perf_counter() - start)
        print(f"starting a render process (once per worker, and after each breach): {min(starts):.2f} s "
              f"(best of 3), resident size when ready {box.rss_idle / 2**20:.0f} MiB")
        print(f"{'case':26} {'file':>11} {'wall':>9}  peak resident size while it ran: render process, worker")
        for name, make in CASES.items():
            if args.only and not any(part in name for part in args.only):
                continue
            path = folder / "case.pdf"
            path.write_bytes(make())
            one(stage, cfg, name, path)
        print("\nordinary documents, for scale (slowest page: the same pages rendered in this process):")
        lines = "\n".join(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(40))
        ordinary = {"1000 generated pages": pdf_bytes(text_pages([lines] * 1000))}
        if (args.corpus / THESIS).exists():
            ordinary["117-page thesis (corpus)"] = (args.corpus / THESIS).read_bytes()
        rows = {}
        for name, data in ordinary.items():
            path = folder / f"{len(rows)}.pdf"
            path.write_bytes(data)
            row = one(stage, cfg, name, path)
            rows[name] = {"error_code": row.get("error_code"), "render_seconds": row["render_seconds"],
                          "pages": len(row["pages"])}  # not the images: they would be in the next one's figure
        for name, row in rows.items():  # in this process, after the rows: its memory is not in their figures
            if not row.get("error_code"):
                print(f"{name:26} slowest page {slowest_page(ordinary[name], cfg):.3f} s; "
                      f"{row['render_seconds'] / row['pages'] * 1000:.1f} ms per page on average")


if __name__ == "__main__":
    main()
