"""Stage 2 — render: fetch each document, open it with PDFium, and turn every page in range into an
encoded image (when the engine needs one) plus the page's own text layer.

One document at a time per worker process (PDFium is not thread-safe). A file PDFium cannot open
(truncated, broken cross-reference table) is repaired — by qpdf, or from its surviving page content
streams when that gives more pages (:mod:`raypipe.pdf`) — and the pages that survive are
processed (``recovered`` on the row). A document that cannot be fetched or opened even so becomes a
row with ``status`` failed and an ``error_code``; a page that fails to render is marked on the page,
and the other pages go on.

The fetch and everything after it run in a render process of the worker's own
(:mod:`raypipe.pdf.sandbox`), pages streamed back one at a time, within ``render.render_timeout``
per document, ``render.page_timeout`` per page and ``render.render_memory_limit`` bytes. A document
that breaches a bound becomes a row with error_code ``timeout`` or ``too_complex`` (``crashed`` when
the process dies of anything else); the process is started again and the next document goes on."""

from __future__ import annotations

import contextlib
import os
import stat
import time
from typing import Optional, Sequence

import pyarrow as pa
import pyarrow.fs as pafs

from raypipe.config import InputConfig, RenderConfig
from raypipe.errors import DocumentError, ErrorCode
from raypipe.faults import RenderGuard
from raypipe.pdf.pages import render_document, render_pages
from raypipe.schema import STATUS_FAILED, WORK, table
from raypipe.storage import refusal, resolve


def fetch(source: str, max_bytes: int, storage=None) -> bytes:
    """The file's bytes, from local disk or any pyarrow filesystem URI (with the run's storage options).
    A local path that is not a regular file (a FIFO, socket, device or folder, also behind a symlink)
    is a read_error at once: reading it could block or never end."""
    try:
        fs, inner = resolve(source, storage)
        if isinstance(fs, pafs.LocalFileSystem):
            return _read_local(inner, max_bytes)
        with fs.open_input_file(inner) as f:
            if f.size() > max_bytes:
                raise DocumentError(ErrorCode.TOO_LARGE, f"file is {f.size()} bytes; the limit is {max_bytes}")
            return f.read()
    except DocumentError:
        raise
    except (OSError, ValueError) as e:
        raise DocumentError(ErrorCode.READ_ERROR, f"{type(e).__name__}: {e}") from e


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "of an unknown kind")
        raise DocumentError(ErrorCode.READ_ERROR, f"not a regular file (it is {kind})")


def _read_local(path: str, max_bytes: int) -> bytes:
    _regular(os.stat(path).st_mode)  # before opening: opening a FIFO or a socket blocks or fails
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        _regular(info.st_mode)  # what was opened, in case the path changed in between
        if info.st_size > max_bytes:
            raise DocumentError(ErrorCode.TOO_LARGE, f"file is {info.st_size} bytes; the limit is {max_bytes}")
        os.set_blocking(fd, True)
        with open(fd, "rb", closefd=False) as f:
            data = f.read(min(info.st_size, max_bytes) + 1)  # not max_bytes: read() allocates what it is asked
        if len(data) > max_bytes:
            raise DocumentError(ErrorCode.TOO_LARGE, f"file is over {max_bytes} bytes (the limit)")
        return data
    finally:
        os.close(fd)


def document_events(source: str, max_bytes: int, cfg: RenderConfig, images: bool, passwords: Sequence[str],
                    storage=None, route_min_chars: Optional[int] = None):
    """What the render process does for one document (see :func:`render_bounded`): fetch, then
    :func:`render_pages`. Yields ``"fetched"`` once the bytes are in, then what render_pages yields."""
    data = fetch(source, max_bytes, storage)
    yield "fetched"
    yield from render_pages(data, cfg, images, passwords, route_min_chars)


def warm_up() -> None:
    """Run once in a new render process before its memory limit is set: what PDFium, the text
    layer and every image encoder load on first use is then part of its baseline."""
    from raypipe.pdf.writer import pdf_file

    page = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
            b"/Contents 5 0 R >>")
    content = b"BT /F1 12 Tf 72 700 Td (Warm up) Tj ET 9 9 9 9 re f"
    data = pdf_file([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page,
                     b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
                     b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content)], 1)
    for fmt in ("png", "jpeg", "webp"):
        try:
            render_document(data, RenderConfig(longest_side=64, image_format=fmt), images=True)
        except Exception:  # an encoder this build lacks: the pages asking for it fail on their own
            pass


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def render_process(cfg: RenderConfig):
    """This worker's render process (:class:`raypipe.pdf.sandbox.Sandbox`) for ``cfg``'s memory limit."""
    from raypipe.pdf import sandbox

    return sandbox.shared(cfg.render_memory_limit, warm_up=f"{__name__}:warm_up")


def render_bounded(source: str, max_bytes: int, cfg: RenderConfig, images: bool, passwords: Sequence[str] = (),
                   storage=None, route_min_chars: Optional[int] = None) -> dict:
    """Fetch and render one document in this worker's render process (:mod:`raypipe.pdf.sandbox`),
    within ``render_timeout`` for the whole and ``page_timeout`` per page, and with at most
    ``render_memory_limit`` bytes. A breach stops the process (started again for the next document)
    and raises DocumentError ``timeout``, ``too_complex`` or ``crashed``, naming the bound and the page."""
    from raypipe.pdf import sandbox

    box = render_process(cfg)
    with box.lock:
        box.submit(f"{__name__}:document_events",
                   (source, max_bytes, cfg, images, list(passwords), storage, route_min_chars))
        start = time.monotonic()
        doc_deadline, page_deadline = start + cfg.render_timeout, float("inf")
        where, doc, pages, analysed = "while fetching the file", None, [], 0
        try:
            while True:
                item = box.receive(min(doc_deadline, page_deadline))
                if item is sandbox.DONE:
                    del doc["first_page"], doc["count"]
                    return {**doc, "pages": pages}
                if item == "fetched":
                    where = "while opening or repairing it"
                    continue
                if item == "analysed":  # a page's layout was read (every page's, before any is rendered)
                    analysed += 1
                    where = (f"while reading the layout of page {doc['first_page'] + analysed} of {doc['num_pages']}"
                             if analysed < doc["count"] else f"at page {doc['first_page']} of {doc['num_pages']}")
                    page_deadline = time.monotonic() + cfg.page_timeout
                    continue
                if doc is None:
                    doc = item
                else:
                    pages.append(item)
                if len(pages) < doc["count"]:
                    where = f"at page {doc['first_page'] + len(pages)} of {doc['num_pages']}"
                page_deadline = time.monotonic() + cfg.page_timeout
        except sandbox.Timeout:
            if page_deadline < doc_deadline:
                page = doc["first_page"] + (analysed if analysed < doc["count"] and not pages else len(pages))
                raise DocumentError(ErrorCode.TIMEOUT, f"page {page} of {doc['num_pages']} took longer than "
                                    f"render.page_timeout ({cfg.page_timeout:g} s)") from None
            raise DocumentError(ErrorCode.TIMEOUT, f"rendering took longer than render.render_timeout "
                                f"({cfg.render_timeout:g} s); stopped {where}") from None
        except sandbox.OutOfMemory as e:
            raise DocumentError(ErrorCode.TOO_COMPLEX, f"rendering needed more memory than render.render_memory_limit "
                                f"({_mib(cfg.render_memory_limit)}) allows, {where} ({e.how}; peak resident size "
                                f"{_mib(e.peak)})") from None
        except sandbox.Crashed as e:
            raise DocumentError(ErrorCode.CRASHED, f"the render process died ({e.how}) {where}; peak resident size "
                                f"{_mib(e.peak)}") from None


def failed_row(doc_id: str, source: str, code: ErrorCode, message: str, **extra) -> dict:
    return {"doc_id": doc_id, "source": source, "status": STATUS_FAILED, "error_code": code.value,
            "error": message, "pages": [], "num_pages_processed": 0, **extra}


class Render:
    """``map_batches`` function: document rows in, rendered document rows (schema ``WORK``) out."""

    def __init__(self, render: RenderConfig, input: InputConfig, images: bool, guard: Optional[RenderGuard] = None,
                 storage=None, route_min_chars: Optional[int] = None):
        self.cfg = render
        self.route_min_chars = route_min_chars  # with ocr_mode auto: decide on each page's text layer
        self.input = input
        self.storage = storage  # StorageConfig: endpoint, region, anonymous for s3:// and gs://
        self.max_bytes = input.max_file_bytes
        self.passwords = list(input.passwords)
        self.images = images
        self.guard = guard  # crash accounting (raypipe.faults); None outside a pipeline run

    def one(self, doc_id: str, source: str) -> dict:
        start = time.perf_counter()
        try:
            why = refusal(source, self.input.allow_file_uris, self.input.allow_uri_options)
            if why:  # the listing checks too; a worker never reads what the allow-list refuses
                raise DocumentError(ErrorCode.INVALID_INPUT, why)
            with self.guard.attempt(doc_id) if self.guard else contextlib.nullcontext():
                doc = render_bounded(source, self.max_bytes, self.cfg, self.images, self.passwords, self.storage,
                                     self.route_min_chars)
                row = {"doc_id": doc_id, "source": source, **doc}
        except DocumentError as e:
            row = failed_row(doc_id, source, e.code, e.message)
        except Exception as e:  # never let one document kill the job
            row = failed_row(doc_id, source, ErrorCode.INTERNAL, f"{type(e).__name__}: {e}")
        row["render_seconds"] = time.perf_counter() - start
        return row

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = []
        for doc in batch.to_pylist():
            if doc.get("error_code"):  # the listing knows it cannot be read (a duplicate, an invalid manifest row)
                rows.append(failed_row(doc["doc_id"], doc["source"], ErrorCode(doc["error_code"]), doc["error"]))
            else:
                rows.append(self.one(doc["doc_id"], doc["source"]))
        return table(rows, WORK)


def render_stage(ds, render: RenderConfig, input: InputConfig, images: bool, remote_args: dict,
                 guard: Optional[RenderGuard] = None, storage=None, route_min_chars: Optional[int] = None):
    """The render stage: tasks of one document at a time; ``remote_args`` from ``RayConfig.stage``."""
    return ds.map_batches(
        Render(render, input, images, guard, storage, route_min_chars),
        batch_format="pyarrow",
        batch_size=None,
        zero_copy_batch=True,
        **remote_args,
    )
