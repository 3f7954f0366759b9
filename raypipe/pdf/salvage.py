"""Salvage the pages of a damaged PDF from its raw bytes, when qpdf's repair finds none or too few.

A file cut short loses whatever its writer put last. pdfTeX (and other writers that use object
streams) writes each page's content stream as the page is shipped out, and the page dictionaries,
page tree and catalog last, compressed in an object stream, with the cross-reference stream. Cut
such a file anywhere and qpdf's reconstruction finds no page at all, though the content of most
pages is still there.

:func:`salvage` scans the bytes for ``N G obj`` objects, keeps the streams that decode and look like
page content (text and painting operators, no other role in their dictionary), and writes a new PDF
with one page per such stream (per page dictionary, when one survives and lists several), in
object order:

- page size, rotation and resources come from a surviving page dictionary that points at the
  stream; otherwise the most common surviving page (or page tree) size, else a guess from the
  content's coordinates (A4 when text sits above US Letter's top edge, else US Letter);
- every font name the content uses (``/F27 9.96 Tf``) gets a surviving font dictionary when one
  can be matched (the page's own resources, a surviving resource dictionary using that name, or a
  font with that ``/Name``), else standard Helvetica, so the text draws and its text layer reads;
- XObjects are matched by name the same way; surviving objects they need are copied as they are.

A content stream cut mid-way is kept up to the end of its last complete text object (``ET``), or
dropped. The scan is bounded: object count, dictionary size, decoded bytes per stream and in total
(every decode attempt is charged, kept or rejected), and pages are capped, and every search moves
forward, so hostile input costs one bounded pass.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import re
import zlib
from typing import Optional

from raypipe.pdf.scan import (
    DO,
    END,
    MAX_STREAM_BYTES,
    OTHER_ROLE,
    REF,
    TF,
    Objects,
    RawObject,
    complete_part,
    decode,
    entry,
    filters,
    looks_like_page_content,
    operator_pattern,
    scan,
)
from raypipe.pdf.writer import pdf_file

MAX_PAGES = 10_000  # pages rebuilt
MAX_DECODED_BYTES = 128 * 1024 * 1024  # bytes decoded over the whole scan, streams kept or rejected
MAX_COPIED_OBJECTS = 50_000  # surviving objects copied into the new file (fonts, XObjects, ...)

LETTER = (612.0, 792.0)
A4 = (595.276, 841.89)

_NUM = rb"([-+]?\d*\.?\d+)"
_CM = re.compile(rb"1\s+0\s+0\s+1\s+" + _NUM + rb"\s+" + _NUM + rb"\s+cm" + END)
_FIRST_TD = re.compile(  # the first text position in a text object: absolute when no cm moved it
    operator_pattern(b"BT") + rb"\s+(?:/[^\s/]+\s+[-+\d.]+\s+Tf\s+)?" + _NUM + rb"\s+" + _NUM + rb"\s+T[dD]" + END
)
_BOX = re.compile(rb"/MediaBox\s*\[\s*" + (_NUM + rb"\s+") * 3 + _NUM + rb"\s*\]")
_ROTATE = re.compile(rb"/Rotate\s+(-?\d+)")
_IS_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_IS_PAGES = re.compile(rb"/Type\s*/Pages(?![A-Za-z])")
_IS_FONT = re.compile(rb"/Type\s*/Font(?![A-Za-z])|/BaseFont\s*/")
_IS_XOBJECT = re.compile(rb"/Subtype\s*/(?:Image|Form)(?![A-Za-z])")
_STOP_FOLLOWING = re.compile(rb"/Type\s*/(?:Page|Pages|Catalog|ObjStm|XRef)(?![A-Za-z])")


@dataclasses.dataclass
class Salvage:
    """A PDF rebuilt from the pages found in the bytes."""

    data: bytes
    pages: int
    scanned_objects: int


@dataclasses.dataclass
class Page:
    """A page to rebuild: its content stream and what a surviving page dictionary says of it."""

    content: bytes
    box: Optional[tuple[float, float, float, float]] = None
    rotate: int = 0
    fonts: dict = dataclasses.field(default_factory=dict)  # name → reference, from its own resources
    xobjects: dict = dataclasses.field(default_factory=dict)


def _box(head: bytes) -> Optional[tuple[float, float, float, float]]:
    m = _BOX.search(head)
    if not m:
        return None
    box = tuple(float(v) for v in m.groups())
    return box if box[2] - box[0] > 1 and box[3] - box[1] > 1 else None


def guess_box(contents: list[bytes]) -> tuple[float, float, float, float]:
    """US Letter, or A4 when some content places something above Letter's top edge (792 pt)
    and not above A4's."""
    top = 0.0
    for content in contents:
        for pattern in (_CM, _FIRST_TD):
            for m in pattern.finditer(content[:16384]):
                top = max(top, float(m.group(2)))
    width, height = A4 if LETTER[1] < top <= A4[1] + 36 else LETTER
    return (0.0, 0.0, width, height)


@dataclasses.dataclass
class FoundPages:
    """What the scan found: the pages to rebuild, in object order, and what they may draw with."""

    pages: list[Page]
    objects: Objects  # every object found, by number
    fonts_by_name: dict[bytes, bytes]  # font resource name → reference, from anywhere in the file
    xobjects_by_name: dict[bytes, bytes]  # XObject resource name → reference


def find_pages(found: list[RawObject]) -> FoundPages:
    """The page content streams in object order, each with what its surviving page dictionary
    tells (size, rotation, resources); and the font and XObject names known anywhere in the file."""
    objects = Objects(found)
    part_of: dict[int, tuple[int, int]] = {}  # content stream number → (page object number, index)
    page_heads: dict[int, bytes] = {}
    boxes = collections.Counter()
    fonts_by_name: dict[bytes, bytes] = {}
    xobjects_by_name: dict[bytes, bytes] = {}
    for obj in found:
        if obj.stream is not None or not obj.complete or objects.by_num[obj.num] is not obj:
            continue
        if _IS_PAGE.search(obj.head):
            contents = re.search(rb"/Contents\s*(\[[^\]]*\]|\d{1,10}\s+\d{1,5}\s+R)", obj.head)
            if contents:
                page_heads[obj.num] = obj.head
                for i, ref in enumerate(REF.finditer(contents.group(1))):
                    part_of.setdefault(int(ref.group(1)), (obj.num, i))
        if _IS_PAGE.search(obj.head) or _IS_PAGES.search(obj.head):
            box = _box(obj.head)
            if box:
                boxes[box] += 1
        if _IS_FONT.search(obj.head):
            name = re.search(rb"/Name\s*/([^\s/\[\]()<>{}%]+)", obj.head)
            if name:
                fonts_by_name.setdefault(name.group(1), b"%d %d R" % (obj.num, obj.gen))
        for m in itertools.islice(re.finditer(rb"/Font\s*(?=<<|\d)", obj.head), 8):
            value = objects.dictionary(entry(obj.head[m.start():], b"Font"))
            for name, ref in objects.named(value, _IS_FONT).items():
                fonts_by_name.setdefault(name, ref)
        for m in itertools.islice(re.finditer(rb"/XObject\s*(?=<<|\d)", obj.head), 8):
            value = objects.dictionary(entry(obj.head[m.start():], b"XObject"))
            for name, ref in objects.named(value, _IS_XOBJECT).items():
                xobjects_by_name.setdefault(name, ref)
    common_box = boxes.most_common(1)[0][0] if boxes else None

    # pages in the order of their first content stream: a surviving page dictionary gathers the
    # streams of its /Contents array; any other stream that looks like page content is a page
    slots: list[object] = []  # a page object number, or the content of a page without one
    parts: dict[int, dict[int, bytes]] = {}
    budget = MAX_DECODED_BYTES
    for obj in found:
        if len(slots) >= MAX_PAGES or budget <= 0:
            break
        if obj.stream is None or objects.by_num[obj.num] is not obj:
            continue
        if OTHER_ROLE.search(obj.head):
            continue
        predictor = re.search(rb"/Predictor\s+(\d+)", obj.head)
        if predictor and predictor.group(1) != b"1":
            continue
        content, whole, spent = decode(obj.stream, filters(obj.head), min(MAX_STREAM_BYTES, budget))
        budget -= spent  # every attempt is charged, a rejected bomb as much as a kept page
        if content is None:
            continue
        if not (whole and obj.complete):
            content = complete_part(content)
        if not content:
            continue
        if obj.num in part_of:
            key, index = part_of[obj.num]
            if key not in parts:
                slots.append(key)
            parts.setdefault(key, {})[index] = content
        elif looks_like_page_content(content):
            slots.append(content)

    pages: list[Page] = []
    for slot in slots:
        if isinstance(slot, bytes):
            pages.append(Page(slot))
            continue
        content = b"\n".join(part for _, part in sorted(parts[slot].items()))
        if not looks_like_page_content(content):
            continue
        head = page_heads[slot]
        page = Page(content, box=_box(head))
        rotate = _ROTATE.search(head)
        page.rotate = int(rotate.group(1)) % 360 // 90 * 90 if rotate else 0
        resources = objects.dictionary(entry(head, b"Resources"))
        if resources:
            page.fonts = objects.named(objects.dictionary(entry(resources, b"Font")), _IS_FONT)
            page.xobjects = objects.named(objects.dictionary(entry(resources, b"XObject")), _IS_XOBJECT)
        pages.append(page)
    unsized = [page for page in pages if page.box is None]
    if unsized:
        box = common_box or guess_box([page.content for page in unsized])
        for page in unsized:
            page.box = box
    return FoundPages(pages, objects, fonts_by_name, xobjects_by_name)


def salvage(data: bytes) -> Optional[Salvage]:
    """A new PDF holding every page content stream found in ``data`` (see the module's docstring),
    or None when there is none."""
    objects = scan(data)
    found = find_pages(objects)
    if not found.pages:
        return None
    return Salvage(rebuild(found), len(found.pages), len(objects))


def _fmt(value: float) -> bytes:
    return (b"%.4f" % value).rstrip(b"0").rstrip(b".")


def rebuild(found: FoundPages) -> bytes:
    """Serialise the pages found into a PDF. Surviving objects the pages use (fonts, XObjects and what
    they point at) are copied as they are, numbered 1, 2, ... in file order; a reference to an
    object that is not copied becomes null. New objects (pages, contents, page tree) come after."""
    resolved = []  # per page: ([(font name, reference or None)], [(XObject name, reference)])
    wanted: list[bytes] = []
    for page in found.pages:
        fonts = [(name, page.fonts.get(name) or found.fonts_by_name.get(name))
                 for name in dict.fromkeys(TF.findall(page.content))]
        xobjects = [(name, page.xobjects.get(name) or found.xobjects_by_name.get(name))
                    for name in dict.fromkeys(DO.findall(page.content))]
        xobjects = [(name, ref) for name, ref in xobjects if ref]
        wanted += [ref for _, ref in fonts if ref] + [ref for _, ref in xobjects]
        resolved.append((fonts, xobjects))
    copied = _closure(wanted, found.objects)
    numbers = {(obj.num, obj.gen): i for i, obj in enumerate(copied, start=1)}

    def renumber(text: bytes) -> bytes:
        def one(m: re.Match) -> bytes:
            new_number = numbers.get((int(m.group(1)), int(m.group(2))))
            return b"%d 0 R" % new_number if new_number else b"null"

        return REF.sub(one, text)

    bodies: list[bytes] = []
    for obj in copied:
        head = renumber(obj.head)
        if obj.stream is not None:  # the /Length written is the data's, whatever the original said
            head = re.sub(rb"/Length\s+(?:\d+\s+\d+\s+R|\d+|null)", b"/Length %d" % len(obj.stream), head, count=1)
            head += b"stream\n" + obj.stream + b"\nendstream"
        bodies.append(head)

    def add(body: bytes) -> int:
        bodies.append(body)
        return len(bodies)

    tree = add(b"")  # the page tree, filled in at the end
    helvetica = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for page, (fonts, xobjects) in zip(found.pages, resolved):
        font_entries = b" ".join(b"/%s %s" % (name, renumber(ref) if ref else b"%d 0 R" % helvetica)
                                 for name, ref in fonts)
        xobject_entries = b" ".join(b"/%s %s" % (name, renumber(ref)) for name, ref in xobjects)
        stream = zlib.compress(page.content, 1)
        contents = add(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [%s] /Rotate %d /Resources << /Font << %s >> "
                        b"/XObject << %s >> >> /Contents %d 0 R >>"
                        % (tree, b" ".join(_fmt(v) for v in page.box), page.rotate, font_entries, xobject_entries,
                           contents)))
    bodies[tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % tree)

    return pdf_file(bodies, catalog)


def _closure(refs: list[bytes], objects: Objects) -> list[RawObject]:
    """The surviving objects ``refs`` point at and everything they point at, in file order; page
    tree nodes, the catalog and cross-reference/object streams are not followed."""
    seen: dict[int, RawObject] = {}
    todo = list(refs)
    while todo and len(seen) < MAX_COPIED_OBJECTS:
        obj = objects.get(todo.pop())
        if obj is None or obj.num in seen or _STOP_FOLLOWING.search(obj.head):
            continue
        seen[obj.num] = obj
        todo.extend(m.group(0) for m in REF.finditer(obj.head))
    return sorted(seen.values(), key=lambda o: o.start)
