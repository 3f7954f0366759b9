"""The render stage's bounds: hostile PDFs (tests/hostile.py) through ``Render`` as the pipeline
calls it, each giving exactly one row with the code of the bound it breached, and the next document
in the batch rendering as usual in a fresh render process. Local inputs that are not regular files
fail at once. The render process is killed from outside and dies with its parent. No Ray.

The fast tests use small bounds (256 MiB, a second or two) so that the hostile files breach them
quickly; the slow ones use the defaults on the full-size files.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import hostile_pdfs as hostile
import pyarrow as pa
import pytest
from samples import pdf_bytes, text_pages

from raypipe.config import InputConfig, RenderConfig
from raypipe.render import Render, render_process
from raypipe.schema import DOCUMENT, WORK

pytestmark = pytest.mark.slow  # every test here starts a render process of its own

SMALL_MEMORY = 256 << 20
NORMAL = ["A normal page", "And its second page"]


def render_batch(tmp_path: Path, files: dict[str, bytes], images: bool = True, **render) -> list[dict]:
    """``files`` written to tmp_path and rendered as one batch; the rows, in input order."""
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    batch = pa.Table.from_pylist([{"doc_id": n, "source": str(tmp_path / n)} for n in files], schema=DOCUMENT)
    work = Render(RenderConfig(**{"text_layer": "raw", **render}), InputConfig(), images)(batch)
    assert work.schema == WORK and work.num_rows == len(files)
    rows = work.to_pylist()
    assert [r["doc_id"] for r in rows] == list(files)
    return rows


def then_normal(tmp_path: Path, name: str, data: bytes, images: bool = True, **render) -> dict:
    """The hostile file and a normal document after it in one batch: the hostile row (the normal
    one is checked here)."""
    bad, good = render_batch(tmp_path, {name: data, "normal.pdf": pdf_bytes(text_pages(NORMAL))}, images, **render)
    assert good["error_code"] is None and [p["text_layer"] for p in good["pages"]] == NORMAL
    assert all(p["image"] for p in good["pages"]) if images else True
    return bad


def failed(row: dict, code: str) -> str:
    assert row["status"] == "failed" and row["error_code"] == code, (row["error_code"], row["error"])
    assert row["pages"] == [] and row["num_pages_processed"] == 0
    return row["error"]


# --- memory --------------------------------------------------------------------------------------

MEMORY_HUNGRY = {
    "nested-forms": lambda: hostile.nested_forms(24),  # 16 M squares through 24 levels of forms
    "inflate-bomb": lambda: hostile.inflate_bomb(),  # 3 GiB of operators in ~9 KB
    "glyph-flood": lambda: hostile.glyph_flood(5_000_000),
    "operator-flood": lambda: hostile.operator_flood(20),  # 20 MB of path operators
}


@pytest.mark.parametrize("case", MEMORY_HUNGRY)
def test_memory_hungry_page_is_too_complex_and_the_next_document_renders(tmp_path, case):
    message = failed(then_normal(tmp_path, f"{case}.pdf", MEMORY_HUNGRY[case](), render_memory_limit=SMALL_MEMORY),
                     "too_complex")
    assert "render.render_memory_limit (256 MiB)" in message and "at page 1 of 1" in message


def test_memory_hungry_repair_is_too_complex(tmp_path):
    """qpdf's reconstruction of a damaged file of 300,000 objects runs out of 256 MiB: too complex,
    not unreadable (qpdf's MemoryError is not taken for a failed repair)."""
    message = failed(then_normal(tmp_path, "objects.pdf", hostile.damaged_object_flood(300_000), images=False,
                                 render_memory_limit=SMALL_MEMORY), "too_complex")
    assert "while opening or repairing it" in message


# --- time ----------------------------------------------------------------------------------------


def test_slow_page_times_out_by_page_timeout(tmp_path):
    message = failed(then_normal(tmp_path, "flood.pdf", hostile.operator_flood(40), page_timeout=0.5), "timeout")
    assert message == "page 1 of 1 took longer than render.page_timeout (0.5 s)"


def test_many_slowish_pages_time_out_by_render_timeout(tmp_path):
    """Forty pages of 2^15 forms each: no page near the page bound, the whole past one second."""
    message = failed(then_normal(tmp_path, "pages.pdf", hostile.nested_forms(15, pages=40), render_timeout=1.0,
                                 page_timeout=30), "timeout")
    m = re.fullmatch(r"rendering took longer than render.render_timeout \(1 s\); stopped (.*)", message)
    assert m, message
    page = re.fullmatch(r"at page (\d+) of 40", m.group(1))
    assert page and 1 <= int(page.group(1)) <= 40, m.group(1)


def test_repair_counts_against_render_timeout(tmp_path):
    message = failed(then_normal(tmp_path, "objects.pdf", hostile.damaged_object_flood(200_000), images=False,
                                 render_timeout=1.0), "timeout")
    assert message.endswith("stopped while opening or repairing it"), message


# --- inputs that are not regular files -----------------------------------------------------------


def not_regular(tmp_path: Path) -> dict[str, str]:
    fifo = tmp_path / "pipe.pdf"
    os.mkfifo(fifo)
    (tmp_path / "link-to-pipe.pdf").symlink_to(fifo)
    (tmp_path / "folder.pdf").mkdir()
    return {"fifo": str(fifo), "symlink to a fifo": str(tmp_path / "link-to-pipe.pdf"), "/dev/zero": "/dev/zero",
            "folder": str(tmp_path / "folder.pdf")}


def test_fifo_device_socket_and_folder_are_read_errors_at_once(tmp_path):
    """A blocked read would end as a timeout row (render_timeout 20 s); each must be a read_error."""
    sources = not_regular(tmp_path)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "socket.pdf"))
    sources["socket"] = str(tmp_path / "socket.pdf")
    sources["normal"] = str(tmp_path / "normal.pdf")
    (tmp_path / "normal.pdf").write_bytes(pdf_bytes(text_pages(NORMAL)))
    batch = pa.Table.from_pylist([{"doc_id": d, "source": s} for d, s in sources.items()], schema=DOCUMENT)
    rows = Render(RenderConfig(render_timeout=20), InputConfig(), True)(batch).to_pylist()
    server.close()
    kinds = {"fifo": "a FIFO", "symlink to a fifo": "a FIFO", "/dev/zero": "a character device",
             "folder": "a folder", "socket": "a socket"}
    for row in rows[:-1]:
        assert failed(row, "read_error") == f"not a regular file (it is {kinds[row['doc_id']]})", row["doc_id"]
    assert rows[-1]["error_code"] is None and [p["text_layer"] for p in rows[-1]["pages"]] == NORMAL


# --- the render process --------------------------------------------------------------------------


def test_render_process_is_started_again_after_a_breach(tmp_path):
    cfg = {"render_memory_limit": SMALL_MEMORY}
    render_batch(tmp_path, {"first.pdf": pdf_bytes(text_pages(["first"]))}, **cfg)
    box = render_process(RenderConfig(**cfg))
    pid, starts = box.pid, box.starts
    assert pid is not None and box.alive()
    render_batch(tmp_path, {"second.pdf": pdf_bytes(text_pages(["second"]))}, **cfg)
    assert (box.pid, box.starts) == (pid, starts)  # kept between documents
    bad, good = render_batch(tmp_path, {"bomb.pdf": hostile.inflate_bomb(),
                                        "third.pdf": pdf_bytes(text_pages(["third"]))}, **cfg)
    assert bad["error_code"] == "too_complex" and good["pages"][0]["text_layer"] == "third"
    assert box.starts == starts + 1 and box.pid != pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the old one is gone (and reaped)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_render_process_killed_from_outside_gives_a_crashed_row(tmp_path, sig):
    slow = hostile.nested_forms(15, pages=200)  # long enough to be killed in the middle
    render_batch(tmp_path, {"warm.pdf": pdf_bytes(text_pages(["warm"]))})
    box = render_process(RenderConfig())
    victim = box.pid
    killer = threading.Timer(0.5, os.kill, (victim, sig))
    killer.start()
    try:
        bad, good = render_batch(tmp_path, {"slow.pdf": slow, "after.pdf": pdf_bytes(text_pages(["after"]))})
    finally:
        killer.cancel()
    message = failed(bad, "crashed")
    assert message.startswith((f"the render process died ({sig.name}) at page ", f"the render process died ({sig.name}) while opening")), message
    assert good["error_code"] is None and good["pages"][0]["text_layer"] == "after"
    assert box.pid != victim


# --- traps PDFium survives -----------------------------------------------------------------------

SURVIVED = {  # (the file, pages in the row, whether page 1 renders)
    "self-drawing-form": (hostile.self_drawing_form, 1, True),
    "cyclic-page-tree": (hostile.cyclic_page_tree, 1000, True),  # claims a million pages: the page cap's 1000
    "deep-page-tree": (lambda: hostile.deep_page_tree(5000), 1, False),  # PDFium gives up on the page
    "huge-image": (hostile.huge_image, 1, True),
    "deep-arrays": (lambda: hostile.deep_arrays(200_000), 1, True),
}


@pytest.mark.parametrize("case", SURVIVED)
def test_structural_traps_give_a_row_and_fail_at_most_their_pages(tmp_path, case):
    make, pages, renders = SURVIVED[case]
    row = then_normal(tmp_path, f"{case}.pdf", make())
    assert row["error_code"] is None and len(row["pages"]) == pages
    first = row["pages"][0]
    if renders:
        assert first["error"] is None and first["image"] and first["width"] == 996  # 612 x 792 pt at 1288 px
    else:
        assert first["error"].startswith("load: ") and first["image"] is None


# --- the defaults, on the full-size files --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("case, make", [
    ("nested-forms", lambda: hostile.nested_forms(22)),
    ("inflate-bomb", lambda: hostile.inflate_bomb(3 << 30)),
    ("glyph-flood", lambda: hostile.glyph_flood(10_000_000)),
])
def test_default_bounds_stop_full_size_hostile_files_and_the_worker_stays_small(tmp_path, case, make):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    message = failed(then_normal(tmp_path, f"{case}.pdf", make()), "too_complex")
    assert "render.render_memory_limit (2048 MiB)" in message
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
    assert grown < 200 << 20, f"this process's peak grew by {grown >> 20} MiB"


@pytest.mark.slow
def test_a_1000_page_document_stays_within_the_default_bounds(tmp_path):
    lines = tuple(f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(40))
    data = pdf_bytes(text_pages(["\n".join(lines)] * 1000))
    row = render_batch(tmp_path, {"long.pdf": data})[0]
    assert row["error_code"] is None and len(row["pages"]) == 1000 and all(p["image"] for p in row["pages"])
    print(f"\n1000 pages with images: {row['render_seconds']:.1f} s, render process peak "
          f"{render_process(RenderConfig()).last_peak >> 20} MiB")


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (an exited one not yet reaped by its new parent is not)."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("from_thread", [False, True], ids=["main-thread", "other-thread"])
def test_render_process_dies_with_its_parent(tmp_path, from_thread):
    """A parent killed with SIGKILL in the middle of a document: its render process ends too
    (PR_SET_PDEATHSIG when started from the main thread; the watchdog thread otherwise)."""
    script = f"""
import sys, threading, time
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
import hostile_pdfs as hostile
from raypipe.config import InputConfig, RenderConfig
from raypipe.render import Render, render_process
path = Path({str(tmp_path)!r}) / "slow.pdf"
path.write_bytes(hostile.nested_forms(15, pages=1000))
def report():
    while render_process(RenderConfig()).pid is None:
        time.sleep(0.05)
    print(render_process(RenderConfig()).pid, flush=True)
threading.Thread(target=report, daemon=True).start()
def run():
    Render(RenderConfig(), InputConfig(), True).one("slow.pdf", str(path))
if {from_thread}:
    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
else:
    run()
"""
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        child = int(parent.stdout.readline())
        time.sleep(1.0)  # the child is rendering
        assert alive(child)
    finally:
        parent.kill()
        parent.wait()
    for _ in range(100):
        if not alive(child):
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the render process outlived its parent by 10 s")
