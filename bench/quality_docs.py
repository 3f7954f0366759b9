"""The generated documents of the quality bench and their checks, built deterministically.

Each document is made to break a raw text layer in one known way — columns written out of order,
justified text hyphenated at line ends (hard and soft hyphens), running headers and footers with
page numbers, footnotes, tables with and without rules, rotated text, a blank page — and its checks
(olmOCR-Bench's JSONL format: present / absent / order / table / baseline) come from where the
typesetter actually put each sentence and cell.

    python bench/quality_docs.py DIR     # writes DIR/gen/*.pdf and DIR/gen/checks.jsonl
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_pages import (  # noqa: E402
    SOFT_HYPHEN,
    Flow,
    Frame,
    Page,
    Rule,
    Text,
    pdf_bytes,
    text_width,
)

PROSE = Path(__file__).resolve().parent / "quality_data" / "prose.txt"

_SUBJECTS = ["The regional council", "A team of volunteers", "The harbour authority", "An independent auditor",
             "The university library", "A committee of residents", "The water company", "A local historian",
             "The planning department", "An engineering consultancy", "The museum curator", "A group of students"]
_VERBS = ["documented", "reviewed", "reconstructed", "catalogued", "questioned", "summarised", "photographed",
          "compared", "published", "investigated", "mapped", "digitised"]
_OBJECTS = ["the maintenance records of the northern embankment", "an inventory of the municipal bridges",
            "the correspondence of the former shipping company", "the accounts of the cooperative dairy",
            "the measurements from the abandoned weather station", "the minutes of the drainage board",
            "the photographs of the demolished warehouses", "the surveys of the flooded meadows",
            "the contracts for the electrification of the tramway", "the registers of the parish school"]
_TAILS = ["during the exceptionally wet autumn", "with considerable administrative difficulty",
          "before the responsibility was transferred elsewhere", "using equipment borrowed from the laboratory",
          "in preparation for the forthcoming anniversary", "despite persistent uncertainty about funding",
          "after consultation with the neighbouring municipalities", "for an exhibition about industrial heritage"]


def sentences() -> list[str]:
    """The written prose first, then as many distinct generated sentences as any document needs."""
    out = [line.strip() for line in PROSE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    rng = random.Random(7)
    combos = [(s, v, o, t) for s in _SUBJECTS for v in _VERBS for o in _OBJECTS for t in _TAILS]
    rng.shuffle(combos)
    return out + [f"{s} {v} {o} {t}." for s, v, o, t in combos]


@dataclasses.dataclass
class Document:
    name: str
    pages: list[Page]
    checks: list[dict]

    @property
    def pdf(self) -> str:
        return f"gen/{self.name}.pdf"


class Checks:
    def __init__(self, name: str):
        self.name, self.rows = name, []

    def add(self, page: int, type_: str, **fields) -> None:
        self.rows.append({"pdf": f"gen/{self.name}.pdf", "page": page + 1,
                          "id": f"{self.name}-p{page + 1}-{type_}-{len(self.rows):03d}", "type": type_, **fields})

    def from_flow(self, flow: Flow, every: int = 4) -> None:
        """Present checks for sentences wholly on one page (every hyphenated one, and every
        ``every``-th other), order checks across each change of column on a page, a baseline
        check per page."""
        page_of = [f.page for f in flow.frames]
        for i, p in enumerate(flow.placed):
            if p.first >= 0 and page_of[p.first] == page_of[p.last] and (p.hyphenated or i % every == 0):
                self.add(page_of[p.first], "present", text=p.text, max_diffs=0)
        for f in range(len(flow.frames) - 1):
            if page_of[f] != page_of[f + 1]:
                continue
            before = [p for p in flow.placed if p.first == p.last == f]
            after = [p for p in flow.placed if p.first == p.last == f + 1]
            if before and after:
                self.add(page_of[f], "order", before=before[-1].text, after=after[0].text, max_diffs=0)
        for page in sorted(set(page_of)):
            self.add(page, "baseline")


def _table(page: Page, checks: Checks, page_index: int, x: float, top: float, widths: list[float],
           rows: list[list[str]], rules: str, size: float = 9.5, pitch: float = 16.0) -> float:
    """Draw a table (rules "grid", "booktabs" or "none") with its header row bold; add table checks
    for cells with neighbours on all sides they have. Returns the y below the table."""
    edges = [x]
    for w in widths:
        edges.append(edges[-1] + w)
    y = top
    lines = [top + pitch * 0.7]
    for r, row in enumerate(rows):
        y -= pitch
        for c, cell in enumerate(row):
            numeric = cell.replace(".", "").replace(",", "").isdigit()
            cx = edges[c + 1] - 5 - text_width(cell, size, r == 0) if numeric and rules != "none" else edges[c] + 5
            page.items.append(Text(cx, y, cell, size, bold=r == 0))
        lines.append(y - pitch * 0.3)
    if rules == "grid":
        for ly in lines:
            page.items.append(Rule(edges[0], ly, edges[-1], ly, 0.5))
        for ex in edges:
            page.items.append(Rule(ex, lines[0], ex, lines[-1], 0.5))
    elif rules == "booktabs":
        for ly, w in ((lines[0], 1.0), (lines[1], 0.5), (lines[-1], 1.0)):
            page.items.append(Rule(edges[0], ly, edges[-1], ly, w))
    for r in range(1, len(rows)):
        for c in range(len(rows[r])):
            if (r + c) % 2 == 0:  # every other cell: its neighbour above and one beside it
                side = {"right": rows[r][c + 1]} if c + 1 < len(rows[r]) else {"left": rows[r][c - 1]}
                if r + 1 < len(rows) and r % 3 == 1:
                    side["down"] = rows[r + 1][c]
                checks.add(page_index, "table", cell=rows[r][c], up=rows[r - 1][c], **side)
    return lines[-1] - pitch


def _furniture(page: Page, header: list[tuple[str, str]], footer: str, size: float = 9.0) -> None:
    for text, align in header:
        x = 54 if align == "left" else page.width - 54 - text_width(text, size)
        page.items.append(Text(x, page.height - 42, text, size))
    if footer:
        page.items.append(Text((page.width - text_width(footer, size)) / 2, 40, footer, size))


def article(source: list[str]) -> Document:
    """Three pages of justified two-column text hyphenated with hard hyphens, word by word (as TeX
    writes it); page 2 writes its right column first, page 3 writes both columns line by line across
    the gutter and its footer first. Running header with a rule, footer "Page N of 3"."""
    name, checks = "article", Checks("article")
    pages = [Page() for _ in range(3)]
    frames = []
    for p in range(3):
        top = 640 if p == 0 else 720
        frames += [Frame(p, 54, top, 243, 72), Frame(p, 315, top, 243, 72)]
    flow = Flow(pages, frames, size=10, leading=12, hyphen="-", by_word=True, indent=12)
    while flow.lines_left() > 22:
        flow.paragraph([source.pop(0) for _ in range(4)])
    title = "Sediment and Memory: Two Studies of a River Town"
    for p, page in enumerate(pages):
        footer = f"Page {p + 1} of 3"
        if p == 2:
            _furniture(page, [], footer)
        if p == 0:
            page.items.append(Text(54, 700, title, 18, bold=True))
            page.items.append(Text(54, 676, "By the Editorial Board", 11))
        left, right = flow.items[2 * p], flow.items[2 * p + 1]
        items = left + right if p == 0 else right + left
        if p == 2:
            items = sorted(items, key=lambda pi: (-pi[1].y, pi[1].x))
        page.items += [item for _, item in items]
        page.items.append(Rule(54, page.height - 48, 558, page.height - 48, 0.4))
        _furniture(page, [("Journal of Applied Archives", "left"), ("Vol. 12, No. 3", "right")], "" if p == 2 else footer)
        checks.add(p, "absent", text="Journal of Applied Archives")
        checks.add(p, "absent", text=footer)
    checks.add(0, "present", text=title, max_diffs=0)
    checks.add(0, "order", before=title, after=flow.placed[0].text, max_diffs=0)
    checks.from_flow(flow)
    return Document(name, pages, checks.rows)


def report(source: list[str]) -> Document:
    """Four pages of justified single-column text, hyphenated with soft hyphens and written line by
    line with word spacing (as office suites write it); paragraphs marked only by a first-line indent;
    alternating running headers; a footer with the page number; footnotes on pages 1 and 3."""
    name, checks = "report", Checks("report")
    pages = [Page() for _ in range(4)]
    frames = [Frame(p, 72, 700, 468, 120) for p in range(4)]
    flow = Flow(pages, frames, size=11, leading=14, hyphen=SOFT_HYPHEN, by_word=False, indent=18)
    heading = flow.heading("2 Sampling Methods", 14)
    while flow.lines_left() > 24:
        flow.paragraph([source.pop(0) for _ in range(5)])
    flow.commit()
    notes = {0: "1 The gauging records are held by the regional water authority and may be consulted on request.",
             2: "2 Two stations were moved in the second year; their series were joined by overlapping readings."}
    for p, page in enumerate(pages):
        header = [("Annual Report on River Quality", "right")] if p % 2 == 0 else [("Chapter 2: Sampling Methods", "left")]
        footer = f"Confidential draft \u2013 page {p + 1}"
        _furniture(page, header, footer)
        checks.add(p, "absent", text=header[0][0])
        checks.add(p, "absent", text=footer)
        if p in notes:
            page.items += [Rule(72, 100, 200, 100, 0.5), Text(72, 88, notes[p], 8)]
            checks.add(p, "present", text=notes[p][2:], max_diffs=0)
            last = [s for s in flow.placed if s.first == s.last == p][-1]
            checks.add(p, "order", before=last.text, after=notes[p][2:], max_diffs=0)
    checks.add(0, "order", before=heading.text, after=flow.placed[1].text, max_diffs=0)
    checks.from_flow(flow)
    return Document(name, pages, checks.rows)


def tables(source: list[str]) -> Document:
    """Two pages: a fully ruled table, a table aligned by white space only, and a table with only
    top, middle and bottom rules, between paragraphs; page numbers as footers."""
    name, checks = "tables", Checks("tables")
    pages = [Page(), Page()]
    flow = Flow(pages, [Frame(0, 72, 720, 468, 640), Frame(1, 72, 240, 468, 120)], size=10, leading=12.5)
    flow.paragraph([source.pop(0) for _ in range(3)])
    y = _table(pages[0], checks, 0, 72, 610, [110, 90, 120, 80], [
        ["Station", "River", "Discharge m3/s", "Samples"], ["Northbridge", "Alder", "12.4", "52"],
        ["Millford", "Alder", "17.9", "48"], ["Eastgate", "Brook", "3.1", "50"], ["Low Weir", "Tamsin", "25.6", "47"]],
        "grid")
    caption = "Table 1: Gauging stations and their mean discharge."
    pages[0].items.append(Text(72, y, caption, 9))
    checks.add(0, "present", text=caption, max_diffs=0)
    checks.add(0, "order", before=flow.placed[0].text, after=caption, max_diffs=0)
    y = _table(pages[0], checks, 0, 72, y - 40, [120, 130, 110], [
        ["Mineral", "Share in summer", "Share in winter"], ["Quartz", "41 percent", "38 percent"],
        ["Feldspar", "22 percent", "27 percent"], ["Calcite", "9 percent", "4 percent"],
        ["Clay minerals", "28 percent", "31 percent"]], "none")
    pages[0].items.append(Text(72, y, "Table 2: Composition of the suspended sediment.", 9))
    y = _table(pages[1], checks, 1, 72, 700, [100, 70, 70, 70, 70], [
        ["Year", "Spring", "Summer", "Autumn", "Winter"], ["2019", "310", "122", "287", "402"],
        ["2020", "295", "140", "301", "388"], ["2021", "330", "98", "265", "415"],
        ["2022", "302", "117", "279", "397"], ["2023", "318", "131", "290", "409"]], "booktabs")
    pages[1].items.append(Text(72, y, "Table 3: Rainfall per season in millimetres.", 9))
    while flow.lines_left() > 6:
        flow.paragraph([source.pop(0) for _ in range(3)])
    flow.commit()
    for p, page in enumerate(pages):
        _furniture(page, [], str(p + 1))
    checks.from_flow(flow, every=2)
    return Document(name, pages, checks.rows)


def _turn(page: Page) -> Page:
    """A landscape page drawn turned a quarter counter-clockwise on a portrait sheet, with /Rotate 90
    so that a viewer shows it upright."""
    turned = Page(width=page.height, height=page.width, rotate=90)
    for item in page.items:
        if isinstance(item, Rule):
            turned.items.append(Rule(page.height - item.y0, item.x0, page.height - item.y1, item.x1, item.width))
        else:
            turned.items.append(dataclasses.replace(item, x=page.height - item.y, y=item.x, angle=90))
    return turned


def rotated(source: list[str]) -> Document:
    """Page 1: one column with a note set vertically in the left margin, written between two
    paragraphs. Page 2: a two-column landscape page turned on a portrait sheet (/Rotate 90)."""
    name, checks = "rotated", Checks("rotated")
    first, landscape = Page(), Page(width=792, height=612)
    flow = Flow([first], [Frame(0, 90, 720, 450, 90)], size=11, leading=14, hyphen="-", by_word=True, gap=8)
    flow.paragraph([source.pop(0) for _ in range(5)])
    flow.commit()
    note = "Preprint \u2013 not peer reviewed \u2013 version 3"
    first.items.append(Text(50, 300, note, 9, angle=90))
    mark = len(flow.placed)
    flow.items = [[]]
    for _ in range(3):
        flow.paragraph([source.pop(0) for _ in range(4)])
    flow.commit()
    checks.add(0, "present", text=note.replace("\u2013", "-"), max_diffs=0)
    checks.add(0, "order", before=flow.placed[mark - 1].text, after=flow.placed[mark].text, max_diffs=0)
    checks.from_flow(flow)
    wide = Flow([landscape], [Frame(0, 54, 540, 330, 60), Frame(0, 408, 540, 330, 60)], size=10, leading=12.5)
    head = wide.heading("Appendix: Field notes", 13)
    while wide.lines_left() > 26:
        wide.paragraph([source.pop(0) for _ in range(4)])
    wide.commit()
    turned = _turn(landscape)
    inner = Checks(name)
    inner.from_flow(wide)
    for row in inner.rows:
        checks.add(1, row["type"], **{k: v for k, v in row.items() if k not in ("pdf", "page", "id", "type")})
    checks.add(1, "order", before=head.text, after=wide.placed[1].text, max_diffs=0)
    return Document(name, [first, turned], checks.rows)


def newsletter(source: list[str]) -> Document:
    """One page of two stories, each in three ragged-right columns under a full-width heading, the
    second story written first; then a blank page."""
    name, checks = "newsletter", Checks("newsletter")
    page, blank = Page(), Page()
    width = (612 - 108 - 28) / 3
    stories = []
    for top, bottom in ((680, 470), (405, 60)):
        frames = [Frame(0, 54 + i * (width + 14), top, width, bottom) for i in range(3)]
        flow = Flow([page], frames, size=9.5, leading=11.5, justify=False, hyphen=None, by_word=False, gap=4)
        while flow.lines_left() > 16:
            flow.paragraph([source.pop(0) for _ in range(3)])
        stories.append(flow)
    stories[1].commit()
    masthead, second = "The Valley Courier", "Railway society plans an extension across the valley"
    page.items.append(Text(54, 730, masthead, 22, bold=True))
    stories[0].commit()
    page.items.append(Text(54, 430, second, 14, bold=True))
    blank.items.append(Rule(54, 400, 558, 400, 0.3))
    for flow in stories:
        checks.from_flow(flow)
    checks.add(0, "order", before=stories[0].placed[-1].text, after=second, max_diffs=0)
    checks.add(0, "order", before=second, after=stories[1].placed[0].text, max_diffs=0)
    checks.add(1, "baseline", max_length=0)
    return Document(name, [page, blank], checks.rows)


def documents() -> list[Document]:
    source = sentences()
    return [make(source) for make in (article, report, tables, rotated, newsletter)]


def write(folder: Path) -> tuple[list[Path], Path]:
    """Write every generated PDF and one checks file under ``folder/gen``; returns (pdfs, checks)."""
    out = Path(folder) / "gen"
    out.mkdir(parents=True, exist_ok=True)
    pdfs, rows = [], []
    for doc in documents():
        path = Path(folder) / doc.pdf
        path.write_bytes(pdf_bytes(doc.pages))
        pdfs.append(path)
        rows += doc.checks
    checks = out / "checks.jsonl"
    checks.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return pdfs, checks


if __name__ == "__main__":
    pdfs, checks = write(Path(sys.argv[1]))
    print(f"{len(pdfs)} documents and {sum(1 for _ in open(checks))} checks under {checks.parent}")
