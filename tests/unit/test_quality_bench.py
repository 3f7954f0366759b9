"""The quality bench's scorer (bench/quality_rules.py), its generated pages (bench/quality_docs.py)
and its reading of raypipe output folders (bench/quality.py): every check kind passes and fails on
hand-made texts, the fuzzy matching agrees with a plain dynamic-programming reference, and the
generated documents come out the same on every run."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
import quality  # noqa: E402
import quality_docs  # noqa: E402
from quality_rules import match_ends, normalize, ratio, run  # noqa: E402


def check(type_, **fields):
    return {"pdf": "x.pdf", "page": 1, "id": "t", "type": type_, **fields}


def test_present_and_absent_count_edits():
    text = "The harbour authority published\nthe surveys of the flooded meadows."
    assert run(check("present", text="published the surveys"), text)[0]  # a line break is a space
    assert not run(check("present", text="published teh surveys"), text)[0]
    assert run(check("present", text="published teh surveys", max_diffs=2), text)[0]
    assert not run(check("present", text="responsibility"), "responsi\x02bility")[0]
    assert run(check("present", text="responsibility", max_diffs=1), "responsi\x02bility")[0]
    assert not run(check("present", text="Harbour", case_sensitive=True), text)[0]
    assert run(check("present", text="Harbour", case_sensitive=False), text)[0]
    assert run(check("absent", text="Journal of Archives"), text)[0]
    assert not run(check("absent", text="flooded meadows"), text)[0]
    assert not run(check("present", text="anything"), None)[0]


def test_order_needs_both_and_the_right_way_round():
    text = "First comes the title. Then the body follows."
    assert run(check("order", before="the title", after="the body"), text)[0]
    assert not run(check("order", before="the body", after="the title"), text)[0]
    assert not run(check("order", before="the title", after="an epilogue"), text)[0]
    assert run(check("order", before="teh title", after="the body", max_diffs=2), text)[0]


def test_normalisation_makes_typography_plain():
    assert normalize("\u201cQuoted\u201d \u2013 **bold**  and\n_italic_") == '"Quoted" - bold and italic'
    assert run(check("present", text='He said "yes" - twice.'), "He said \u201cyes\u201d \u2014 twice.")[0]


MARKDOWN = """Intro.

| Station | River | Flow |
|---|---|---|
| Northbridge | Alder | 12.4 |
| Millford | Alder | 17.9 |

After."""


def test_table_neighbours_in_markdown():
    assert run(check("table", cell="Alder", up="River", down="Alder", left="Northbridge", right="12.4"), MARKDOWN)[0]
    assert not run(check("table", cell="Alder", left="Millford", right="12.4", up="River"), MARKDOWN)[0]
    assert run(check("table", cell="17.9", right="anything", down="anything"), MARKDOWN)[0]  # beyond the edge: unchecked
    assert not run(check("table", cell="Alder", up="Flow"), MARKDOWN)[0]
    assert not run(check("table", cell="Northbridge", right="Alder"), "Northbridge Alder 12.4")[0]  # no table


def test_table_neighbours_in_html_with_spans():
    html = ("<table><tr><th>Country</th><th>Capital</th><th>Currency</th></tr>"
            "<tr><td rowspan=2>Benelux</td><td>Brussels</td><td colspan=2>EUR</td></tr>"
            "<tr><td>Amsterdam</td><td>EUR</td></tr></table>")
    assert run(check("table", cell="Brussels", up="Capital", down="Amsterdam", left="Benelux"), html)[0]
    assert run(check("table", cell="Amsterdam", left="Benelux"), html)[0]  # a rowspan repeats below
    assert not run(check("table", cell="Brussels", left="Country"), html)[0]


def test_baseline_blank_looping_and_foreign_scripts():
    assert run(check("baseline"), "A page of ordinary text.")[0]
    assert not run(check("baseline"), "   \n  ")[0]
    assert not run(check("baseline"), "Intro " + "la " * 40)[0]
    assert run(check("baseline"), "Intro " + "la " * 20)[0]
    assert not run(check("baseline"), "Text with \u4e2d\u6587 in it")[0]
    assert run(check("baseline", max_length=0), "")[0]
    assert not run(check("baseline", max_length=3), "four")[0]
    with pytest.raises(ValueError):
        run(check("math"), "x")


def _levenshtein_substring(p: str, t: str) -> list[int]:
    """Reference: the least edit distance of p to a substring of t ending at each offset."""
    prev = [0] * (len(t) + 1)
    for i, pc in enumerate(p, 1):
        cur = [i] + [0] * len(t)
        for j, tc in enumerate(t, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (pc != tc))
        prev = cur
    return prev


def test_bit_parallel_matching_agrees_with_dynamic_programming():
    rng = random.Random(3)
    for _ in range(300):
        t = "".join(rng.choice("abc ") for _ in range(rng.randint(0, 40)))
        p = "".join(rng.choice("abc") for _ in range(rng.randint(1, 70)))
        k = rng.randint(0, 4)
        ref = _levenshtein_substring(p, t)
        assert match_ends(p, t, k) == [j for j in range(1, len(t) + 1) if ref[j] <= k], (p, t, k)


def test_ratio_is_twice_the_common_subsequence_over_the_lengths():
    assert ratio("abc", "abc") == 1.0
    assert ratio("", "") == 1.0
    assert ratio("abcd", "acbd") == pytest.approx(2 * 3 / 8)
    assert ratio("alder", "") == 0.0


def test_generated_documents_are_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    pdfs_a, checks_a = quality_docs.write(a)
    pdfs_b, checks_b = quality_docs.write(b)
    assert [p.read_bytes() for p in pdfs_a] == [p.read_bytes() for p in pdfs_b]
    assert checks_a.read_text() == checks_b.read_text()
    rows = [json.loads(line) for line in checks_a.read_text().splitlines()]
    assert {r["type"] for r in rows} == {"present", "absent", "order", "table", "baseline"}
    assert len({r["id"] for r in rows}) == len(rows)


def test_layout_passes_the_generated_checks_the_raw_layer_fails(tmp_path):
    _, checks_path = quality_docs.write(tmp_path)
    checks = [json.loads(line) for line in checks_path.read_text().splitlines()]
    raw, layout = {}, {}
    for pdf in {c["pdf"] for c in checks}:
        raw[pdf] = quality.raw_text_layer(tmp_path / pdf)
        layout[pdf] = quality.layout_text_layer(tmp_path / pdf)
    raw_failed = {c["type"] for c, ok, _ in quality.score(checks, raw) if not ok}
    layout_failed = [(c["id"], why) for c, ok, why in quality.score(checks, layout) if not ok]
    assert layout_failed == []
    assert {"present", "absent", "order", "table"} <= raw_failed


def test_output_folders_are_read_from_parquet_and_compressed_jsonl(tmp_path):
    rows = [{"source": "/data/in/gen/article.pdf", "pages": [{"page_number": 1, "text": "one"},
                                                             {"page_number": 2, "text": "two"}]},
            {"source": "s3://bucket/other.pdf", "pages": [{"page_number": 1, "text": "nope"}]}]
    (tmp_path / "pq").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "pq" / "part-0.parquet")
    (tmp_path / "pq" / "_meta").mkdir()
    (tmp_path / "pq" / "_meta" / "x.parquet").write_bytes(b"not parquet")  # metadata folders are skipped
    (tmp_path / "js").mkdir()
    with gzip.open(tmp_path / "js" / "part-0.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    for folder in ("pq", "js"):
        texts = quality.output_texts(tmp_path / folder, ["gen/article.pdf", "article.pdf", "missing.pdf"])
        assert texts["gen/article.pdf"] == {1: "one", 2: "two"}
        assert "missing.pdf" not in texts
        results = quality.score([check("present", text="two") | {"pdf": "gen/article.pdf", "page": 2},
                                 check("present", text="two") | {"pdf": "gen/article.pdf", "page": 1},
                                 check("present", text="two") | {"pdf": "missing.pdf"}], texts)
        assert [ok for _, ok, _ in results] == [True, False, False]
