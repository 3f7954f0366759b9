"""Truncated-file recovery: pages back and scan speed.

For every corpus PDF (as it is, and rewritten in pdfTeX's object order), cut at 30/60/90% of its
bytes: pages in the intact file, pages back through the render stage's repair path, and the
content-stream scan's own time (``raypipe.pdf.salvage.salvage``) in ms. Then the scan alone, in ms per
MB, on two 50 MB files: one of text pages (uncompressed: the most content to check), one mostly
images; and on 200 streams that each inflate past the per-stream cap (every attempt is charged to
the scan's budget, so they cost one bounded pass).

    python bench/recover.py [--corpus DIR] [--big-mb 50]
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
import zlib
from pathlib import Path

import pikepdf

from raypipe.config import RenderConfig
from raypipe.errors import DocumentError
from raypipe.pdf.pages import render_document
from raypipe.pdf.salvage import salvage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import hostile_pdfs as hostile  # noqa: E402  (the tests' hostile PDF generators)
from samples import SamplePage, pdf_bytes, pdflatex_layout  # noqa: E402  (the tests' PDF generator)

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "sample-files"
CUTS = (0.3, 0.6, 0.9)


def pages_back(data: bytes) -> str:
    try:
        return str(len(render_document(data, RenderConfig(), images=False)["pages"]))
    except DocumentError as e:
        return e.code.value


def scan_ms(data: bytes) -> float:
    start = time.perf_counter()
    salvage(data)
    return (time.perf_counter() - start) * 1000


def as_pdflatex(data: bytes) -> bytes | None:
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            out = io.BytesIO()
            pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate)
        return pdflatex_layout(out.getvalue())
    except Exception:  # encrypted or unreadable: nothing to rewrite
        return None


def corpus_table(folder: Path) -> None:
    print(f"{'file':58} {'layout':8} {'pages':>5}  " + "  ".join(f"{c:.0%} cut: back, scan ms" for c in CUTS))
    for path in sorted(folder.rglob("*.pdf")):
        original = path.read_bytes()
        for layout, data in (("as is", original), ("pdfTeX", as_pdflatex(original))):
            if data is None:
                continue
            cells = []
            for cut in CUTS:
                part = data[: int(len(data) * cut)]
                cells.append(f"{pages_back(part):>10} {scan_ms(part):8.1f}")
            name = str(path.relative_to(folder))
            print(f"{name[:58]:58} {layout:8} {pages_back(data):>5}  " + "  ".join(f"{c:22}" for c in cells))


def big_files(megabytes: int) -> None:
    line = "The quick brown fox jumps over the lazy dog, and the dog sleeps on. " * 2
    text_page = SamplePage(lines=tuple(f"{i}: {line}" for i in range(60)))
    per_page = len(pdf_bytes([text_page], compress=False))
    text = pdf_bytes([text_page] * (megabytes * 1_000_000 // per_page), compress=False)

    rng = random.Random(1)
    images = bytearray(b"%PDF-1.7\n")
    number = 1
    while len(images) < megabytes * 1_000_000:
        pixels = rng.randbytes(1_000_000)
        images += (b"%d 0 obj\n<< /Type /XObject /Subtype /Image /Width 1000 /Height 1000 /BitsPerComponent 8 "
                   b"/ColorSpace /DeviceGray /Length %d >>\nstream\n" % (number, len(pixels))
                   + pixels + b"\nendstream\nendobj\n")
        content = zlib.compress(b"q 600 0 0 800 0 0 cm /Im%d Do Q BT /F1 12 Tf 72 720 Td (Figure %d) Tj ET"
                                % (number, number))
        images += (b"%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % (number + 1, len(content))
                   + content + b"\nendstream\nendobj\n")
        number += 2
    bombs = hostile.salvage_bombs(200)
    for name, data in (("text pages, uncompressed", text), ("1 MB images, one page each", bytes(images)),
                       ("streams inflating past the cap (200)", bombs)):
        start = time.perf_counter()
        found = salvage(data)
        seconds = time.perf_counter() - start
        print(f"{len(data) / 1e6:5.1f} MB of {name}: {found.pages if found else 0} pages found by the scan in "
              f"{seconds:.2f} s ({seconds * 1000 / (len(data) / 1e6):.1f} ms/MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder of PDFs")
    parser.add_argument("--big-mb", type=int, default=50, help="size of the two large files scanned")
    args = parser.parse_args()
    if args.corpus.exists():
        corpus_table(args.corpus)
    big_files(args.big_mb)


if __name__ == "__main__":
    main()
