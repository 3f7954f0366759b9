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
dropped. The scan is bounded: object count, dictionary size, decoded bytes per stream and in total,
and pages are capped, and every search moves forward, so hostile input costs one pass.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import re
import zlib
from typing import Optional

from raypipe.samples import pdf_file

MAX_OBJECTS = 100_000  # object headers looked at
MAX_PAGES = 10_000  # pages rebuilt
MAX_HEAD_BYTES = 64 * 1024  # an object's dictionary (text before ``stream``/``endobj``)
MAX_STREAM_BYTES = 16 * 1024 * 1024  # decoded bytes of one content stream (deflate bombs stop here)
MAX_DECODED_BYTES = 128 * 1024 * 1024  # decoded bytes over the whole scan
MAX_COPIED_OBJECTS = 50_000  # surviving objects copied into the new file (fonts, XObjects, ...)

LETTER = (612.0, 792.0)
A4 = (595.276, 841.89)

_HEADER = re.compile(rb"(?<![0-9])(\d{1,10})[ \t\r\n\f\x00]+(\d{1,5})[ \t\r\n\f\x00]+obj(?![A-Za-z])")
_REF = re.compile(rb"(\d{1,10})\s+(\d{1,5})\s+R(?![A-Za-z])")
_NAME = re.compile(rb"/([^\s/\[\]()<>{}%]*)")
_LENGTH = re.compile(rb"/Length\s+(\d+)(?!\s+\d+\s+R)")
_FILTER = re.compile(rb"/Filter\s*(?:\[([^\]]*)\]|(/[^\s/\[\]()<>{}%]+))")
# keys that give a stream another role than page content: font programs, images, forms, patterns,
# functions, ICC profiles, metadata, object and cross-reference streams (a page content stream's
# dictionary holds /Length and /Filter, at times a writer's private key)
_OTHER_ROLE = re.compile(
    rb"/(?:Type|Subtype|BBox|Matrix|Resources|FormType|Length[123]|Width|Height|ImageMask|ColorSpace|SMask|"
    rb"Mask|N|Alternate|Range|Domain|FunctionType|ShadingType|PatternType|First|Extends|Size|Prev|Root|Index|W)"
    rb"(?![^\s/\[\]()<>{}%])"
)
_END = rb"(?=[\s\[\(/<%]|$)"


def _operator(*names: bytes) -> bytes:
    """A pattern for any of the operators ``names`` standing alone: each name is matched first (so
    the search jumps from candidate to candidate) and then checked to follow a delimiter or the
    start (a lookbehind over the name itself)."""
    alternatives = [re.escape(n) + rb"(?<![^\s\]\)>]" + re.escape(n) + rb")" for n in names]
    return rb"(?:" + b"|".join(alternatives) + rb")" + _END


_TEXT_SHOW = re.compile(_operator(b"Tj", b"TJ", b"'", b'"'))
_BT = re.compile(_operator(b"BT"))
_ET = re.compile(_operator(b"ET"))
_PAINT = re.compile(_operator(b"f", b"f*", b"F", b"S", b"s", b"B", b"B*", b"b", b"b*"))
_GLYPH = re.compile(rb"\s*(?:[-+\d.]+\s+){2,6}d[01]" + _END)  # a Type3 glyph procedure starts so
_NOT_CONTENT = (b"begincmap", b"eexec", b"<?xpacket", b"%!PS", b"/FontName", b"/CIDInit")
_RECT = re.compile(rb"re(?<=\d\sre)" + _END)  # ``x y w h re``
_PATH = re.compile(rb"m(?<=\d\sm)" + _END)  # ``x y m``
_INLINE_IMAGE = re.compile(_operator(b"BI") + rb"\s*/.{1,2000}?\sID\s", re.S)
_OPERATORS = set(
    b"b B b* B* BDC BI BMC BT BX c cm CS cs d d0 d1 Do DP EI EMC ET EX f F f* G g gs h i ID j J K k l m "
    b"M MP n q Q re RG rg ri s S SC sc SCN scn sh T* Tc Td TD Tf Tj TJ TL Tm Tr Ts Tw Tz v w W W* y ' \" "
    b"true false null".split()
)
# strings, dictionaries, hex strings, names, comments and numbers are skipped; what is left (the
# group) are the bare words, which in a content stream are operators
_BARE_WORD = re.compile(
    rb"\((?:\\.|[^\\)])*\)|<<|>>|<[0-9A-Fa-f\s]*>|/[^\s/\[\]()<>{}%]*|%[^\r\n]*"
    rb"|[-+]?(?:\d+\.?\d*|\.\d+)(?![^\s/\[\]()<>{}%])|([^\s/\[\]()<>{}%]+)|[\[\]{}()<>]"
)
_INLINE_DATA = re.compile(rb"ID(?<=\sID)\s")
_PRINTABLE = bytes(range(32, 127)) + b"\t\n\r"
_TF = re.compile(rb"/([^\s/\[\]()<>{}%]+)\s+[-+\d.]+\s+Tf" + _END)
_DO = re.compile(rb"/([^\s/\[\]()<>{}%]+)\s+Do" + _END)
_NUM = rb"([-+]?\d*\.?\d+)"
_CM = re.compile(rb"1\s+0\s+0\s+1\s+" + _NUM + rb"\s+" + _NUM + rb"\s+cm" + _END)
_FIRST_TD = re.compile(  # the first text position in a text object: absolute when no cm moved it
    _operator(b"BT") + rb"\s+(?:/[^\s/]+\s+[-+\d.]+\s+Tf\s+)?" + _NUM + rb"\s+" + _NUM + rb"\s+T[dD]" + _END
)
_BOX = re.compile(rb"/MediaBox\s*\[\s*" + (_NUM + rb"\s+") * 3 + _NUM + rb"\s*\]")
_ROTATE = re.compile(rb"/Rotate\s+(-?\d+)")
_IS_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_IS_PAGES = re.compile(rb"/Type\s*/Pages(?![A-Za-z])")
_IS_FONT = re.compile(rb"/Type\s*/Font(?![A-Za-z])|/BaseFont\s*/")
_IS_XOBJECT = re.compile(rb"/Subtype\s*/(?:Image|Form)(?![A-Za-z])")
_STOP_FOLLOWING = re.compile(rb"/Type\s*/(?:Page|Pages|Catalog|ObjStm|XRef)(?![A-Za-z])")


@dataclasses.dataclass
class RawObject:
    """One ``N G obj`` found in the bytes: its dictionary text, its stream bytes, where it lies."""

    num: int
    gen: int
    start: int  # offset of the header
    end: int  # offset after ``endobj`` (or after the stream's data when ``endobj`` is missing)
    head: bytes  # the text between ``obj`` and ``stream`` / ``endobj`` (empty for a fragment)
    stream: Optional[memoryview]  # raw (still encoded) stream data, None for other objects
    complete: bool  # the whole object is there (for a stream: its data ends with endstream)


@dataclasses.dataclass
class Salvage:
    """A PDF rebuilt from the pages found in the bytes."""

    data: bytes
    pages: int
    scanned_objects: int


class _Finder:
    """``bytes.find`` for a few fixed needles at a position that only moves forward: each needle's
    next hit is remembered, so the whole scan reads the file a bounded number of times."""

    def __init__(self, data: bytes):
        self.data = data
        self.hits: dict[bytes, int] = {}

    def next(self, needle: bytes, pos: int) -> int:
        hit = self.hits.get(needle)
        if hit is None or (hit != -1 and hit < pos):
            hit = self.data.find(needle, pos)
            self.hits[needle] = hit
        return hit


def scan(data: bytes, max_objects: int = MAX_OBJECTS) -> list[RawObject]:
    """Every ``N G obj`` in ``data``, in file order (one pass; objects inside stream data skipped)."""
    find = _Finder(data)
    view = memoryview(data)  # stream data is sliced from it, not copied
    found: list[RawObject] = []
    pos = 0
    while len(found) < max_objects:
        m = _HEADER.search(data, pos)
        if m is None:
            break
        body = m.end()
        endobj = find.next(b"endobj", body)
        stream = find.next(b"stream", body)
        while stream != -1 and data[stream - 3:stream] == b"end":  # an endstream, not a stream
            stream = find.next(b"stream", stream + 6)
        num, gen = int(m.group(1)), int(m.group(2))
        is_stream = (stream != -1 and (endobj == -1 or stream < endobj) and stream - body <= MAX_HEAD_BYTES
                     and data[body:stream].rstrip().endswith(b">>"))
        head_end = stream if is_stream else endobj
        if head_end != -1 and head_end - body <= MAX_HEAD_BYTES:
            other = _HEADER.search(data, body, head_end)
            if other:  # another object starts before this one ends: a damaged fragment
                found.append(RawObject(num, gen, m.start(), other.start(), b"", None, False))
                pos = other.start()
                continue
        if is_stream:
            head = data[body:stream]
            start = stream + len(b"stream")
            if data[start:start + 2] == b"\r\n":
                start += 2
            elif data[start:start + 1] in (b"\n", b"\r"):
                start += 1
            end = _stream_end(data, head, start, find)
            if end is None:  # cut short: the data runs to the next object, or to the end of the file
                after = _HEADER.search(data, start)
                stop = after.start() if after else len(data)
                found.append(RawObject(num, gen, m.start(), stop, head, view[start:stop], False))
                pos = stop
                continue
            after = find.next(b"endstream", end) + len(b"endstream")
            close = find.next(b"endobj", after)
            stop = close + len(b"endobj") if close != -1 and close - after < 64 else after
            found.append(RawObject(num, gen, m.start(), stop, head, view[start:end], True))
            pos = stop
        elif endobj != -1 and endobj - body <= MAX_HEAD_BYTES:
            found.append(RawObject(num, gen, m.start(), endobj + len(b"endobj"), data[body:endobj], None, True))
            pos = endobj + len(b"endobj")
        else:  # no end in reach: a fragment (or noise); keep looking after its header
            found.append(RawObject(num, gen, m.start(), len(data), b"", None, False))
            pos = body
    return found


def _stream_end(data: bytes, head: bytes, start: int, find: _Finder) -> Optional[int]:
    """Where the stream's data ends: at ``/Length`` when ``endstream`` follows it, else at the next
    ``endstream``; None when there is none (the file was cut inside the stream)."""
    length = _LENGTH.search(head)
    if length:
        end = start + int(length.group(1))
        if end <= len(data) and data[end:end + 32].lstrip().startswith(b"endstream"):
            return end
    end = find.next(b"endstream", start)
    if end == -1:
        return None
    if data[end - 2:end] == b"\r\n":
        return end - 2
    return end - 1 if data[end - 1:end] in (b"\n", b"\r") else end


def _names(text: bytes) -> list[bytes]:
    return [n for n in _NAME.findall(text) if n]


def _filters(head: bytes) -> Optional[list[bytes]]:
    m = _FILTER.search(head)
    if not m:
        return []
    return _names(m.group(1)) if m.group(1) is not None else _names(m.group(2))


def _decode(raw: memoryview, filters: list[bytes], budget: int) -> tuple[Optional[bytes], bool]:
    """(decoded bytes, whether the stream was whole). None when a filter is unsupported, the data
    is not valid, or it decodes to more than ``budget`` bytes."""
    whole = True
    if len(raw) > 2 * budget:  # no filter here decodes to less than half its input
        return None, False
    if not (filters and filters[0] in (b"FlateDecode", b"Fl")):
        raw = bytes(raw)
    for name in filters:
        if name in (b"FlateDecode", b"Fl"):
            raw, ok = _inflate(raw, budget)
            if raw is None:
                return None, False
            whole = whole and ok
        elif name in (b"ASCIIHexDecode", b"AHx"):
            hexa = re.sub(rb"\s", b"", raw.split(b">", 1)[0])
            try:
                raw = bytes.fromhex((hexa + b"0" * (len(hexa) % 2)).decode("ascii"))
            except ValueError:
                return None, False
        elif name in (b"ASCII85Decode", b"A85"):
            import base64

            try:
                raw = base64.a85decode(raw.split(b"~>", 1)[0], adobe=False, ignorechars=b" \t\n\r\x0b\x0c")
            except ValueError:
                return None, False
        else:
            return None, False
        if len(raw) > budget:
            return None, False
    return bytes(raw), whole


def _inflate(raw: bytes, budget: int) -> tuple[Optional[bytes], bool]:
    """Inflate at most ``budget`` bytes; a cut or damaged stream gives what came out before the damage."""
    d = zlib.decompressobj()
    out = bytearray()
    for i in range(0, len(raw), 65536):
        try:
            out += d.decompress(raw[i:i + 65536], budget + 1 - len(out))
        except zlib.error:
            return bytes(out), False
        if len(out) > budget or d.unconsumed_tail:
            return None, False  # more than the budget: a bomb, or a stream too large to be a page
        if d.eof:
            return bytes(out), True
    return bytes(out), False


def looks_like_page_content(content: bytes) -> bool:
    """Operators of the PDF content-stream language only (in a sample), and text shown in a font
    (``/F1 12 Tf`` and ``Tj``/``TJ`` inside ``BT``/``ET``) or painting (a rectangle or path then
    filled or stroked, an XObject, an inline image). Glyph procedures, font programs, CMaps,
    metadata and other writers' private data fail the first test."""
    sample = content[:8192]
    if not sample.strip() or any(marker in sample for marker in _NOT_CONTENT) or _GLYPH.match(sample):
        return False
    text = _INLINE_DATA.split(sample, 1)[0][:2048]  # inline image data is not made of tokens
    if len(text.translate(None, _PRINTABLE)) > 0.25 * len(text):
        return False
    if len(text) < len(content):  # end at a line end, not inside a string
        text = text[: max(text.rfind(b"\n"), text.rfind(b"\r"), 1)]
    words = [word for word in _BARE_WORD.findall(text) if word]
    if not words or sum(word in _OPERATORS for word in words) < 0.9 * len(words):
        return False
    sample = content[:65536]
    if _BT.search(sample) and _ET.search(content) and _TF.search(sample) and _TEXT_SHOW.search(sample):
        return True
    if _DO.search(sample) or _INLINE_IMAGE.search(sample):
        return True
    return bool((_RECT.search(sample) or _PATH.search(sample)) and _PAINT.search(sample))


def _complete_part(content: bytes) -> Optional[bytes]:
    """A cut content stream up to the end of its last complete text object, or None."""
    last = None
    for last in _ET.finditer(content):
        pass
    return content[:last.end()] + b"\n" if last else None


_DICT_MARK = re.compile(rb"<<|>>")


def _balanced(text: bytes, start: int, limit: int = 4096) -> Optional[bytes]:
    """The ``<< ... >>`` dictionary that opens at ``text[start]``, looking at ``limit`` marks at
    most (strings are not looked into)."""
    depth = 0
    for i, m in enumerate(_DICT_MARK.finditer(text, start)):
        if i >= limit or (depth == 0 and i > 0):
            return None
        depth += 1 if m.group(0) == b"<<" else -1
        if depth < 0:
            return None
        if depth == 0:
            return text[start:m.end()]
    return None


def _entry(dictionary: bytes, key: bytes) -> Optional[bytes]:
    """The value of ``/key`` in a dictionary's text when it is a dictionary or a reference."""
    m = re.search(rb"/" + re.escape(key) + rb"(?![^\s/\[\]()<>{}%])\s*", dictionary)
    if not m:
        return None
    if dictionary[m.end():m.end() + 2] == b"<<":
        return _balanced(dictionary, m.end())
    ref = _REF.match(dictionary, m.end())
    return ref.group(0) if ref else None


class _Objects:
    """The objects found, by number (the last definition of a number wins, as in an updated file)."""

    def __init__(self, found: list[RawObject]):
        self.by_num = {o.num: o for o in found}

    def get(self, ref: bytes) -> Optional[RawObject]:
        m = _REF.match(ref)
        obj = self.by_num.get(int(m.group(1))) if m else None
        return obj if obj is not None and obj.complete and obj.gen == int(m.group(2)) else None

    def dictionary(self, value: Optional[bytes]) -> Optional[bytes]:
        """A dictionary value, following one reference."""
        if value is None:
            return None
        if value.startswith(b"<<"):
            return value
        obj = self.get(value)
        if obj is None or obj.stream is not None:
            return None
        start = obj.head.find(b"<<")
        return _balanced(obj.head, start) if start != -1 else None

    def named(self, dictionary: Optional[bytes], kind: re.Pattern) -> dict[bytes, bytes]:
        """name → reference for the entries of a /Font or /XObject dictionary whose object survives
        and is of ``kind``."""
        out = {}
        for m in re.finditer(rb"/([^\s/\[\]()<>{}%]+)\s+(\d{1,10}\s+\d{1,5}\s+R)", dictionary or b""):
            obj = self.get(m.group(2))
            if obj is not None and kind.search(obj.head):
                out[m.group(1)] = m.group(2)
        return out


@dataclasses.dataclass
class _Page:
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


def find_pages(found: list[RawObject]) -> tuple[list[_Page], _Objects, dict, dict]:
    """The page content streams in object order, each with what its surviving page dictionary
    tells (size, rotation, resources); and the font and XObject names known anywhere in the file."""
    objects = _Objects(found)
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
                for i, ref in enumerate(_REF.finditer(contents.group(1))):
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
            value = objects.dictionary(_entry(obj.head[m.start():], b"Font"))
            for name, ref in objects.named(value, _IS_FONT).items():
                fonts_by_name.setdefault(name, ref)
        for m in itertools.islice(re.finditer(rb"/XObject\s*(?=<<|\d)", obj.head), 8):
            value = objects.dictionary(_entry(obj.head[m.start():], b"XObject"))
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
        if _OTHER_ROLE.search(obj.head):
            continue
        predictor = re.search(rb"/Predictor\s+(\d+)", obj.head)
        if predictor and predictor.group(1) != b"1":
            continue
        content, whole = _decode(obj.stream, _filters(obj.head), min(MAX_STREAM_BYTES, budget))
        if content is None:
            continue
        budget -= len(content)
        if not (whole and obj.complete):
            content = _complete_part(content)
        if not content:
            continue
        if obj.num in part_of:
            key, index = part_of[obj.num]
            if key not in parts:
                slots.append(key)
            parts.setdefault(key, {})[index] = content
        elif looks_like_page_content(content):
            slots.append(content)

    pages: list[_Page] = []
    for slot in slots:
        if isinstance(slot, bytes):
            pages.append(_Page(slot))
            continue
        content = b"\n".join(part for _, part in sorted(parts[slot].items()))
        if not looks_like_page_content(content):
            continue
        head = page_heads[slot]
        page = _Page(content, box=_box(head))
        rotate = _ROTATE.search(head)
        page.rotate = int(rotate.group(1)) % 360 // 90 * 90 if rotate else 0
        resources = objects.dictionary(_entry(head, b"Resources"))
        if resources:
            page.fonts = objects.named(objects.dictionary(_entry(resources, b"Font")), _IS_FONT)
            page.xobjects = objects.named(objects.dictionary(_entry(resources, b"XObject")), _IS_XOBJECT)
        pages.append(page)
    unsized = [page for page in pages if page.box is None]
    if unsized:
        box = common_box or guess_box([page.content for page in unsized])
        for page in unsized:
            page.box = box
    return pages, objects, fonts_by_name, xobjects_by_name


def salvage(data: bytes) -> Optional[Salvage]:
    """A new PDF holding every page content stream found in ``data`` (see the module's docstring),
    or None when there is none."""
    found = scan(data)
    pages, objects, fonts_by_name, xobjects_by_name = find_pages(found)
    if not pages:
        return None
    return Salvage(write(pages, objects, fonts_by_name, xobjects_by_name), len(pages), len(found))


def _fmt(value: float) -> bytes:
    return (b"%.4f" % value).rstrip(b"0").rstrip(b".")


def write(pages: list[_Page], objects: _Objects, fonts_by_name: dict, xobjects_by_name: dict) -> bytes:
    """Serialise the pages into a PDF. Surviving objects the pages use (fonts, XObjects and what
    they point at) are copied as they are, numbered 1, 2, ... in file order; a reference to an
    object that is not copied becomes null. New objects (pages, contents, page tree) come after."""
    resolved = []  # per page: ([(font name, reference or None)], [(XObject name, reference)])
    wanted: list[bytes] = []
    for page in pages:
        fonts = [(name, page.fonts.get(name) or fonts_by_name.get(name))
                 for name in dict.fromkeys(_TF.findall(page.content))]
        xobjects = [(name, page.xobjects.get(name) or xobjects_by_name.get(name))
                    for name in dict.fromkeys(_DO.findall(page.content))]
        xobjects = [(name, ref) for name, ref in xobjects if ref]
        wanted += [ref for _, ref in fonts if ref] + [ref for _, ref in xobjects]
        resolved.append((fonts, xobjects))
    copied = _closure(wanted, objects)
    numbers = {(obj.num, obj.gen): i for i, obj in enumerate(copied, start=1)}

    def renumber(text: bytes) -> bytes:
        def one(m: re.Match) -> bytes:
            new_number = numbers.get((int(m.group(1)), int(m.group(2))))
            return b"%d 0 R" % new_number if new_number else b"null"

        return _REF.sub(one, text)

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
    for page, (fonts, xobjects) in zip(pages, resolved):
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


def _closure(refs: list[bytes], objects: _Objects) -> list[RawObject]:
    """The surviving objects ``refs`` point at and everything they point at, in file order; page
    tree nodes, the catalog and cross-reference/object streams are not followed."""
    seen: dict[int, RawObject] = {}
    todo = list(refs)
    while todo and len(seen) < MAX_COPIED_OBJECTS:
        obj = objects.get(todo.pop())
        if obj is None or obj.num in seen or _STOP_FOLLOWING.search(obj.head):
            continue
        seen[obj.num] = obj
        todo.extend(m.group(0) for m in _REF.finditer(obj.head))
    return sorted(seen.values(), key=lambda o: o.start)
