"""Tables for :mod:`raypipe.pdf.layout`: found where the page makes them certain, written as Markdown.

A ruled table is a group of drawn lines that meet or run in parallel over the same width; its
columns come from the vertical rules inside it, or where there are none (top, middle and bottom
rules only) from the white space that separates the text into columns; its rows from the
horizontal rules when the rules form a full grid, else from the text lines. A table without rules
is a region that reading order would cut into columns, whose lines all keep to those columns and
are evenly spaced, with short cells (prose in two columns is not a table). Anything less
certain stays text.
"""

from __future__ import annotations

import bisect
import math
import statistics
from typing import Optional

from raypipe.pdf.layout_order import Block, Span, _intervals, rows_of

CELL_GAP = 0.6  # white space between columns of a table without vertical rules, in line heights
MAX_WORDS = 4.0  # mean words per cell of a table without rules (prose columns have many more)


def _cluster(values: list[float], tol: float) -> list[float]:
    out: list[list[float]] = []
    for v in sorted(values):
        if out and v - out[-1][-1] <= tol:
            out[-1].append(v)
        else:
            out.append([v])
    return [sum(c) / len(c) for c in out]


def _rule_groups(rules: list[tuple]) -> list[tuple[list[tuple], list[tuple]]]:
    """Horizontal and vertical rules in groups: rules that cross, or horizontal rules of the same
    width, one above the other, belong to one group. Near-linear in the rules (a page of dashed lines
    draws thousands): a horizontal rule is checked only against the vertical rules within its x range
    and the horizontal rules in its own and the neighbouring cells of a 3-point grid of (x0, x1)."""
    rules = [r for r in rules if all(map(math.isfinite, r))]  # a rule off to infinity bounds nothing
    hs = [r for r in rules if abs(r[1] - r[3]) < 1]
    vs = [r for r in rules if abs(r[0] - r[2]) < 1]
    parent = list(range(len(hs) + len(vs)))  # horizontal rules first, then vertical ones

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i, j):
        parent[find(i)] = find(j)

    by_x = sorted(range(len(vs)), key=lambda k: vs[k][0])
    xs = [vs[k][0] for k in by_x]
    cells: dict[tuple[int, int], list[int]] = {}
    for i, h in enumerate(hs):
        left, right = min(h[0], h[2]), max(h[0], h[2])
        for k in by_x[bisect.bisect_left(xs, left - 2):bisect.bisect_right(xs, right + 2)]:
            v = vs[k]
            if min(v[1], v[3]) - 2 <= h[1] <= max(v[1], v[3]) + 2:
                union(i, len(hs) + k)
        cells.setdefault((math.floor(h[0] / 3), math.floor(h[2] / 3)), []).append(i)
    for (cx, cy), members in cells.items():
        for i in members[1:]:  # one cell is 3 points wide: its rules are all within 3 points of each other
            union(i, members[0])
        for dx, dy in ((0, 1), (1, -1), (1, 0), (1, 1)):  # each pair of neighbouring cells once
            other = cells.get((cx + dx, cy + dy))
            if other and find(members[0]) != find(other[0]):
                if any(abs(hs[i][0] - hs[j][0]) < 3 and abs(hs[i][2] - hs[j][2]) < 3 for i in members for j in other):
                    union(members[0], other[0])
    groups: dict[int, tuple[list, list]] = {}
    for i, r in enumerate(hs + vs):
        g = groups.setdefault(find(i), ([], []))
        (g[0] if i < len(hs) else g[1]).append(r)
    return [g for g in groups.values() if len(g[0]) >= 2]


def _cell_text(spans: list[Span]) -> str:
    out = ""
    for row in rows_of(spans):
        line = " ".join(s.text for s in sorted(row, key=lambda s: s.x0))
        if out.endswith("\x02"):
            out = out[:-1] + line if line[:1].islower() else out[:-1] + "-" + line
        else:
            out = (out + " " + line).strip()
    return out.replace("\x02", "-").replace("|", "\\|").strip()


def markdown(grid: list[list[str]]) -> str:
    width = max(len(r) for r in grid)
    rows = [r + [""] * (width - len(r)) for r in grid]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])


def _gaps(spans: list[Span], gap: float) -> list[float]:
    """Column boundaries: the middles of white-space bands at least ``gap`` wide, less those that no
    line has text on both sides of (a heading set left over figures set right is one column)."""
    merged = _intervals([(s.x0, s.x1) for s in spans])
    keep = [(a[1] + b[0]) / 2 for a, b in zip(merged, merged[1:]) if b[0] - a[1] >= gap]
    rows = rows_of(spans)
    k = 0
    while k < len(keep):
        if any({k, k + 1} <= {sum(1 for x in keep if s.x0 >= x) for s in row} for row in rows):
            k += 1
        else:
            del keep[k]
            k = 0
    return keep


def _grid(spans: list[Span], xs: list[float], bands: Optional[list[float]],
          walls: Optional[list[list[tuple]]] = None) -> list[list[list[Span]]]:
    """Spans into cells: column by the left edge against boundaries ``xs``; row by the horizontal
    rules ``bands`` (y values, top first) when given, else by text line. ``walls`` (per boundary,
    the vertical rules drawn there) lets a cell that spans columns go to the first of them."""
    if bands:
        rows = [[] for _ in range(len(bands) - 1)]
        for s in spans:
            mid = (s.y0 + s.y1) / 2
            k = sum(1 for y in bands[1:-1] if mid < y)
            rows[k].append(s)
        rows = [r for r in rows if r]
    else:
        rows = rows_of(spans)
    grid = []
    for row in rows:
        cells: list[list[Span]] = [[] for _ in range(len(xs) + 1)]
        for s in row:
            col, mid = sum(1 for x in xs if s.x0 + 0.5 >= x), (s.y0 + s.y1) / 2
            while walls and col and not any(min(r[1], r[3]) - 1 <= mid <= max(r[1], r[3]) + 1 for r in walls[col - 1]):
                col -= 1
            cells[col].append(s)
        grid.append(cells)
    return grid


def _certain(grid, ruled_columns: bool, max_words: float) -> bool:
    if len(grid) < 2 or len(grid[0]) < 2:
        return False
    filled = [cell for row in grid for cell in row if cell]
    if len(filled) < 0.5 * len(grid) * len(grid[0]) or sum(1 for row in grid if sum(1 for c in row if c) >= 2) < 2:
        return False
    if ruled_columns:
        return True
    words = statistics.mean(sum(len(s.text.split()) for s in cell) for cell in filled)
    return words <= max_words


def _table(spans: list[Span], xs: list[float], bands, ruled_columns: bool, max_words: float,
           walls=None) -> Optional[Block]:
    grid = _grid(spans, xs, bands, walls)
    if not _certain(grid, ruled_columns, max_words):
        return None
    text = markdown([[_cell_text(cell) for cell in row] for row in grid])
    return Block(min(s.x0 for s in spans), min(s.y0 for s in spans), max(s.x1 for s in spans),
                 max(s.y1 for s in spans), markdown=text)


def _ruled(spans: list[Span], rules: list[tuple], unit: float) -> tuple[list[Block], list[Span]]:
    tables = []
    for hs, vs in _rule_groups(rules):
        x0 = min(min(r[0], r[2]) for r in hs + vs)
        x1 = max(max(r[0], r[2]) for r in hs + vs)
        y0 = min(min(r[1], r[3]) for r in hs + vs)
        y1 = max(max(r[1], r[3]) for r in hs + vs)
        inside = [s for s in spans if x0 - 1 <= (s.x0 + s.x1) / 2 <= x1 + 1 and y0 - 1 <= (s.y0 + s.y1) / 2 <= y1 + 1]
        if len(inside) < 4:
            continue
        xs = [x for x in _cluster([r[0] for r in vs], 2) if x0 + 2 < x < x1 - 2]
        bands, walls = None, None
        if xs:
            bands = sorted(_cluster([r[1] for r in hs], 1.5), reverse=True)
            if len(bands) < 2:  # every horizontal rule at one height (a cross, a form's dividers): no rows
                continue
            walls = [[r for r in vs if abs(r[0] - x) <= 2] for x in xs]
        elif len(_cluster([r[1] for r in hs], 1.5)) >= 3:  # top, middle and bottom rules
            xs = _gaps(inside, CELL_GAP * unit)
        else:
            continue
        table = _table(inside, xs, bands, bool(walls), 1.5 * MAX_WORDS, walls)
        if table:
            tables.append(table)
            spans = [s for s in spans if not any(s is t for t in inside)]
    return tables, spans


def aligned_table(blocks: list[Block], gutter: float):
    """The region as (blocks above, a table, blocks below) when white space cuts it into columns
    that its lines keep to: at least three evenly spaced lines with text in two columns or more,
    short cells; with only two columns, one of them narrow (terms and their meanings, entries and
    their page numbers), so that prose or an index set in two columns stays text. Lines at the top
    or bottom with text in one column only (a heading, a caption) stay outside. None otherwise."""
    if any(b.span is None for b in blocks):
        return None
    rows = rows_of([b.span for b in blocks])
    above: list[list[Span]] = []
    below: list[list[Span]] = []
    while len(rows) >= 3:
        spans = [s for row in rows for s in row]
        xs = _gaps(spans, gutter)
        if not xs:
            return None
        grid = _grid(spans, xs, None)
        filled = [sum(1 for c in row if c) for row in grid]
        if filled[0] < 2:
            above.append(rows.pop(0))
        elif filled[-1] < 2:
            below.insert(0, rows.pop())
        else:
            break
    if len(rows) < 3 or not _regular(rows) or any(f < 2 for f in filled):
        return None
    if len(xs) == 1:
        widths = [max((s.x1 - s.x0 for row in grid for s in row[k]), default=0) for k in (0, 1)]
        if min(widths) > 0.6 * max(widths):
            return None
    table = _table(spans, xs, None, False, MAX_WORDS)
    if table is None:
        return None
    wrap = lambda rs: [Block(s.x0, s.y0, s.x1, s.y1, span=s) for r in rs for s in r]  # noqa: E731
    return wrap(above), table, wrap(below)


def _regular(rows: list[list[Span]]) -> bool:
    """Rows evenly spaced (within a third of the usual pitch), as a table's are and the scattered
    labels of a chart are not."""
    tops = [max(s.y1 for s in row) for row in rows]
    pitches = [a - b for a, b in zip(tops, tops[1:])]
    usual = statistics.median(pitches)
    return all(abs(p - usual) <= usual / 3 for p in pitches)


def find_tables(spans: list[Span], rules: list[tuple]) -> tuple[list[Block], list[Span]]:
    """(ruled table blocks, the spans that are not in one). Tables without rules are found during
    reading order, by :func:`aligned_table`."""
    if not spans:
        return [], spans
    unit = statistics.median(s.size for s in spans)
    return _ruled(spans, rules, unit) if rules else ([], spans)
