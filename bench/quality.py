"""Text quality on pages whose truth is known: the check kinds of olmOCR-Bench (present, absent,
order, table, baseline; rules in bench/quality_rules.py), per check type and overall, for the raw
PDFium text layer (what raypipe's render stage keeps today), the layout-aware text layer
(raypipe.pdf.layout) and any raypipe output folders.

The pages: the generated documents of bench/quality_docs.py (written to --pages-dir, default a
temporary folder, so that raypipe can be run over them too) and hand-labelled pages of the shared
corpus (bench/quality_data/corpus_checks.jsonl, paths relative to the corpus folder).

    python bench/quality.py [--corpus DIR] [--pages-dir DIR] [--outputs NAME=DIR ...]
                            [--failures ENGINE] [--olmocr] [--no-router]

Then, on bench/router.py's labelled pages, the ``--ocr-mode auto`` router's precision, its recall on
clean born-digital pages and the bad text layers it keeps, and the blank guard's false positives and
negatives (each beside the checks they replace).

An output folder holds raypipe's Parquet or JSONL (optionally .gz/.zst) rows; a page's text is
``pages[i].text`` of the row whose ``source`` ends with the check's PDF path. --olmocr also scores
every (check, text) pair with olmOCR's own test classes, when ``olmocr.bench.tests`` imports, and
prints where the two verdicts differ.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pypdfium2 as pdfium

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality_docs  # noqa: E402
import quality_rules  # noqa: E402

HERE = Path(__file__).resolve().parent
CORPUS_CHECKS = HERE / "quality_data" / "corpus_checks.jsonl"
DEFAULT_CORPUS = Path(os.environ.get("RAYPIPE_CORPUS", HERE.parents[1] / "shared" / "corpus" / "sample-files"))
TYPES = ("present", "absent", "order", "table", "baseline")


def load_checks(pages_dir: Path, corpus: Path) -> tuple[list[dict], dict[str, Path]]:
    """All checks (each with a ``set``: gen or corpus) and the file behind each check's ``pdf``."""
    _, gen = quality_docs.write(pages_dir)
    checks = [dict(json.loads(line), set="gen") for line in gen.read_text().splitlines()]
    files = {c["pdf"]: pages_dir / c["pdf"] for c in checks}
    if corpus.exists():
        for line in CORPUS_CHECKS.read_text().splitlines():
            if line.strip():
                c = dict(json.loads(line), set="corpus")
                checks.append(c)
                files[c["pdf"]] = corpus / c["pdf"]
    else:
        print(f"(no corpus at {corpus}: generated pages only)")
    return checks, files


def raw_text_layer(path: Path) -> dict[int, str]:
    """Page number → the text raypipe's render stage keeps today (raypipe.render.page_text)."""
    from raypipe.pdf.pages import page_text

    pdf = pdfium.PdfDocument(str(path))
    try:
        out = {}
        for i in range(len(pdf)):
            page = pdf[i]
            out[i + 1] = page_text(page)
            page.close()
        return out
    finally:
        pdf.close()


def layout_text_layer(path: Path) -> dict[int, str]:
    from raypipe.pdf.layout import extract_pages

    pdf = pdfium.PdfDocument(str(path))
    try:
        return {i + 1: p.text for i, p in enumerate(extract_pages(pdf))}
    finally:
        pdf.close()


def _rows(folder: Path):
    for path in sorted(folder.rglob("*")):
        if any(part.startswith(("_", ".")) for part in path.relative_to(folder).parts) or not path.is_file():
            continue
        if path.suffix == ".parquet":
            yield from pq.read_table(path, columns=["source", "pages"]).to_pylist()
        elif ".jsonl" in path.name:
            with pa.input_stream(str(path), compression="detect") as f:
                for line in f.read().decode().splitlines():
                    if line.strip():
                        yield json.loads(line)


def output_texts(folder: Path, pdfs: list[str]) -> dict[str, dict[int, str]]:
    """Check PDF path → page number → text, from a raypipe output folder."""
    out: dict[str, dict[int, str]] = {}
    for row in _rows(folder):
        source = str(row.get("source") or "").replace("\\", "/")
        for key in pdfs:
            if source == key or source.endswith("/" + key):
                out[key] = {p["page_number"]: p.get("text") for p in row.get("pages") or []}
    return out


def score(checks: list[dict], texts: dict[str, dict[int, str]]) -> list[tuple[dict, bool, str]]:
    results = []
    for c in checks:
        text = texts.get(c["pdf"], {}).get(c["page"])
        ok, why = quality_rules.run(c, text)
        results.append((c, ok, why))
    return results


def table(names: list[str], results: dict[str, list]) -> str:
    head = f"{'check type':<14}{'checks':>7}" + "".join(f"{n:>18}" for n in names)
    lines = [head, "-" * len(head)]

    def row(label, pick):
        some = results[names[0]]
        n = sum(1 for c, _, _ in some if pick(c))
        if not n:
            return
        cells = "".join(f"{100 * sum(ok for c, ok, _ in results[e] if pick(c)) / n:>17.1f}%" for e in names)
        lines.append(f"{label:<14}{n:>7}" + cells)

    for t in TYPES:
        row(t, lambda c, t=t: c["type"] == t)
    lines.append("-" * len(head))
    row("all checks", lambda c: True)
    means = "".join(f"{100 * _mean_of_types(results[e]):>17.1f}%" for e in names)
    lines.append(f"{'mean of types':<21}" + means)
    row("generated", lambda c: c["set"] == "gen")
    row("corpus", lambda c: c["set"] == "corpus")
    return "\n".join(lines)


def _mean_of_types(results) -> float:
    per = defaultdict(list)
    for c, ok, _ in results:
        per[c["type"]].append(ok)
    return sum(sum(v) / len(v) for v in per.values()) / len(per)


def olmocr_agreement(checks: list[dict], engines: dict[str, dict]) -> None:
    try:
        from olmocr.bench.tests import load_single_test
    except ImportError as e:
        print(f"\n--olmocr: olmocr.bench.tests does not import here ({e}); install olmocr with its bench extra")
        return
    agree, differ = defaultdict(int), []
    for name, texts in engines.items():
        for c in checks:
            text = texts.get(c["pdf"], {}).get(c["page"])
            if text is None:
                continue
            data = {k: v for k, v in c.items() if k != "set"}
            theirs = load_single_test(data).run(text)[0]
            ours = quality_rules.run(c, text)[0]
            agree[c["type"]] += ours == theirs
            if ours != theirs:
                differ.append((name, c["id"], ours, theirs))
    total = sum(agree.values()) + len(differ)
    print(f"\nolmOCR's scorer agrees on {sum(agree.values())} of {total} verdicts")
    for name, cid, ours, theirs in differ[:20]:
        print(f"  {name:<10} {cid:<40} ours={ours} olmocr={theirs}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the shared sample corpus folder")
    ap.add_argument("--pages-dir", type=Path, help="where to write the generated PDFs (default: a temporary folder)")
    ap.add_argument("--outputs", nargs="*", default=[], metavar="NAME=DIR", help="raypipe output folders to score")
    ap.add_argument("--failures", metavar="ENGINE", help="list the failed checks of this engine (raw, layout or NAME)")
    ap.add_argument("--olmocr", action="store_true", help="compare every verdict with olmOCR's own scorer")
    ap.add_argument("--no-router", dest="router", action="store_false",
                    help="leave out the router and blank-guard figures (bench/router.py has them in full)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        checks, files = load_checks(args.pages_dir or Path(tmp), args.corpus)
        engines = {"raw": {}, "layout": {}}
        for key, path in files.items():
            engines["raw"][key] = raw_text_layer(path)
            engines["layout"][key] = layout_text_layer(path)
    for spec in args.outputs:
        name, _, folder = spec.partition("=")
        engines[name] = output_texts(Path(folder), list(files))
        print(f"{name}: {len(engines[name])} of {len(files)} checked documents found in {folder}")
    results = {name: score(checks, texts) for name, texts in engines.items()}
    docs = len({c["pdf"] for c in checks})
    pages = len({(c["pdf"], c["page"]) for c in checks})
    print(f"\n{len(checks)} checks on {pages} pages of {docs} documents (raw = PDFium text layer, "
          f"layout = raypipe.pdf.layout)\n")
    print(table(list(engines), results))
    if args.failures:
        print(f"\nfailed checks of {args.failures}:")
        for c, ok, why in results[args.failures]:
            if not ok:
                print(f"  {c['id']:<40} {why}")
    if args.olmocr:
        olmocr_agreement(checks, engines)
    if args.router:
        router_figures()
    return 0


def router_figures() -> None:
    """--ocr-mode auto's router (precision, recall on clean born-digital pages, bad text layers kept)
    and the blank guard (false positives and negatives) on bench/router.py's labelled pages."""
    import router
    import router_pages

    from raypipe.config import RenderConfig

    cfg = RenderConfig()
    router_set, blank_set = router_pages.router_set(), router_pages.blank_set()
    results = {p.name: router.run(p.pdf, cfg) for p in router_set + blank_set}
    print()
    router.report_router(router_set, results)
    router.report_blank([p for p in router_set + blank_set if p.blank is not None], results)


if __name__ == "__main__":
    sys.exit(main())
