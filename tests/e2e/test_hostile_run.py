"""One real ``raypipe run`` over a folder that mixes ordinary PDFs with every hostile case a crawl
brings — compression bombs, nested and self-drawing forms, floods of operators, glyphs, annotations
and damaged objects, broken page trees, huge images, a FIFO, a device, a symlink loop, a name that is
not UTF-8, empty, HTML and encrypted files, a truncated file — with the render bounds set low: the run
finishes and exits 0, every input is one row with the code its case calls for, no hostile document
takes longer than its bound, and the ordinary documents come through whole."""

from __future__ import annotations

import os
import re
import time

import hostile_pdfs as hostile
import pytest
from helpers import encrypted, read_jsonl, run_cli
from samples import pdf_bytes, text_pages

MEMORY = 256 << 20
PAGE_TIMEOUT, RENDER_TIMEOUT = 5.0, 20.0
ORDINARY = {f"ordinary-{i}.pdf": [f"Ordinary document {i}, page {p}." for p in (1, 2, 3)] for i in range(3)}

# file name -> (bytes, the error_code its row must have)
CASES = {
    "nested-forms.pdf": (lambda: hostile.nested_forms(24), "too_complex"),
    "inflate-bomb.pdf": (hostile.inflate_bomb, "too_complex"),
    "glyph-flood.pdf": (lambda: hostile.glyph_flood(5_000_000), "too_complex"),
    "operator-flood.pdf": (lambda: hostile.operator_flood(20), "too_complex"),
    "damaged-object-flood.pdf": (lambda: hostile.damaged_object_flood(300_000), "too_complex"),
    # 2^17 forms a page: about a second each (even the blank guard's thumbnail draws them), 400 pages
    "slow-pages.pdf": (lambda: hostile.nested_forms(17, pages=400), "timeout"),
    "self-drawing-form.pdf": (hostile.self_drawing_form, None),
    "cyclic-page-tree.pdf": (hostile.cyclic_page_tree, "too_many_pages_failed"),  # a million pages claimed
    "huge-image.pdf": (hostile.huge_image, None),
    "deep-arrays.pdf": (lambda: hostile.deep_arrays(200_000), None),
    "annotation-flood.pdf": (lambda: hostile.annotation_flood(200_000), "too_complex"),  # over 256 MiB
    "empty.pdf": (lambda: b"", "empty"),
    "html.pdf": (lambda: b"<!doctype html><html><body>404 Not Found</body></html>", "not_pdf"),
    "locked.pdf": (lambda: encrypted("Behind a password"), "encrypted"),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    for name, pages in ORDINARY.items():
        (root / name).write_bytes(pdf_bytes(text_pages(pages)))
    for name, (make, _) in CASES.items():
        (root / name).write_bytes(make())
    whole = pdf_bytes(text_pages([f"Cut page {p}" for p in range(1, 9)]))
    (root / "truncated.pdf").write_bytes(whole[: int(len(whole) * 0.7)])
    os.mkfifo(root / "pipe.pdf")
    (root / "zero.pdf").symlink_to("/dev/zero")
    (root / "loop").mkdir()
    (root / "loop" / "again").symlink_to("..", target_is_directory=True)  # a loop a walker could follow forever
    os.close(os.open(os.fsencode(root) + b"/caf\xe9.pdf", os.O_CREAT | os.O_WRONLY, 0o644))  # not UTF-8
    return root


def test_a_hostile_folder_gives_one_right_row_per_input_within_the_bounds(folder, tmp_path):
    out = tmp_path / "out"
    started = time.monotonic()
    result = run_cli(
        "run", str(folder), "--output", str(out), "--format", "jsonl", "--engine", "text-layer",
        "--render-memory-limit", str(MEMORY), "--page-timeout", str(PAGE_TIMEOUT),
        "--render-timeout", str(RENDER_TIMEOUT), "--max-pages", "50", timeout=900,
    )
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-4000:]
    rows = {r["doc_id"]: r for r in read_jsonl(out)}
    # a name that is not UTF-8 is shown with \x escapes plus a hash of its bytes (escapes alone could be a real name)
    odd = [i for i in rows if re.fullmatch(r"caf\\xe9\.pdf#non-utf8=[0-9a-f]{12}", i)]
    assert len(odd) == 1, sorted(rows)
    rows["caf\\xe9.pdf"] = rows.pop(odd[0])
    expected = sorted([*ORDINARY, *CASES, "truncated.pdf", "pipe.pdf", "zero.pdf", "caf\\xe9.pdf"])
    assert sorted(rows) == expected, f"{len(rows)} rows in {wall:.0f} s"

    for name, pages in ORDINARY.items():
        row = rows[name]
        assert row["status"] == "ok" and [p["text"] for p in row["pages"]] == pages
    for name, (_, code) in CASES.items():
        row = rows[name]
        assert row["error_code"] == code, (name, row["error_code"], row["error"])
        # a document costs at most its bound (and the render process's restart after a breach)
        assert row["render_seconds"] <= RENDER_TIMEOUT + 10, (name, row["render_seconds"])
    assert rows["slow-pages.pdf"]["error"].startswith(f"rendering took longer than render.render_timeout ({RENDER_TIMEOUT:g} s)")
    assert "render.render_memory_limit (256 MiB)" in rows["inflate-bomb.pdf"]["error"]
    cyclic = rows["cyclic-page-tree.pdf"]
    assert cyclic["page_cap_applied"] and cyclic["num_pages_processed"] == 50
    assert rows["truncated.pdf"]["recovered"] and rows["truncated.pdf"]["num_pages"] >= 4
    for name, kind in (("pipe.pdf", "a FIFO"), ("zero.pdf", "a character device")):
        assert (rows[name]["error_code"], rows[name]["error"]) == ("read_error", f"not a regular file (it is {kind})")
    assert rows["caf\\xe9.pdf"]["error_code"] == "read_error"
