"""Repair a file PDFium cannot open: qpdf's reconstruction against the content-stream salvage, and
the one that gives more pages with content wins (qpdf's on a tie)."""

from __future__ import annotations

import io
import re
from typing import Sequence

from raypipe.errors import DocumentError, ErrorCode


def repair(data: bytes, passwords: Sequence[str] = ()) -> bytes:
    """The document rebuilt from what survives of it, saved unencrypted. Two ways are tried, and
    the one that gives more pages with content wins (qpdf's on a tie):

    - qpdf (through pikepdf) reconstructs a truncated file or a broken cross-reference table by
      scanning the file for objects, and keeps every page whose dictionary it finds;
    - :func:`raypipe.pdf.salvage.salvage` rebuilds one page per surviving page content stream, which
      brings pages back when their dictionaries are gone (pdfTeX writes them last, in an object
      stream).

    Raises DocumentError: ``encrypted`` when no password opens it, ``unreadable`` when neither way
    finds a page."""
    from raypipe.pdf.salvage import salvage

    try:
        fixed, pages = qpdf_repair(data, passwords)
        failure = None
    except DocumentError as e:
        if e.code is not ErrorCode.UNREADABLE:
            raise
        fixed, pages, failure = None, 0, e
    try:
        salvaged = salvage(data)
    except MemoryError:  # out of the render process's memory: the document is too complex, not unreadable
        raise
    except Exception:  # the scan is a second chance: a fault in it must not cost qpdf's result
        salvaged = None
    if salvaged is not None and salvaged.pages > pages:
        return salvaged.data
    if fixed is not None:
        return fixed
    raise DocumentError(ErrorCode.UNREADABLE, f"{failure.message}; no page content found in the bytes either")


def qpdf_repair(data: bytes, passwords: Sequence[str]) -> tuple[bytes, int]:
    """(qpdf's rebuilt file, how many of its pages have content)."""
    import pikepdf

    for password in ("", *passwords):
        try:
            with pikepdf.open(io.BytesIO(data), password=password) as pdf:
                if len(pdf.pages) == 0:
                    raise DocumentError(ErrorCode.UNREADABLE, "qpdf finds no pages")
                with_content = sum(1 for page in pdf.pages if _has_content(page))
                out = io.BytesIO()
                pdf.save(out)
                return out.getvalue(), with_content
        except pikepdf.PasswordError:
            continue
        except (DocumentError, MemoryError):
            raise
        except Exception as e:  # qpdf's errors (PdfError, ...) and anything it trips on
            reason = re.sub(r"^stream <[^>]*>: ", "", str(e))  # drop the BytesIO's repr
            raise DocumentError(ErrorCode.UNREADABLE, f"qpdf cannot repair it: {type(e).__name__}: {reason}") from e
    raise DocumentError(ErrorCode.ENCRYPTED, "the document is encrypted and needs a password")


def _has_content(page) -> bool:
    """Whether the page's /Contents holds any data (qpdf turns a lost object into null)."""
    import pikepdf

    try:
        contents = page.obj.get("/Contents")
        streams = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
        return any(isinstance(s, pikepdf.Stream) and len(s.read_raw_bytes()) > 0 for s in streams)
    except MemoryError:
        raise
    except Exception:  # a damaged page: no content to count
        return False
