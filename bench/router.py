"""The text-layer router and the blank guard on the labelled page set (bench/router_pages.py), beside
today's checks (``usable_text_layer`` and the pure-white blank test) on the same pages.

Every page is opened and rendered as the render stage does (default RenderConfig). Prints:
precision and recall of "text layer kept", the garbage text layers kept, a confusion table by page
kind with the reasons given, the blank guard's false positives and negatives, the cost per page of
each check next to the cost of rendering, and two sweeps: the OCR error rate at which an invisible
layer stops being kept, and the faintest text / strongest bleed-through the blank guard tells apart.

    python bench/router.py [--corpus DIR]   # --corpus: also count the decisions on real PDFs
"""

from __future__ import annotations

import argparse
import collections
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium

sys.path.insert(0, str(Path(__file__).resolve().parent))
import router_pages as rp  # noqa: E402

from raypipe.config import RenderConfig  # noqa: E402
from raypipe.engines.pages import usable_text_layer  # noqa: E402
from raypipe.engines.router import decide  # noqa: E402
from raypipe.pdf.evidence import gather  # noqa: E402
from raypipe.pdf.ink import inspect  # noqa: E402
from raypipe.pdf.pages import page_size, page_text  # noqa: E402

MIN_CHARS = 64  # the default of min_text_layer_chars


def measure(page, cfg: RenderConfig) -> dict:
    """Everything the render stage would know about one open page, and what each check costs."""
    scale, _, _ = page_size(*page.get_size(), cfg)
    start = time.perf_counter()
    text = page_text(page)
    bitmap = page.render(scale=scale, may_draw_forms=cfg.draw_forms, rev_byteorder=True)
    image = bitmap.to_pil()
    render_s = time.perf_counter() - start

    start = time.perf_counter()
    textpage = page.get_textpage()
    try:
        evidence = gather(page, textpage, image, text)
    finally:
        textpage.close()
    keep, reason = decide(evidence, MIN_CHARS)
    router_s = time.perf_counter() - start

    start = time.perf_counter()
    report = inspect(image)
    guard_s = time.perf_counter() - start

    start = time.perf_counter()
    today_keep = usable_text_layer(text, MIN_CHARS)
    today_blank = not text.strip() and all(low >= 250 for low, _ in image.getextrema())
    today_s = time.perf_counter() - start
    bitmap.close()
    return dict(text=text, keep=keep, reason=reason, blank=report.blank, today_keep=today_keep,
                today_blank=today_blank, render_s=render_s, router_s=router_s, guard_s=guard_s, today_s=today_s)


def run(data: bytes, cfg: RenderConfig) -> dict:
    pdf = pdfium.PdfDocument(data)
    try:
        page = pdf[0]
        try:
            return measure(page, cfg)
        finally:
            page.close()
    finally:
        pdf.close()


def ms(values) -> str:
    values = list(values)
    return f"median {1e3 * statistics.median(values):6.2f} ms, mean {1e3 * statistics.fmean(values):6.2f} ms"


def keep_figures(pages, results, field: str) -> tuple[float, float, int, int]:
    """(precision of kept, recall on clean born-digital pages, garbage layers kept, pages kept)."""
    kept = [p for p in pages if results[p.name][field]]
    right = [p for p in kept if p.keep]
    born = [p for p in pages if p.kind == "born_digital"]
    recall = sum(results[p.name][field] for p in born) / len(born)
    garbage = [p for p in kept if not p.keep]
    return (len(right) / len(kept) if kept else 1.0), recall, len(garbage), len(kept)


def report_router(pages, results) -> None:
    print("== text layer kept (router | today's usable_text_layer) ==")
    for label, field in (("router", "keep"), ("today ", "today_keep")):
        precision, recall, garbage, kept = keep_figures(pages, results, field)
        print(f"{label}: precision {precision:6.1%}  recall on born-digital {recall:6.1%}  "
              f"bad text layers kept {garbage:2d}  pages kept {kept}/{len(pages)}")
    print("\n== confusion by page kind ==")
    print(f"{'kind':18} {'n':>3} {'label':>6} {'router kept':>12} {'today kept':>11}  reasons (router)")
    by_kind = collections.defaultdict(list)
    for p in pages:
        by_kind[p.kind].append(p)
    for kind, group in by_kind.items():
        reasons = collections.Counter(results[p.name]["reason"] for p in group)
        wrong = sum(results[p.name]["reason"] != p.reason for p in group)
        print(f"{kind:18} {len(group):3d} {'keep' if group[0].keep else 'model':>6} "
              f"{sum(results[p.name]['keep'] for p in group):12d} {sum(results[p.name]['today_keep'] for p in group):11d}  "
              + ", ".join(f"{r} x{n}" for r, n in reasons.items()) + (f"  (unexpected reason x{wrong})" if wrong else ""))


def report_blank(pages, results) -> None:
    print("\n== blank guard (blank = near_blank(image); today = no text and every pixel >= 250) ==")
    for label, field in (("guard ", "blank"), ("today ", "today_blank")):
        fp = [p.name for p in pages if results[p.name][field] and not p.blank]
        fn = [p.name for p in pages if not results[p.name][field] and p.blank]
        n_blank = sum(p.blank for p in pages)
        print(f"{label}: false positives {len(fp)}/{len(pages) - n_blank} (pages with real marks called blank)  "
              f"false negatives {len(fn)}/{n_blank} (near-blank pages sent on)")
        for name in fp + fn:
            print(f"    {name}")
    by_kind = collections.defaultdict(list)
    for p in pages:
        by_kind[p.kind].append(p)
    print(f"{'kind':20} {'n':>3} {'label':>6} {'guard blank':>12} {'today blank':>12}")
    for kind, group in by_kind.items():
        print(f"{kind:20} {len(group):3d} {'blank' if group[0].blank else 'marks':>6} "
              f"{sum(results[p.name]['blank'] for p in group):12d} {sum(results[p.name]['today_blank'] for p in group):12d}")


def sweep_ocr(cfg: RenderConfig) -> None:
    print("\n== invisible OCR layer kept, by character error rate (9 scanned pages each) ==")
    bodies = rp._bodies()[:9]
    rng = np.random.default_rng(3)
    images = [rp.scan_image(rp.render_gray(rp.born_digital(runs)), rp.Scan(), rng) for _, runs in bodies]
    for cer in (0.0, 0.03, 0.1, 0.2, 0.3, 0.45):
        prng = random.Random(int(cer * 100))
        kept = 0
        for (_, runs), image in zip(bodies, images):
            layer = rp.text_ops(runs, mode=3, transform=rp.ocr_noise(prng, cer))
            kept += run(rp.scan_page(image, rp.Scan(), layer), cfg)["keep"]
        print(f"CER {cer:4.0%}: kept {kept}/9")


def sweep_ink(cfg: RenderConfig) -> None:
    print("\n== blank guard margins ==")
    rng = np.random.default_rng(5)
    back = rp.render_gray(rp.born_digital(rp.prose_page(rp.texts.PROSE["en"], "Back")))
    fronts = {
        "a paragraph": rp.render_gray(rp.born_digital(rp.column(rp.texts.PROSE["en3"], 72, 700, rp.W - 144, 10))),
        "one word": rp.render_gray(rp.born_digital([rp.Run(72, 400, 9, "Notes")])),
    }
    for contrast in (60, 45, 40, 35, 30, 25, 20):  # grey levels between the paper and the text's ink
        seen = []
        for name, front in fronts.items():
            spec = rp.Scan(paper=240, ink=240 - contrast, noise=4)
            seen.append(f"{name}: {'BLANK' if run(rp.scan_page(rp.scan_image(front, spec, rng), spec), cfg)['blank'] else 'marks'}")
        print(f"text {contrast:3d} levels under the paper (before scan blur)   " + ", ".join(seen))
    for bleed in (20, 30, 44, 60):
        spec = rp.Scan(paper=236, noise=4, bleed=bleed)
        blank = run(rp.scan_page(rp.scan_image(None, spec, rng, back), spec), cfg)["blank"]
        print(f"bleed-through {bleed:3d} levels under the paper (before blur): {'blank' if blank else 'MARKS'}")
    for noise in (6, 10, 14):
        spec = rp.Scan(paper=236, noise=noise, jpeg=50)
        blank = run(rp.scan_page(rp.scan_image(None, spec, rng, back), spec), cfg)["blank"]
        print(f"sensor noise sigma {noise:3d}, JPEG 50: {'blank' if blank else 'MARKS'}")


def corpus(folder: Path, cfg: RenderConfig) -> None:
    print(f"\n== real PDFs under {folder} (no labels: decisions beside today's) ==")
    counts, costs = collections.Counter(), []
    for path in sorted(folder.rglob("*.pdf")):
        try:
            pdf = pdfium.PdfDocument(path)
        except pdfium.PdfiumError:
            continue
        for i in range(len(pdf)):
            page = pdf[i]
            r = measure(page, cfg)
            page.close()
            costs.append(r["router_s"])
            counts[(r["reason"], "today keeps" if r["today_keep"] else "today sends")] += 1
            if r["keep"] != r["today_keep"]:
                print(f"  {path.name} p{i + 1}: {r['reason']} (today {'keeps' if r['today_keep'] else 'sends'})")
        pdf.close()
    for (reason, today), n in sorted(counts.items()):
        print(f"{reason:40} {today:12} {n:4d}")
    print(f"router cost: {ms(costs)} over {len(costs)} pages")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=None)
    args = parser.parse_args()
    cfg = RenderConfig()
    start = time.perf_counter()
    router_pages, blank_pages = rp.router_set(), rp.blank_set()
    print(f"generated {len(router_pages)} router pages and {len(blank_pages)} blank-guard pages "
          f"in {time.perf_counter() - start:.1f} s")
    pages = router_pages + blank_pages
    results = {p.name: run(p.pdf, cfg) for p in pages}
    report_router(router_pages, results)
    report_blank([p for p in pages if p.blank is not None], results)
    print("\n== cost per page (this process, one core) ==")
    print(f"render (text layer + bitmap)   {ms(r['render_s'] for r in results.values())}")
    print(f"router (evidence + decide)     {ms(r['router_s'] for r in results.values())}")
    print(f"blank guard (inspect)          {ms(r['guard_s'] for r in results.values())}")
    print(f"today (usable_text_layer + pure-white test) {ms(r['today_s'] for r in results.values())}")
    sweep_ocr(cfg)
    sweep_ink(cfg)
    if args.corpus:
        corpus(args.corpus, cfg)


if __name__ == "__main__":
    main()
