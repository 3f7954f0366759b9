"""Cost of the layout-aware text layer per core, against the raw PDFium text layer on the same pages.

Both sides run in this one process (one core), over every page of the shared corpus (each file
opened as raypipe opens it, repaired if need be; a file that needs a password is skipped), in
alternating rounds so that machine noise hits both:

- raw: load the page, ``get_textpage().get_text_bounded()`` (what raypipe.render.page_text does);
- layout: load the page, :func:`raypipe.pdf.layout.analyse_page`, then per document
  :func:`running_furniture` and :func:`compose` (what :func:`extract_pages` does).

Prints pages/s of each, the ratio, and the extra milliseconds per page.

    python bench/layout.py [--corpus DIR] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from raypipe.errors import DocumentError
from raypipe.pdf.document import open_document
from raypipe.pdf.layout import analyse_page, compose, running_furniture
from raypipe.pdf.pages import page_text

DEFAULT_CORPUS = Path(os.environ.get("RAYPIPE_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus" / "sample-files"))


def load(folder: Path) -> tuple[list[bytes], list[str]]:
    docs, skipped = [], []
    for path in sorted(folder.rglob("*.pdf")):
        data = path.read_bytes()
        try:
            pdf, _ = open_document(data)
            pdf.close()
        except DocumentError as e:
            skipped.append(f"{path.name} ({e.code.value})")
            continue
        docs.append(data)
    return docs, skipped


def raw(docs: list[bytes]) -> int:
    pages = 0
    for data in docs:
        pdf, _ = open_document(data)
        for i in range(len(pdf)):
            page = pdf[i]
            page_text(page)
            page.close()
            pages += 1
        pdf.close()
    return pages


def layout(docs: list[bytes]) -> int:
    pages = 0
    for data in docs:
        pdf, _ = open_document(data)
        layouts = []
        for i in range(len(pdf)):
            page = pdf[i]
            layouts.append(analyse_page(page, i + 1))
            page.close()
        for one, found in zip(layouts, running_furniture(layouts)):
            compose(one, found)
        pages += len(layouts)
        pdf.close()
    return pages


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    if not args.corpus.exists():
        print(f"no corpus at {args.corpus} (set RAYPIPE_CORPUS or pass --corpus)")
        return 1
    docs, skipped = load(args.corpus)
    times = {"raw": [], "layout": []}
    pages = 0
    for _ in range(args.rounds):
        for name, fn in (("raw", raw), ("layout", layout)):
            start = time.perf_counter()
            pages = fn(docs)
            times[name].append(time.perf_counter() - start)
    rate = {name: pages / statistics.median(t) for name, t in times.items()}
    print(f"{len(docs)} documents, {pages} pages, median of {args.rounds} rounds, one core"
          + (f"; skipped: {', '.join(skipped)}" if skipped else ""))
    print(f"raw text layer (get_text_bounded)   {rate['raw']:9.1f} pages/s")
    print(f"layout text layer (raypipe.pdf.layout) {rate['layout']:6.1f} pages/s")
    print(f"ratio layout/raw                    {rate['layout'] / rate['raw']:9.3f}"
          f"   (+{1000 / rate['layout'] - 1000 / rate['raw']:.2f} ms per page)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
