"""Stage 2 — render: fetch each document, open it with PDFium, and turn every page in range into an
encoded image (when the engine needs one) plus the page's own text layer.

One document at a time per worker process (PDFium is not thread-safe). A file PDFium cannot open
(truncated, broken cross-reference table) is repaired — by qpdf, or from its surviving page content
streams when that gives more pages (:mod:`raypipe.pdf`) — and the pages that survive are
processed (``recovered`` on the row). A document that cannot be fetched or opened even so becomes a
row with ``status`` failed and an ``error_code``; a page that fails to render is marked on the page,
and the other pages go on.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from typing import Optional, Sequence

import pyarrow as pa

from raypipe.config import InputConfig, RenderConfig
from raypipe.errors import DocumentError, ErrorCode
from raypipe.faults import RenderGuard
from raypipe.pdf.document import open_document
from raypipe.schema import STATUS_FAILED, WORK, table
from raypipe.storage import refusal, resolve


def fetch(source: str, max_bytes: int, storage=None) -> bytes:
    """The file's bytes, from local disk or any pyarrow filesystem URI."""
    try:
        fs, inner = resolve(source, storage)
        with fs.open_input_file(inner) as f:
            if f.size() > max_bytes:
                raise DocumentError(ErrorCode.TOO_LARGE, f"file is {f.size()} bytes; the limit is {max_bytes}")
            return f.read()
    except DocumentError:
        raise
    except (OSError, ValueError) as e:
        raise DocumentError(ErrorCode.READ_ERROR, f"{type(e).__name__}: {e}") from e


def page_size(width_pt: float, height_pt: float, cfg: RenderConfig) -> tuple[float, int, int]:
    """(scale in pixels per point, width px, height px): the longest side becomes ``longest_side``
    and the area stays within ``max_pixels``. Sizes round up as PDFium's renderer does."""
    width_pt, height_pt = max(width_pt, 1e-3), max(height_pt, 1e-3)
    scale = cfg.longest_side / max(width_pt, height_pt)
    area = width_pt * height_pt * scale * scale
    if area > cfg.max_pixels:
        scale *= math.sqrt(cfg.max_pixels / area)
    scale *= 1 - 1e-9  # so that an exact fit does not round up to one pixel more
    while math.ceil(width_pt * scale) * math.ceil(height_pt * scale) > cfg.max_pixels:
        scale *= 0.999
    return scale, max(1, math.ceil(width_pt * scale)), max(1, math.ceil(height_pt * scale))


def encode(image, cfg: RenderConfig) -> bytes:
    buf = io.BytesIO()
    if cfg.image_format == "png":
        image.save(buf, format="PNG", compress_level=1)
    elif cfg.image_format == "jpeg":
        image.save(buf, format="JPEG", quality=cfg.image_quality)
    else:
        image.save(buf, format="WEBP", quality=cfg.image_quality, method=0)
    return buf.getvalue()


def page_text(page) -> str:
    textpage = page.get_textpage()
    try:
        return textpage.get_text_bounded().replace("\r\n", "\n").replace("\r", "\n")
    finally:
        textpage.close()


def render_page(page, number: int, cfg: RenderConfig, images: bool) -> dict:
    width_pt, height_pt = page.get_size()  # already rotated by /Rotate
    scale, width, height = page_size(width_pt, height_pt, cfg)
    out = {"page_number": number, "width": None, "height": None, "image": None, "text_layer": None, "error": None}
    try:
        out["text_layer"] = page_text(page)
    except Exception as e:  # a broken text layer does not stop the image
        out["error"] = f"text layer: {type(e).__name__}: {e}"
    out["width"], out["height"] = width, height
    if images:
        bitmap = page.render(scale=scale, may_draw_forms=cfg.draw_forms, rev_byteorder=True)
        try:
            pil = bitmap.to_pil()
            out["width"], out["height"] = pil.size
            # blank: no text and no ink (the pixel scan only runs when there is no text)
            out["blank"] = not (out["text_layer"] or "").strip() and all(low >= 250 for low, _ in pil.getextrema())
            out["image"] = encode(pil.convert("RGB") if pil.mode != "RGB" else pil, cfg)
        finally:
            bitmap.close()
    return out


def render_document(data: bytes, cfg: RenderConfig, images: bool, passwords: Sequence[str] = ()) -> dict:
    """Render one document's bytes; raises DocumentError for document-level failures. A file PDFium
    cannot open is repaired (see :func:`raypipe.pdf.repair.repair`) and the pages that survive are
    rendered."""
    pdf, recovered = open_document(data, passwords)
    try:
        if cfg.draw_forms and images:
            pdf.init_forms()
        total = len(pdf)
        if total == 0:
            raise DocumentError(ErrorCode.NO_PAGES, "the document has no pages")
        first = cfg.first_page
        last = min(total, cfg.last_page or total)
        if first > last:
            raise DocumentError(ErrorCode.NO_PAGES, f"page range starts at {first}; the document has {total} pages")
        capped = cfg.max_pages is not None and last - first + 1 > cfg.max_pages
        if capped:
            last = first + cfg.max_pages - 1
        pages = []
        for index in range(first - 1, last):
            try:
                page = pdf[index]
            except Exception as e:
                pages.append({"page_number": index + 1, "error": f"load: {type(e).__name__}: {e}"})
                continue
            try:
                pages.append(render_page(page, index + 1, cfg, images))
            except Exception as e:
                pages.append({"page_number": index + 1, "error": f"render: {type(e).__name__}: {e}"})
            finally:
                page.close()
        return {"num_pages": total, "page_cap_applied": capped, "recovered": recovered, "pages": pages}
    finally:
        pdf.close()


def failed_row(doc_id: str, source: str, code: ErrorCode, message: str, **extra) -> dict:
    return {"doc_id": doc_id, "source": source, "status": STATUS_FAILED, "error_code": code.value,
            "error": message, "pages": [], "num_pages_processed": 0, **extra}


class Render:
    """``map_batches`` function: document rows in, rendered document rows (schema ``WORK``) out."""

    def __init__(self, render: RenderConfig, input: InputConfig, images: bool, guard: Optional[RenderGuard] = None,
                 storage=None):
        self.cfg = render
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
                data = fetch(source, self.max_bytes, self.storage)
                row = {"doc_id": doc_id, "source": source, **render_document(data, self.cfg, self.images, self.passwords)}
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
                 guard: Optional[RenderGuard] = None, storage=None):
    """The render stage: tasks of one document at a time; ``remote_args`` from ``RayConfig.stage``."""
    return ds.map_batches(
        Render(render, input, images, guard, storage),
        batch_format="pyarrow",
        batch_size=None,
        zero_copy_batch=True,
        **remote_args,
    )
