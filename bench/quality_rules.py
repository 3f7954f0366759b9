"""The scoring rules of the quality bench: the check kinds of olmOCR-Bench, re-implemented here.

olmOCR's own scorer (``olmocr.bench.tests``) imports Playwright, BeautifulSoup, rapidfuzz and
fuzzysearch at module level (Playwright for its math checks alone, some 165 MB), so it cannot be
used without heavy dependencies; these rules follow it, in plain Python:

- text is normalised the same way (whitespace collapsed, Markdown bold/italic marks dropped,
  NFC, typographic quotes and dashes made ASCII);
- ``present`` / ``absent``: the text occurs (does not occur) with at most ``max_diffs`` edits
  (Levenshtein distance to the best-matching substring; olmOCR turns ``max_diffs`` into a
  threshold on rapidfuzz's ``partial_ratio`` instead, which agrees except near the threshold);
- ``order``: some match of ``before`` (at most ``max_diffs`` edits) starts before some match of
  ``after``, as olmOCR does with ``fuzzysearch.find_near_matches``;
- ``table``: a cell of a Markdown or HTML table matches ``cell`` and its neighbours match
  up/down/left/right, similarity by rapidfuzz's ``ratio`` (2·LCS / total length), thresholds as
  olmOCR's (at least 0.5, else 1 - max_diffs/len); a neighbour beyond the table's edge is not
  checked, as in olmOCR;
- ``baseline``: not blank (or at most ``max_length`` letters and digits for a blank page), no
  n-gram (n <= 5) repeated more than ``max_repeats`` times at the end, no CJK or emoji.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser
from typing import Optional

_FANCY = {"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
          "\uff3f": "_", "\u2013": "-", "\u2014": "-", "\u2011": "-", "\u2012": "-", "\u2212": "-",
          "\u00b5": "\u03bc"}
_DISALLOWED = re.compile("[\u4e00-\u9fff\u3040-\u309f\u30a0-\u30ff\U0001f600-\U0001f64f\U0001f300-\U0001f5ff"
                         "\U0001f680-\U0001f6ff\U0001f1e0-\U0001f1ff]")


def normalize(text: str) -> str:
    text = re.sub(r"<br/?>", " ", text or "")
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\*\*(.*?)\*\*", r"\1", text)
    text = re.sub(r"__(.*?)__", r"\1", text)
    text = re.sub(r"</?[bi]>", "", text)
    text = re.sub(r"\*(.*?)\*", r"\1", text)
    text = re.sub(r"_(.*?)_", r"\1", text)
    text = unicodedata.normalize("NFC", text)
    for fancy, plain in _FANCY.items():
        text = text.replace(fancy, plain)
    return text


def match_ends(pattern: str, text: str, k: int) -> list[int]:
    """End offsets (exclusive) in ``text`` of substrings within ``k`` edits of ``pattern``
    (Myers' bit-parallel approximate string matching; Levenshtein distance)."""
    m = len(pattern)
    if m == 0:
        return list(range(len(text) + 1))
    peq: dict[str, int] = {}
    for i, ch in enumerate(pattern):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    mask, high = (1 << m) - 1, 1 << (m - 1)
    pv, mv, score = mask, 0, m
    ends = []
    for j, ch in enumerate(text):
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & mask
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = (ph << 1) & mask
        mh = (mh << 1) & mask
        pv = (mh | ~(xv | ph)) & mask
        mv = ph & xv
        if score <= k:
            ends.append(j + 1)
    return ends


def best_distance(pattern: str, text: str, limit: int) -> Optional[int]:
    """The fewest edits that turn ``pattern`` into some substring of ``text``, if at most ``limit``."""
    if pattern in text:
        return 0
    for k in range(1, limit + 1):
        if match_ends(pattern, text, k):
            return k
    return None


def match_starts(pattern: str, text: str, k: int) -> list[int]:
    return sorted(len(text) - e for e in match_ends(pattern[::-1], text[::-1], k))


def ratio(a: str, b: str) -> float:
    """rapidfuzz's ``fuzz.ratio`` / 100: 2·LCS(a, b) / (len(a) + len(b))."""
    if not a and not b:
        return 1.0
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
    return 2 * prev[-1] / (len(a) + len(b))


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Runs of two or more lines containing '|', separator rows dropped, outer pipes trimmed."""
    tables, run = [], []
    for line in text.strip().split("\n") + [""]:
        if "|" in line:
            run.append(line)
            continue
        if len(run) >= 2:
            rows = []
            for row in run:
                body = row.replace("|", "").strip()
                if body and all(c in "- :" for c in body) or (row.strip() and all(c in "- :|" for c in row)):
                    continue
                cells = [c.strip() for c in row.split("|")]
                if cells and cells[0] == "":
                    cells = cells[1:]
                if cells and cells[-1] == "":
                    cells = cells[:-1]
                if cells:
                    rows.append(cells)
            if rows:
                tables.append(rows)
        run = []
    return tables


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.stack, self.cell = [], [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.stack.append([])
        elif tag == "tr" and self.stack:
            self.stack[-1].append([])
        elif tag in ("td", "th") and self.stack and self.stack[-1]:
            a = dict(attrs)
            self.cell = [[], int(a.get("rowspan") or 1), int(a.get("colspan") or 1)]
        elif tag == "br" and self.cell:
            self.cell[0].append("\n")

    def handle_data(self, data):
        if self.cell:
            self.cell[0].append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell and self.stack and self.stack[-1]:
            self.stack[-1][-1].append(("".join(self.cell[0]).strip(), self.cell[1], self.cell[2]))
            self.cell = None
        elif tag == "table" and self.stack:
            self.tables.append(_grid(self.stack.pop()))


def _grid(rows) -> list[list[str]]:
    """Rows of (text, rowspan, colspan) to a grid: a rowspan repeats the text below, a colspan
    leaves the covered cells empty (as olmOCR's HTML table parser does)."""
    filled: dict[tuple[int, int], str] = {}
    out = []
    for r, row in enumerate(rows):
        cells, c = [], 0
        for text, rowspan, colspan in row:
            while (r, c) in filled:
                cells.append(filled[(r, c)])
                c += 1
            cells.append(text)
            for i in range(rowspan):
                for j in range(colspan):
                    if i or j:
                        filled[(r + i, c + j)] = text if j == 0 else ""
            c += colspan
        out.append(cells)
    return out


def all_tables(text: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(text)
    tables = markdown_tables(text) + parser.tables
    width = [max((len(r) for r in t), default=0) for t in tables]
    return [[row + [""] * (w - len(row)) for row in t] for t, w in zip(tables, width) if w]


def _threshold(expected: str, max_diffs: int) -> float:
    return max(0.5, 1.0 - max_diffs / (len(expected) or 1))


def run_table(check: dict, text: str) -> tuple[bool, str]:
    cell, diffs = normalize(check["cell"]), int(check.get("max_diffs", 0))
    tables = all_tables(text)
    if not tables:
        return False, "no tables found"
    for grid in tables:
        for i, row in enumerate(grid):
            for j, value in enumerate(row):
                if ratio(cell, normalize(value)) < _threshold(cell, diffs):
                    continue
                ok = True
                for side, (di, dj) in (("up", (-1, 0)), ("down", (1, 0)), ("left", (0, -1)), ("right", (0, 1))):
                    want = normalize(check.get(side) or "")
                    ni, nj = i + di, j + dj
                    if want and 0 <= ni < len(grid) and 0 <= nj < len(row):
                        if ratio(want, normalize(grid[ni][nj])) < _threshold(want, diffs):
                            ok = False
                if ok:
                    return True, ""
    return False, f"no cell {cell!r} with the expected neighbours"


def _repeats(text: str, size: int) -> int:
    target, count, pos = text[-size:], 0, len(text) - size
    while pos >= 0 and text[pos:pos + size] == target:
        count, pos = count + 1, pos - size
    return count


def run_baseline(check: dict, text: str) -> tuple[bool, str]:
    letters = sum(1 for c in text if c.isalnum())
    if check.get("max_length") is not None:
        return letters <= check["max_length"], f"{letters} letters and digits on a blank page"
    if letters == 0:
        return False, "no letters or digits"
    flat = re.sub(r"\s+", " ", text)
    for size in range(1, 6):
        if len(flat) >= size and _repeats(flat, size) > check.get("max_repeats", 30):
            return False, f"ends with a {size}-gram repeated {_repeats(flat, size)} times"
    found = _DISALLOWED.findall(text)
    if found and check.get("check_disallowed_characters", True):
        return False, f"disallowed characters {found[:5]}"
    return True, ""


def run(check: dict, text: Optional[str]) -> tuple[bool, str]:
    """(passed, why not) for one check on one page's text; no text at all fails every check."""
    if text is None:
        return False, "no text for this page"
    kind, diffs = check["type"], int(check.get("max_diffs", 0))
    if kind in ("present", "absent"):
        want, have = normalize(check["text"]), normalize(text)
        if not check.get("case_sensitive", True):
            want, have = want.lower(), have.lower()
        found = best_distance(want, have, diffs) is not None
        if kind == "present":
            return found, "" if found else f"not found within {diffs} edits: {want[:60]!r}"
        return not found, "" if not found else f"found: {want[:60]!r}"
    if kind == "order":
        have = normalize(text)
        before = match_starts(normalize(check["before"]), have, diffs)
        after = match_starts(normalize(check["after"]), have, diffs)
        if not before or not after:
            return False, f"{'before' if not before else 'after'} text not found"
        return (True, "") if before[0] < after[-1] else (False, "after comes first")
    if kind == "table":
        return run_table(check, text)
    if kind == "baseline":
        return run_baseline(check, text)
    raise ValueError(f"unknown check type {kind!r}")
