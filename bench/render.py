"""Render stage speed per core against a plain pypdfium2 loop doing the same work.

The plain loop runs in this process; raypipe's side is the render stage's own path (``Render.one``:
fetch, then render in the worker's render process with its time and memory bounds, pages streamed
back). Same pages at the same longest side with the same encoding, alternating rounds so machine
noise hits both. Prints pages/s of each by wall time, and by CPU time (raypipe's counts this process
and its render process, so work the two do side by side is not counted as free), the ratios, and
what each image encoding costs on top of rendering.

    python bench/render.py [--pdf-dir DIR] [--longest-side 1288] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pypdfium2 as pdfium

from raypipe.config import InputConfig, RenderConfig
from raypipe.pdf import sandbox
from raypipe.pdf.pages import render_document
from raypipe.render import Render

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from samples import SamplePage, pdf_bytes  # noqa: E402  (the tests' PDF generator)

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "sample-files"


def load_pdfs(folder: Path | None, scratch: Path) -> list[tuple[str, bytes]]:
    """(path, bytes) of every PDF PDFium opens in ``folder``; generated ones written to ``scratch``
    when there is no folder."""
    if folder and folder.exists():
        out = []
        for p in sorted(folder.rglob("*.pdf")):
            data = p.read_bytes()
            try:
                pdfium.PdfDocument(data).close()
            except pdfium.PdfiumError:
                continue  # encrypted / unreadable: not render work
            out.append((str(p), data))
        return out
    text = tuple(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(40))
    out = []
    for i in range(6):
        path = scratch / f"generated-{i}.pdf"
        path.write_bytes(pdf_bytes([SamplePage(lines=text, boxes=4)] * 10))
        out.append((str(path), path.read_bytes()))
    return out


def plain_loop(pdfs: list[bytes], longest_side: int, fmt: str, quality: int) -> int:
    """What a user would write by hand with pypdfium2 and PIL."""
    pages = 0
    for data in pdfs:
        pdf = pdfium.PdfDocument(data)
        for page in pdf:
            w, h = page.get_size()
            bitmap = page.render(scale=longest_side / max(w, h), rev_byteorder=True)
            image = bitmap.to_pil()
            buf = io.BytesIO()
            if fmt == "png":
                image.save(buf, format="PNG", compress_level=1)
            elif fmt == "jpeg":
                image.save(buf, format="JPEG", quality=quality)
            else:
                image.save(buf, format="WEBP", quality=quality, method=0)
            page.get_textpage().get_text_bounded()
            pages += 1
        pdf.close()
    return pages


def raypipe_loop(paths: list[str], cfg: RenderConfig) -> int:
    stage = Render(cfg, InputConfig(), images=True)
    pages = 0
    for path in paths:
        row = stage.one(path, path)
        assert row.get("error_code") is None, row
        pages += len(row["pages"])
    return pages


def in_process_loop(pdfs: list[bytes], cfg: RenderConfig) -> int:
    """The same render code in this process, without the render process and its bounds."""
    return sum(len(render_document(data, cfg, images=True)["pages"]) for data in pdfs)


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of this process, or of process ``pid``."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(fn, *args) -> tuple[int, float, float]:
    """(pages, wall seconds, CPU seconds of this process and of the render process it uses)."""
    box = next(iter(sandbox._shared.values()), None)
    child = box.pid if box else None
    start, cpu = time.perf_counter(), cpu_seconds() + (cpu_seconds(child) if child else 0.0)
    pages = fn(*args)
    wall = time.perf_counter() - start
    box = next(iter(sandbox._shared.values()), None)
    if box and box.pid != child:
        raise SystemExit("the render process was started again during a round: the CPU figures would be wrong")
    cpu = cpu_seconds() + (cpu_seconds(child) if child else 0.0) - cpu
    return pages, wall, cpu


def encode_costs(pdfs: list[bytes], longest_side: int) -> None:
    pdf = pdfium.PdfDocument(pdfs[0])
    page = pdf[0]
    w, h = page.get_size()
    image = page.render(scale=longest_side / max(w, h), rev_byteorder=True).to_pil()
    variants = {
        "png (PIL default level 6)": dict(format="PNG"),
        "png level 1 (raypipe png)": dict(format="PNG", compress_level=1),
        "jpeg q90 (raypipe default)": dict(format="JPEG", quality=90),
        "webp q90 method 0 (raypipe webp)": dict(format="WEBP", quality=90, method=0),
    }
    print(f"\nencode cost, one {image.size[0]}x{image.size[1]} page:")
    for name, kwargs in variants.items():
        runs, size = [], 0
        for _ in range(5):
            buf = io.BytesIO()
            start = time.perf_counter()
            image.save(buf, **kwargs)
            runs.append(time.perf_counter() - start)
            size = buf.tell()
        best = min(runs)
        print(f"  {name:34s} {best * 1000:7.1f} ms  ({1 / best:6.1f} pages/s)  {size / 1024:7.1f} KiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pdf-dir", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--longest-side", type=int, default=1288)
    ap.add_argument("--format", default="jpeg", choices=["png", "jpeg", "webp"])
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    scratch = tempfile.TemporaryDirectory(prefix="raypipe-bench-render-")
    files = load_pdfs(args.pdf_dir, Path(scratch.name))
    pdfs, paths = [data for _, data in files], [path for path, _ in files]
    # No pixel cap on either side, so both render exactly the same sizes.
    cfg = RenderConfig(longest_side=args.longest_side, image_format=args.format, image_quality=args.quality,
                       max_pixels=10**12, max_pages=None, draw_forms=False)
    raypipe_loop(paths[:1], cfg)  # the render process starts once per worker: not part of a round
    plain_wall, plain_cpu, ours_wall, ours_cpu, inproc_wall, inproc_cpu = [], [], [], [], [], []
    for _ in range(args.rounds):
        n, wall, cpu = timed(plain_loop, pdfs, args.longest_side, args.format, args.quality)
        plain_wall.append(n / wall)
        plain_cpu.append(n / cpu)
        m, wall, cpu = timed(raypipe_loop, paths, cfg)
        ours_wall.append(m / wall)
        ours_cpu.append(m / cpu)
        k, wall, cpu = timed(in_process_loop, pdfs, cfg)
        inproc_wall.append(k / wall)
        inproc_cpu.append(k / cpu)
        assert n == m == k, (n, m, k)
    plain, ours = statistics.median(plain_wall), statistics.median(ours_wall)
    plain_c, ours_c = statistics.median(plain_cpu), statistics.median(ours_cpu)
    inproc, inproc_c = statistics.median(inproc_wall), statistics.median(inproc_cpu)
    print(f"pages per round: {n} from {len(pdfs)} PDFs, longest side {args.longest_side} px, {args.format}, "
          f"median of {args.rounds} rounds")
    print(f"plain pypdfium2 loop : {plain:7.1f} pages/s wall, {plain_c:7.1f} pages per CPU second")
    print(f"raypipe render stage : {ours:7.1f} pages/s wall, {ours_c:7.1f} pages per CPU second")
    print(f"ratio raypipe/plain  : {ours / plain:7.3f} wall, {ours_c / plain_c:7.3f} CPU  (target >= 0.9)")
    print(f"same code in process : {inproc:7.1f} pages/s wall, {inproc_c:7.1f} pages per CPU second (no render "
          f"process, no bounds): {inproc / plain:.3f} wall, {inproc_c / plain_c:.3f} CPU of plain")
    print(f"render+encode target : >= 40 pages/s per core -> {'met' if min(ours, ours_c) >= 40 else 'NOT met'}")
    encode_costs(pdfs, args.longest_side)
    if not math.isfinite(ours / plain):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
