"""The minimal PDF writer: object bodies to a complete file (header, objects, cross-reference table,
trailer). The salvage writes the file it rebuilds with it."""

from __future__ import annotations


def pdf_file(bodies: list[bytes], root: int) -> bytes:
    """A complete PDF file of these object bodies (object ``i+1`` is ``bodies[i]``): header, objects,
    cross-reference table and trailer, with object ``root`` as the catalog."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(bodies) + 1, root, xref)
    return bytes(out)
