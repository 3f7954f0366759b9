"""Opening a document: the header check, PDFium with the passwords given, and repair when PDFium
cannot parse the file."""

from __future__ import annotations

from typing import Sequence

from raypipe.errors import DocumentError, ErrorCode

_PDFIUM_PASSWORD_ERROR = 4  # FPDF_ERR_PASSWORD


def check_header(data: bytes) -> None:
    if not data:
        raise DocumentError(ErrorCode.EMPTY, "the file is empty (0 bytes)")
    if b"%PDF-" not in data[:1024]:
        head = data[:16].decode("latin-1").encode("unicode_escape").decode()
        raise DocumentError(ErrorCode.NOT_PDF, f"no %PDF- header in the first 1024 bytes (starts with {head!r})")


def open_pdf(data: bytes, passwords: Sequence[str] = ()):
    """The document opened with PDFium: without a password first, then with each of ``passwords``."""
    import pypdfium2 as pdfium

    for password in (None, *passwords):
        try:
            return pdfium.PdfDocument(data, password=password)
        except pdfium.PdfiumError as e:
            if getattr(e, "err_code", None) != _PDFIUM_PASSWORD_ERROR:
                raise DocumentError(ErrorCode.UNREADABLE, f"PDFium cannot open the document: {e}") from e
    tried = f"; none of the {len(passwords)} passwords given opens it" if passwords else ""
    raise DocumentError(ErrorCode.ENCRYPTED, f"the document is encrypted and needs a password{tried}")


def open_document(data: bytes, passwords: Sequence[str] = ()):
    """(PDFium document, whether it was repaired). A file PDFium cannot open is repaired (see
    :func:`raypipe.pdf.repair.repair`) and the repaired file is opened instead. Raises DocumentError
    (empty, not_pdf, encrypted, unreadable)."""
    from raypipe.pdf.repair import repair

    check_header(data)
    try:
        return open_pdf(data, passwords), False
    except DocumentError as e:
        if e.code is not ErrorCode.UNREADABLE:
            raise
        failure = e
    try:
        repaired = repair(data, passwords)
    except DocumentError as repair_error:
        if repair_error.code is ErrorCode.UNREADABLE:
            raise DocumentError(ErrorCode.UNREADABLE, f"{failure.message.rstrip('.')}; repair failed too "
                                f"({repair_error.message})") from repair_error
        raise
    try:
        return open_pdf(repaired), True
    except DocumentError as again:
        raise DocumentError(ErrorCode.UNREADABLE, f"{failure.message.rstrip('.')}; repair failed too (the "
                            f"repaired file does not open either: {again.message})") from again
