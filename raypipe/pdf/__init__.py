"""PDF handling below the render stage: opening a document (with passwords), repairing a broken one
with qpdf, salvaging the pages of a truncated one from its raw bytes, the minimal PDF writer the
salvage needs, and the bounded process all of it runs in.

- :mod:`raypipe.pdf.document` — header check, open with PDFium, open-or-repair;
- :mod:`raypipe.pdf.repair` — qpdf's reconstruction against the salvage, the better one wins;
- :mod:`raypipe.pdf.scan` — the bounded scan of raw bytes for objects and page content streams;
- :mod:`raypipe.pdf.salvage` — one page per surviving content stream, rebuilt into a new file;
- :mod:`raypipe.pdf.writer` — objects to a complete PDF file;
- :mod:`raypipe.pdf.sandbox` — a long-lived process of its own per worker, capped in memory and
  stopped past a deadline, that renders one document at a time.
"""
