"""Render stage speed per core against a plain pypdfium2 loop doing the same work.

Both sides run in this one process (one core), over the same pages at the same longest side with the
same encoding, alternating rounds so machine noise hits both. Prints pages/s of each, the ratio, and
what each image encoding costs on top of rendering.

    python bench/render.py [--pdf-dir DIR] [--longest-side 1288] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import math
import statistics
import sys
import time
from pathlib import Path

import pypdfium2 as pdfium

from raypipe.config import RenderConfig
from raypipe.render import render_document

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from samples import SamplePage, pdf_bytes  # noqa: E402  (the tests' PDF generator)

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "sample-files"


def load_pdfs(folder: Path | None) -> list[bytes]:
    if folder and folder.exists():
        out = []
        for p in sorted(folder.rglob("*.pdf")):
            data = p.read_bytes()
            try:
                pdfium.PdfDocument(data).close()
            except pdfium.PdfiumError:
                continue  # encrypted / unreadable: not render work
            out.append(data)
        return out
    text = tuple(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(40))
    return [pdf_bytes([SamplePage(lines=text, boxes=4)] * 10) for _ in range(6)]


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


def raypipe_loop(pdfs: list[bytes], cfg: RenderConfig) -> int:
    return sum(len(render_document(data, cfg, images=True)["pages"]) for data in pdfs)


def timed(fn, *args) -> tuple[int, float]:
    start = time.perf_counter()
    pages = fn(*args)
    return pages, time.perf_counter() - start


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

    pdfs = load_pdfs(args.pdf_dir)
    # No pixel cap on either side, so both render exactly the same sizes.
    cfg = RenderConfig(longest_side=args.longest_side, image_format=args.format, image_quality=args.quality,
                       max_pixels=10**12, max_pages=None, draw_forms=False)
    plain_rates, raypipe_rates = [], []
    for _ in range(args.rounds):
        n, s = timed(plain_loop, pdfs, args.longest_side, args.format, args.quality)
        plain_rates.append(n / s)
        m, t = timed(raypipe_loop, pdfs, cfg)
        raypipe_rates.append(m / t)
        assert n == m, (n, m)
    plain, ours = statistics.median(plain_rates), statistics.median(raypipe_rates)
    print(f"pages per round: {n} from {len(pdfs)} PDFs, longest side {args.longest_side} px, {args.format}")
    print(f"plain pypdfium2 loop : {plain:7.1f} pages/s per core")
    print(f"raypipe render stage : {ours:7.1f} pages/s per core")
    print(f"ratio raypipe/plain  : {ours / plain:7.3f}  (target >= 0.9)")
    print(f"render+encode target : >= 40 pages/s per core -> {'met' if ours >= 40 else 'NOT met'}")
    encode_costs(pdfs, args.longest_side)
    if not math.isfinite(ours / plain):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
