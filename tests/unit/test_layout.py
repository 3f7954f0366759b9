"""raypipe.pdf.layout on generated PDFs whose truth is known exactly (real PDFium on real files):
columns read column by column whatever order the content stream writes them in, hyphenation and
soft hyphens undone, paragraphs kept whole, running headers, footers and page numbers moved to their
own fields, ruled and unruled tables as Markdown, turned text, and hostile pages."""

from __future__ import annotations

import re

import pypdfium2 as pdfium
import pytest
from helpers import layout_pages
from quality_pages import SOFT_HYPHEN, Flow, Frame, Page, Rule, Text, pdf_bytes  # noqa: E402

from raypipe.pdf.layout import analyse_page, compose, running_furniture

WORDS = ("archive harbour ledger survey council meadow station bridge record river valley tramway "
         "embankment observatory telescope bakery oven railway timetable junction").split()


def sentences(n: int, start: int = 0) -> list[str]:
    """Distinct sentences without digits, each naming its own number in words."""
    names = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
             "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango"]
    out = []
    for i in range(start, start + n):
        w = [WORDS[(i * 7 + k) % len(WORDS)] for k in range(9)]
        out.append(f"Sentence {names[i % 20]} {names[i // 20 % 20]} mentions the {' and the '.join(w[:3])} "
                   f"near the {w[3]} by the {w[4]}.")
    return out


def extract(pages: list[Page]):
    return layout_pages(pages)


def paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()]


@pytest.mark.parametrize("stream", ["in order", "right column first", "line by line across the gutter"])
def test_two_columns_come_out_column_by_column(stream):
    page = Page()
    flow = Flow([page], [Frame(0, 54, 720, 243, 72), Frame(0, 315, 720, 243, 72)], hyphen=None, by_word=False)
    text = sentences(60)
    while flow.frame == 0 or flow.lines_left() > 10:
        flow.paragraph([text.pop(0) for _ in range(3)])
    left, right = flow.items
    items = {"in order": left + right, "right column first": right + left,
             "line by line across the gutter": sorted(left + right, key=lambda pi: (-pi[1].y, pi[1].x))}[stream]
    page.items += [item for _, item in items]
    [out] = extract([page])
    placed = [p.text for p in flow.placed]
    positions = [out.text.find(s) for s in placed]
    assert -1 not in positions, [s for s, at in zip(placed, positions) if at < 0]
    assert positions == sorted(positions)  # every sentence, in the order it was set, across both columns


def test_full_width_title_then_columns_then_full_width_heading():
    page = Page()
    first = Flow([page], [Frame(0, 54, 660, 160, 480), Frame(0, 230, 660, 160, 480), Frame(0, 406, 660, 160, 480)],
                 size=9, leading=11, justify=False, hyphen=None, by_word=False)
    second = Flow([page], [Frame(0, 54, 430, 245, 80), Frame(0, 313, 430, 245, 80)], size=9, leading=11,
                  justify=False, hyphen=None, by_word=False)
    text = sentences(80)
    for flow, left in ((first, 8), (second, 8)):
        while flow.lines_left() > left:
            flow.paragraph([text.pop(0) for _ in range(2)])
    second.commit()
    page.items.append(Text(54, 700, "A Title Over Three Columns Of Text", 20, bold=True))
    first.commit()
    page.items.append(Text(54, 455, "A heading over the two columns below it", 13, bold=True))
    [out] = extract([page])
    order = ["A Title Over Three Columns Of Text"] + [p.text for p in first.placed] + \
            ["A heading over the two columns below it"] + [p.text for p in second.placed]
    positions = [out.text.find(s) for s in order]
    assert -1 not in positions and positions == sorted(positions)


def lines_page(lines: list[str], x: float = 72, top: float = 700, size: float = 11, leading: float = 14) -> Page:
    return Page(items=[Text(x, top - i * leading, line, size) for i, line in enumerate(lines)])


def test_hyphenated_words_are_joined_and_compounds_kept():
    [out] = extract([lines_page([
        "The committee accepted its responsi-",
        "bility for the bridges, a state-of-the-",
        "art survey of the Anglo-",
        "Saxon charters and the inter-",
        "national archive.",
    ])])
    assert out.text == ("The committee accepted its responsibility for the bridges, a state-of-the-art survey of "
                        "the Anglo-Saxon charters and the international archive.")


def test_soft_hyphens_vanish_at_line_ends():
    [out] = extract([lines_page([
        f"A soft hyphen ends this line in the middle of a respon{SOFT_HYPHEN}",
        f"sibility, and another one ends this in{SOFT_HYPHEN}",
        "visible line.",
    ])])
    assert out.text == "A soft hyphen ends this line in the middle of a responsibility, and another one ends this invisible line."
    assert "\xad" not in out.text and "\x02" not in out.text


def test_a_paragraph_stays_one_paragraph_and_an_indent_starts_the_next():
    page = Page()
    flow = Flow([page], [Frame(0, 72, 700, 468, 72)], size=11, leading=14, hyphen="-", indent=18)
    first, second = sentences(6), sentences(5, start=6)
    flow.paragraph(first)
    flow.paragraph(second)
    flow.commit()
    [out] = extract([page])
    assert paragraphs(out.text) == [" ".join(first), " ".join(second)]


def test_extra_space_between_paragraphs_separates_them_without_indent():
    page = Page()
    flow = Flow([page], [Frame(0, 72, 700, 300, 72)], size=10, leading=12, justify=False, hyphen=None,
                by_word=False, gap=8)
    parts = [sentences(3, start=k * 3) for k in range(3)]
    for p in parts:
        flow.paragraph(p)
    flow.commit()
    [out] = extract([page])
    assert paragraphs(out.text) == [" ".join(p) for p in parts]


def document_with_furniture(n: int, header: str, footer: str) -> list[Page]:
    pages, text = [], sentences(8 * n)
    for p in range(n):
        page = lines_page([text.pop(0)[:80] for _ in range(8)], top=680)
        page.items.insert(p % 2, Text(72, 750, header, 9))  # anywhere in the content stream
        page.items.append(Text(290, 40, footer.format(p + 1), 9))
        pages.append(page)
    return pages


def test_running_header_and_page_numbers_move_to_their_fields():
    out = extract(document_with_furniture(3, "Quarterly Bulletin of the Harbour Board", "{}"))
    for number, page in enumerate(out, start=1):
        assert page.header == "Quarterly Bulletin of the Harbour Board"
        assert page.footer == str(number)
        assert "Quarterly" not in page.text and not re.search(r"\d", page.text)
        assert page.text.startswith("Sentence")


def test_footer_with_a_page_number_runs_though_its_number_changes():
    out = extract(document_with_furniture(4, "Annual report", "Confidential draft, page {} of 4"))
    assert [p.footer for p in out] == [f"Confidential draft, page {n} of 4" for n in range(1, 5)]
    assert all("Confidential" not in p.text for p in out)


def test_a_lone_page_number_goes_but_lines_that_differ_stay():
    pages = [lines_page(["A first page with its own opening line."] + sentences(5)),
             lines_page(["The second page starts differently."] + sentences(5, start=5)),
             lines_page(["The third page has an opening of its own."] + sentences(5, start=10))]
    pages[0].items.append(Text(300, 40, "7", 9))
    pages[1].items.append(Text(300, 40, "Figure eight shows the harbour.", 9))  # a last line, not a number
    pages[2].items.append(Text(300, 40, "9", 9))
    out = extract(pages)
    assert out[0].footer == "7" and "7" not in out[0].text
    assert out[1].footer == "" and out[1].text.endswith("Figure eight shows the harbour.")
    assert out[2].footer == "9" and "9" not in out[2].text
    assert out[0].header == out[1].header == out[2].header == ""


def test_a_page_is_never_emptied_by_repetition():
    pages = [lines_page(["The same words on every page"]) for _ in range(3)]
    assert [(p.text, p.header) for p in extract(pages)] == [("The same words on every page", "")] * 3
    two = [lines_page(["The same first line", "and a second line, longer than the first"]) for _ in range(3)]
    assert [(p.text, p.header) for p in extract(two)] == [("and a second line, longer than the first",
                                                           "The same first line")] * 3


TABLE = [["Station", "River", "Discharge", "Samples"], ["Northbridge", "Alder", "12.4", "52"],
         ["Millford", "Alder", "17.9", "48"], ["Low Weir", "Tamsin", "25.6", "47"]]


def table_page(rules: str) -> Page:
    page = Page()
    page.items.append(Text(72, 720, "The table below lists the gauging stations and what they measured.", 10))
    edges = [72, 182, 272, 372, 452]
    top, pitch = 690, 18
    for r, row in enumerate(TABLE):
        for c, cell in enumerate(row):
            page.items.append(Text(edges[c] + 5, top - (r + 1) * pitch + 5, cell, 9.5, bold=r == 0))
    ys = [top - r * pitch for r in range(len(TABLE) + 1)]
    if rules in ("grid", "frame"):
        page.items += [Rule(72, y, 452, y) for y in ys]
        page.items += [Rule(x, ys[0], x, ys[-1]) for x in (edges if rules == "grid" else [72, 452])]
    page.items.append(Text(72, ys[-1] - 20, "Table 1: Gauging stations and their mean discharge.", 9))
    return page


def markdown_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|") and not set(line) <= set("|-: ")]


@pytest.mark.parametrize("rules", ["grid", "none"])
def test_a_table_becomes_markdown_with_the_right_cells(rules):
    [out] = extract([table_page(rules)])
    assert out.tables == 1
    assert markdown_rows(out.text) == TABLE
    before, table, after = out.text.partition(out.text[out.text.index("|"):out.text.rindex("|") + 1])
    assert before.strip() == "The table below lists the gauging stations and what they measured."
    assert after.strip() == "Table 1: Gauging stations and their mean discharge."


def test_merged_cells_of_a_ruled_grid_go_to_their_first_column():
    page = Page()
    rows = [["Country", "Capital", "Currency"], ["Austria", "Vienna", "EUR"], ["Belgium", "Brussels", ""]]
    xs, ys = [72, 172, 272, 372], [700, 680, 660, 640]
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if cell:
                page.items.append(Text(xs[c] + 5, ys[r] - 14, cell, 9.5))
    page.items.append(Text(180, ys[2] - 14 - 20, "Benelux and beyond", 9.5))  # spans the last two columns
    ys.append(620)
    page.items += [Rule(72, y, 372, y) for y in ys]
    page.items += [Rule(x, 620, x, 700) for x in (72, 172, 372)] + [Rule(272, 640, 272, 700)]
    [out] = extract([page])
    assert markdown_rows(out.text) == rows + [["", "Benelux and beyond", ""]]


def test_prose_in_two_columns_is_not_a_table():
    page = Page()
    flow = Flow([page], [Frame(0, 54, 700, 243, 500), Frame(0, 315, 700, 243, 500)], hyphen=None)
    text = sentences(60)
    while flow.frame == 0 or flow.lines_left() > 12:
        flow.paragraph([text.pop(0) for _ in range(2)])
    flow.commit()
    [out] = extract([page])
    assert out.tables == 0 and "|" not in out.text


def test_turned_pages_and_margin_notes():
    landscape = Page(width=792, height=612)
    flow = Flow([landscape], [Frame(0, 54, 540, 330, 60), Frame(0, 408, 540, 330, 60)], size=10, leading=12.5)
    text = sentences(100)
    while flow.frame == 0 or flow.lines_left() > 12:
        flow.paragraph([text.pop(0) for _ in range(3)])
    flow.commit()
    turned = Page(width=612, height=792, rotate=90, items=[
        Text(612 - it.y, it.x, it.text, it.size, angle=90, spacing=it.spacing) for it in landscape.items])
    note = Page(items=lines_page(sentences(4, start=50)).items + [Text(40, 300, "Preprint not peer reviewed", 9, angle=90)])
    out = extract([turned, note])
    positions = [out[0].text.find(p.text) for p in flow.placed]
    assert -1 not in positions and positions == sorted(positions)
    assert paragraphs(out[1].text)[-1] == "Preprint not peer reviewed"
    assert out[1].text.startswith(sentences(1, start=50)[0])


def test_hostile_pages_give_empty_or_plain_text():
    empty, ruled = Page(), Page(items=[Rule(72, 400, 540, 400), Rule(300, 100, 300, 700)])
    odd = Page(items=[Text(72, 700, "(parenthesised) back\\slash | pipe", 10), Text(72, 686, "\u2022 bullet item", 10),
                      Text(700, 400, "Off the page", 10), Text(-200, 400, "Off the other side", 10, angle=90)])
    out = extract([empty, ruled, odd])
    assert [p.text for p in out[:2]] == ["", ""]
    assert paragraphs(out[2].text) == ["(parenthesised) back\\slash | pipe", "\u2022 bullet item"]


def test_one_page_at_a_time_then_the_document_pass():
    pages = document_with_furniture(3, "Quarterly Bulletin of the Harbour Board", "{}")
    pdf = pdfium.PdfDocument(pdf_bytes(pages))
    layouts = []
    for i in range(len(pdf)):
        page = pdf[i]
        layouts.append(analyse_page(page, i + 1))
        page.close()
    pdf.close()  # the analysed pages are plain data: nothing of the document is needed any more
    alone = [compose(layout) for layout in layouts]  # each page by itself
    together = [compose(layout, found) for layout, found in zip(layouts, running_furniture(layouts))]
    assert all("Quarterly" in p.text for p in alone)  # without the document pass the header stays
    assert [p.footer for p in alone] == ["1", "2", "3"]  # a page number is known from one page
    assert [p.header for p in together] == ["Quarterly Bulletin of the Harbour Board"] * 3
    assert [layout.number for layout in layouts] == [1, 2, 3]


def _groups_pairwise(rules):
    """The rule grouping by its definition, every pair compared (the reference for the fast one)."""
    hs = [r for r in rules if abs(r[1] - r[3]) < 1]
    vs = [r for r in rules if abs(r[0] - r[2]) < 1]
    items = [("h", r) for r in hs] + [("v", r) for r in vs]
    group = list(range(len(items)))
    for i, (ki, a) in enumerate(items):
        for j in range(i + 1, len(items)):
            kj, b = items[j]
            if ki != kj:
                h, v = (a, b) if ki == "h" else (b, a)
                linked = (min(h[0], h[2]) - 2 <= v[0] <= max(h[0], h[2]) + 2
                          and min(v[1], v[3]) - 2 <= h[1] <= max(v[1], v[3]) + 2)
            else:
                linked = ki == "h" and abs(a[0] - b[0]) < 3 and abs(a[2] - b[2]) < 3
            if linked:
                old, new = group[j], group[i]
                group = [new if g == old else g for g in group]
    out = {}
    for g, (kind, r) in zip(group, items):
        out.setdefault(g, ([], []))[0 if kind == "h" else 1].append(r)
    return sorted(tuple(sorted(h)) + tuple(sorted(v)) for h, v in out.values() if len(h) >= 2)


def test_rule_groups_are_those_of_every_pair_compared():
    import random

    from raypipe.pdf.layout_tables import _rule_groups

    rng = random.Random(7)
    for _ in range(300):
        rules = []
        for _ in range(rng.randint(0, 60)):
            if rng.random() < 0.5:  # horizontal rules of a few widths, some drawn right to left
                x0 = rng.choice([10, 10.5, 12.9, 13, 50]) + rng.random() * rng.choice([0, 1, 5])
                x1, y = x0 + rng.choice([40, 41.5, 44, 100]), rng.uniform(0, 200)
                rules.append((x0, y, x1, y) if rng.random() < 0.8 else (x1, y, x0, y))
            else:
                x, y0 = rng.uniform(0, 200), rng.uniform(0, 200)
                rules.append((x, y0, x, y0 + rng.uniform(1, 100)))
        got = sorted(tuple(sorted(h)) + tuple(sorted(v)) for h, v in _rule_groups(rules))
        assert got == _groups_pairwise(rules), rules
        odd = [(float("nan"), 5, 50, 5), (0, float("inf"), 0, 9), (-float("inf"), 7, 9, 7)]
        assert _rule_groups(rules + odd) == _rule_groups(rules)  # rules that are not finite are left out
