"""Hostile and damaged inputs through the render stage: every file gives a row with a named
``error_code`` or a readable document, never an exception. Truncated files and broken
cross-reference tables are repaired (``recovered``); encrypted files open with a configured password.

Each case is a file generated into tmp_path and read by ``Render.one`` as the pipeline does. No Ray.
"""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import pytest
from helpers import TEN, encrypted, intact_pages
from PIL import Image
from samples import SamplePage, pdf_bytes, text_pages

from raypipe.config import InputConfig, RenderConfig
from raypipe.errors import DocumentError, ErrorCode
from raypipe.listing import list_documents
from raypipe.pdf.pages import page_text
from raypipe.pdf.repair import repair
from raypipe.postprocess import postprocess_batch
from raypipe.render import Render
from raypipe.schema import DOCUMENT, OUTPUT, WORK


def run_one(tmp_path: Path, name: str, data: bytes, images: bool = True, passwords=(), **render) -> dict:
    path = tmp_path / name
    path.write_bytes(data)
    stage = Render(RenderConfig(**{"text_layer": "raw", **render}), InputConfig(passwords=list(passwords)), images)  # PDFium's own text: these tests are about what survives, not about reading order
    return stage.one(name, str(path))


def outcome(row: dict) -> str:
    """The row's error code, or 'ok' for a document that rendered (status is set later, by postprocess)."""
    if row.get("error_code") is None:
        assert row.get("status") is None and row["pages"]
        return "ok"
    assert row["status"] == "failed" and row["error"] and row["pages"] == []
    return row["error_code"]


def texts(row: dict) -> list[str]:
    return [p["text_layer"] for p in row["pages"]]


# --- truncated files -------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False], ids=["flate", "plain"])
@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_truncated_file_recovers_every_page_it_still_holds(tmp_path, compress, fraction):
    data = pdf_bytes(text_pages(TEN), compress=compress)
    cut = int(len(data) * fraction)
    row = run_one(tmp_path, "cut.pdf", data[:cut], images=False)
    survivors = intact_pages(data, cut)
    assert survivors >= 2  # even the 30% cut keeps pages
    assert outcome(row) == "ok" and row["recovered"] is True
    assert row["num_pages"] == survivors
    assert [p["page_number"] for p in row["pages"]] == list(range(1, survivors + 1))
    assert texts(row) == TEN[:survivors]  # the recovered text layer is the original, page for page
    assert all(p["error"] is None for p in row["pages"])


@pytest.mark.parametrize("compress", [True, False], ids=["flate", "plain"])
def test_truncated_file_figures(tmp_path, compress):
    """Pages back from the 10-page file cut at 30/60/90%: every page whose content stream is still
    in the bytes (for this file, content then page dictionary per page: 3, 7 and 10 pages; the last
    of those has lost its page dictionary and is rebuilt from its content alone)."""
    data = pdf_bytes(text_pages(TEN), compress=compress)
    got, held = {}, {}
    for fraction in (0.3, 0.6, 0.9):
        cut = int(len(data) * fraction)
        row = run_one(tmp_path, f"cut-{fraction}.pdf", data[:cut], images=False)
        got[fraction] = len(row["pages"]) if row["recovered"] else None
        held[fraction] = intact_pages(data, cut)
    print(f"\n{'flate' if compress else 'plain'}: pages back at 30/60/90% cuts: {got}")
    assert got == held
    assert got[0.3] < got[0.6] < got[0.9] == 10


def test_truncated_file_renders_images_after_repair(tmp_path):
    data = pdf_bytes(text_pages(TEN))
    row = run_one(tmp_path, "cut.pdf", data[: int(len(data) * 0.9)], longest_side=300)
    assert outcome(row) == "ok" and row["recovered"] is True and len(row["pages"]) == 10
    page = row["pages"][9]
    assert Image.open(io.BytesIO(page["image"])).size == (page["width"], page["height"]) == (232, 300)


def test_intact_file_is_not_marked_recovered(tmp_path):
    row = run_one(tmp_path, "fine.pdf", pdf_bytes(text_pages(TEN)), images=False)
    assert outcome(row) == "ok" and row["recovered"] is False and texts(row) == TEN


def test_cut_inside_the_header_objects_is_unreadable(tmp_path):
    data = pdf_bytes(text_pages(TEN))
    row = run_one(tmp_path, "stub.pdf", data[:60])
    assert outcome(row) == "unreadable" and "repair failed too" in row["error"]
    assert row.get("recovered") is None


# --- broken structure ------------------------------------------------------------------------


def test_garbage_xref_offsets_still_read(tmp_path):
    data = pdf_bytes(text_pages(["First", "Second", "Third"]))
    start = data.index(b"\nxref\n")
    broken = data[:start] + re.sub(rb"\d{10} 00000 n", b"0000000999 00000 n", data[start:])
    assert broken != data
    row = run_one(tmp_path, "bad-offsets.pdf", broken, images=False)
    # PDFium rebuilds a table whose offsets are wrong by itself: no repair needed
    assert outcome(row) == "ok" and row["recovered"] is False
    assert texts(row) == ["First", "Second", "Third"]


def test_xref_table_replaced_by_garbage_is_repaired(tmp_path):
    data = pdf_bytes(text_pages(["First", "Second", "Third"]))
    broken = data[: data.index(b"\nxref\n")] + b"\nxref\ngarbage garbage garbage\n" * 3
    row = run_one(tmp_path, "no-xref.pdf", broken, images=False)
    assert outcome(row) == "ok" and row["recovered"] is True
    assert texts(row) == ["First", "Second", "Third"]


def test_random_bytes_with_a_pdf_header_are_unreadable(tmp_path):
    noise = random.Random(1234).randbytes(64 * 1024)
    row = run_one(tmp_path, "noise.pdf", b"%PDF-1.7\n" + noise)
    assert outcome(row) == "unreadable"
    assert "PDFium cannot open the document" in row["error"] and "repair failed too" in row["error"]
    assert "BytesIO" not in row["error"]


def test_a_page_that_fails_to_load_does_not_kill_the_document(tmp_path):
    data = pdf_bytes(text_pages(["First", "Second", "Third"]), compress=False)
    kids = re.search(rb"/Kids \[([^\]]*)\]", data).group(1)
    assert kids == b"5 0 R 7 0 R 9 0 R"
    broken = data.replace(kids, b"5 0 R 99 0 R 9 0 R")  # page 2 points at an object that does not exist
    row = run_one(tmp_path, "missing-page.pdf", broken)
    assert outcome(row) == "ok" and row["num_pages"] == 3
    first, second, third = row["pages"]
    assert second["page_number"] == 2 and second["error"].startswith("load: ") and second.get("image") is None
    assert (first["text_layer"], third["text_layer"]) == ("First", "Third")
    assert first["error"] is None and third["error"] is None and third["image"]


# --- not PDFs --------------------------------------------------------------------------------


def test_zero_bytes(tmp_path):
    row = run_one(tmp_path, "zero.pdf", b"")
    assert outcome(row) == "empty"


def test_html_named_pdf(tmp_path):
    row = run_one(tmp_path, "page.pdf", b"<!doctype html>\n<html><head><title>404</title></head><body>Not found</body></html>")
    assert outcome(row) == "not_pdf" and "<!doctype" in row["error"]


def test_missing_file_is_a_read_error(tmp_path):
    row = Render(RenderConfig(text_layer="raw"), InputConfig(), True).one("gone.pdf", str(tmp_path / "gone.pdf"))
    assert outcome(row) == "read_error"


# --- passwords -------------------------------------------------------------------------------


@pytest.mark.parametrize("passwords", [(), ("wrong",), ("wrong", "also wrong")])
def test_encrypted_without_the_right_password(tmp_path, passwords):
    row = run_one(tmp_path, "locked.pdf", encrypted("Secret text"), passwords=passwords)
    assert outcome(row) == "encrypted"


@pytest.mark.parametrize("passwords", [("open sesame",), ("wrong", "open sesame"), ("owner-pw",)])
def test_encrypted_with_a_listed_password(tmp_path, passwords):
    row = run_one(tmp_path, "locked.pdf", encrypted("Secret text"), passwords=passwords)
    assert outcome(row) == "ok" and row["recovered"] is False and texts(row) == ["Secret text"]


def test_damaged_encrypted_file_is_still_encrypted(tmp_path):
    data = encrypted("Secret text")
    start = data.index(b"\nxref\n")
    broken = data[:start] + b"\nxref\ngarbage garbage\n" + data[data.index(b"trailer"):]
    assert outcome(run_one(tmp_path, "locked.pdf", broken)) == "encrypted"
    row = run_one(tmp_path, "locked.pdf", broken, passwords=["open sesame"])
    assert outcome(row) == "ok" and texts(row) == ["Secret text"]


def test_repair_keeps_encrypted_files_encrypted():
    """qpdf's PasswordError must come out as encrypted, not unreadable; with a password the repaired
    bytes are saved decrypted, so PDFium opens them without one. (PDFium itself rebuilds the damaged
    encrypted files made here and reports the password, so this calls repair() directly.)"""
    data = encrypted("Secret text")
    for passwords in ((), ("wrong",)):
        with pytest.raises(DocumentError) as e:
            repair(data, passwords)
        assert e.value.code is ErrorCode.ENCRYPTED
    import pypdfium2 as pdfium

    fixed = pdfium.PdfDocument(repair(data, ["wrong", "open sesame"]))
    assert page_text(fixed[0]) == "Secret text"


# --- extreme pages ---------------------------------------------------------------------------


def test_200_inch_page_stays_under_the_pixel_cap(tmp_path):
    cfg = RenderConfig()
    row = run_one(tmp_path, "poster.pdf", pdf_bytes([SamplePage(lines=("Poster",), width=14400, height=14400)]))
    assert outcome(row) == "ok"
    page = row["pages"][0]
    assert page["width"] * page["height"] <= cfg.max_pixels
    assert (page["width"], page["height"]) == (1288, 1288)
    assert Image.open(io.BytesIO(page["image"])).size == (1288, 1288) and page["text_layer"] == "Poster"

    small_cap = run_one(tmp_path, "poster.pdf", pdf_bytes([SamplePage(width=14400, height=14400)]),
                        longest_side=20000, max_pixels=1_000_000)["pages"][0]
    assert small_cap["width"] * small_cap["height"] <= 1_000_000 and small_cap["width"] >= 990


def test_14400_by_20_strip(tmp_path):
    row = run_one(tmp_path, "strip.pdf", pdf_bytes([SamplePage(width=14400, height=20)]))
    assert outcome(row) == "ok"
    page = row["pages"][0]
    assert page["width"] == 1288 and page["height"] == 2
    assert Image.open(io.BytesIO(page["image"])).size == (1288, 2)


def test_1500_pages_hit_the_default_page_cap(tmp_path):
    data = pdf_bytes(text_pages([f"Page {i}" for i in range(1, 1501)]))
    row = run_one(tmp_path, "long.pdf", data, images=False)
    assert RenderConfig().max_pages == 1000
    assert outcome(row) == "ok" and row["num_pages"] == 1500 and row["page_cap_applied"] is True
    assert len(row["pages"]) == 1000
    assert row["pages"][-1]["page_number"] == 1000 and row["pages"][-1]["text_layer"] == "Page 1000"
    uncapped = run_one(tmp_path, "long.pdf", data, images=False, max_pages=2000)
    assert len(uncapped["pages"]) == 1500 and uncapped["page_cap_applied"] is False


# --- file names ------------------------------------------------------------------------------

ODD_NAMES = [
    "résumé 🚀.pdf",
    "it's a \"quoted\" name.pdf",
    "日本語の文書.pdf",
    "Ελληνικά κείμενα.pdf",
    "مستند عربي.pdf",
    "  spaces  around  .pdf",
    "percent %20 hash # semicolon ;.pdf",
    "brackets [1] and (2) and {3}.pdf",
    "UPPER.PDF",
]


def test_odd_file_names_are_listed_and_read(tmp_path):
    root = tmp_path / "odd dir ✓"
    for i, name in enumerate(ODD_NAMES):
        (root / "sub folder").mkdir(parents=True, exist_ok=True)
        (root / "sub folder" / name).write_bytes(pdf_bytes(text_pages([f"Document {i}"])))
    docs = list_documents(InputConfig(inputs=[str(root)]))
    assert sorted(d.doc_id for d in docs) == sorted(f"sub folder/{n}" for n in ODD_NAMES)
    stage = Render(RenderConfig(text_layer="raw"), InputConfig(), images=False)
    for doc in docs:
        row = stage.one(doc.doc_id, doc.source)
        i = ODD_NAMES.index(doc.doc_id.split("/", 1)[1])
        assert outcome(row) == "ok" and texts(row) == [f"Document {i}"], doc
        assert row["doc_id"] == doc.doc_id and row["source"] == doc.source


@pytest.mark.parametrize("name", ["résumé 🚀.pdf", "it's a \"quoted\" name.pdf", "日本語の文書.pdf"])
def test_odd_file_name_given_directly(tmp_path, name):
    (tmp_path / name).write_bytes(pdf_bytes(text_pages(["Direct"])))
    [doc] = list_documents(InputConfig(inputs=[str(tmp_path / name)]))
    assert doc.doc_id == name
    row = Render(RenderConfig(text_layer="raw"), InputConfig(), images=False).one(doc.doc_id, doc.source)
    assert outcome(row) == "ok" and texts(row) == ["Direct"]


# --- through the stage's Arrow batches -------------------------------------------------------


def test_hostile_batch_keeps_one_row_per_document_with_recovered_column(tmp_path):
    import pyarrow as pa

    ten = pdf_bytes(text_pages(TEN))
    files = {
        "cut.pdf": ten[: int(len(ten) * 0.6)],
        "fine.pdf": ten,
        "zero.pdf": b"",
        "html.pdf": b"<html></html>",
        "noise.pdf": b"%PDF-1.4\n" + random.Random(7).randbytes(4096),
        "locked.pdf": encrypted("x"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    batch = pa.Table.from_pylist([{"doc_id": n, "source": str(tmp_path / n)} for n in files], schema=DOCUMENT)
    work = Render(RenderConfig(text_layer="raw"), InputConfig(), images=False)(batch)
    assert work.schema == WORK and work.num_rows == len(files)
    out = postprocess_batch(work, max_page_error_rate=0.0)
    assert out.schema == OUTPUT
    rows = {r["doc_id"]: r for r in out.to_pylist()}
    assert {d: (r["status"], r["error_code"], r["recovered"]) for d, r in rows.items()} == {
        "cut.pdf": ("ok", None, True),
        "fine.pdf": ("ok", None, False),
        "zero.pdf": ("failed", ErrorCode.EMPTY.value, None),
        "html.pdf": ("failed", ErrorCode.NOT_PDF.value, None),
        "noise.pdf": ("failed", ErrorCode.UNREADABLE.value, None),
        "locked.pdf": ("failed", ErrorCode.ENCRYPTED.value, None),
    }
    assert rows["cut.pdf"]["num_pages_processed"] == intact_pages(ten, len(files["cut.pdf"])) == 7
