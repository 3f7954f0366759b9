"""The content-stream scan of a damaged PDF: every ``N G obj`` in its raw bytes, their streams
decoded within budgets, and the test that tells a page's content stream from every other stream.

Used by :mod:`raypipe.pdf.salvage` when a file's structure is lost. Every search moves forward and
every decode is bounded (object count, dictionary size, decoded bytes), so hostile input costs one
pass over the bytes.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from typing import Optional

MAX_OBJECTS = 100_000  # object headers looked at
MAX_HEAD_BYTES = 64 * 1024  # an object's dictionary (text before ``stream``/``endobj``)
MAX_STREAM_BYTES = 16 * 1024 * 1024  # decoded bytes of one content stream (deflate bombs stop here)

_HEADER = re.compile(rb"(?<![0-9])(\d{1,10})[ \t\r\n\f\x00]+(\d{1,5})[ \t\r\n\f\x00]+obj(?![A-Za-z])")
REF = re.compile(rb"(\d{1,10})\s+(\d{1,5})\s+R(?![A-Za-z])")
_NAME = re.compile(rb"/([^\s/\[\]()<>{}%]*)")
_LENGTH = re.compile(rb"/Length\s+(\d+)(?!\s+\d+\s+R)")
_FILTER = re.compile(rb"/Filter\s*(?:\[([^\]]*)\]|(/[^\s/\[\]()<>{}%]+))")
# keys that give a stream another role than page content: font programs, images, forms, patterns,
# functions, ICC profiles, metadata, object and cross-reference streams (a page content stream's
# dictionary holds /Length and /Filter, at times a writer's private key)
OTHER_ROLE = re.compile(
    rb"/(?:Type|Subtype|BBox|Matrix|Resources|FormType|Length[123]|Width|Height|ImageMask|ColorSpace|SMask|"
    rb"Mask|N|Alternate|Range|Domain|FunctionType|ShadingType|PatternType|First|Extends|Size|Prev|Root|Index|W)"
    rb"(?![^\s/\[\]()<>{}%])"
)
END = rb"(?=[\s\[\(/<%]|$)"


def operator_pattern(*names: bytes) -> bytes:
    """A pattern for any of the operators ``names`` standing alone: each name is matched first (so
    the search jumps from candidate to candidate) and then checked to follow a delimiter or the
    start (a lookbehind over the name itself)."""
    alternatives = [re.escape(n) + rb"(?<![^\s\]\)>]" + re.escape(n) + rb")" for n in names]
    return rb"(?:" + b"|".join(alternatives) + rb")" + END


_TEXT_SHOW = re.compile(operator_pattern(b"Tj", b"TJ", b"'", b'"'))
_BT = re.compile(operator_pattern(b"BT"))
_ET = re.compile(operator_pattern(b"ET"))
_PAINT = re.compile(operator_pattern(b"f", b"f*", b"F", b"S", b"s", b"B", b"B*", b"b", b"b*"))
_GLYPH = re.compile(rb"\s*(?:[-+\d.]+\s+){2,6}d[01]" + END)  # a Type3 glyph procedure starts so
_NOT_CONTENT = (b"begincmap", b"eexec", b"<?xpacket", b"%!PS", b"/FontName", b"/CIDInit")
_RECT = re.compile(rb"re(?<=\d\sre)" + END)  # ``x y w h re``
_PATH = re.compile(rb"m(?<=\d\sm)" + END)  # ``x y m``
_INLINE_IMAGE = re.compile(operator_pattern(b"BI") + rb"\s*/.{1,2000}?\sID\s", re.S)
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
TF = re.compile(rb"/([^\s/\[\]()<>{}%]+)\s+[-+\d.]+\s+Tf" + END)
DO = re.compile(rb"/([^\s/\[\]()<>{}%]+)\s+Do" + END)

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


def filters(head: bytes) -> Optional[list[bytes]]:
    m = _FILTER.search(head)
    if not m:
        return []
    return _names(m.group(1)) if m.group(1) is not None else _names(m.group(2))


_FLATE = (b"FlateDecode", b"Fl")
_SUPPORTED = {*_FLATE, b"ASCIIHexDecode", b"AHx", b"ASCII85Decode", b"A85"}


def decode(raw: memoryview, filters: list[bytes], budget: int) -> tuple[Optional[bytes], bool, int]:
    """(decoded bytes, whether the stream was whole, bytes of work spent). The decoded bytes are None
    when a filter is unsupported, the data is not valid, or it decodes to more than ``budget``
    bytes. The work spent counts every byte a filter put out (the raw bytes for a stream with no
    filter), whether the result is kept or rejected, so that a scan charging it to its budget pays
    for every attempt."""
    if len(raw) > 2 * budget or not _SUPPORTED.issuperset(filters):  # no filter here halves its input
        return None, False, 0
    if not filters:
        return bytes(raw), True, len(raw)
    whole, spent = True, 0
    data = raw if filters[0] in _FLATE else bytes(raw)
    for name in filters:
        if name in _FLATE:
            data, ok, produced = _inflate(data, budget)
            spent += produced
            if data is None:
                return None, False, spent
            whole = whole and ok
            continue
        if name in (b"ASCIIHexDecode", b"AHx"):
            hexa = re.sub(rb"\s", b"", bytes(data).split(b">", 1)[0])
            try:
                data = bytes.fromhex((hexa + b"0" * (len(hexa) % 2)).decode("ascii"))
            except ValueError:
                return None, False, spent
        else:
            import base64

            try:
                data = base64.a85decode(bytes(data).split(b"~>", 1)[0], adobe=False, ignorechars=b" \t\n\r\x0b\x0c")
            except ValueError:
                return None, False, spent
        spent += len(data)
        if len(data) > budget:
            return None, False, spent
    return bytes(data), whole, spent


def _inflate(raw, budget: int) -> tuple[Optional[bytes], bool, int]:
    """(what came out, whether the stream ended, bytes inflated). At most ``budget + 1`` bytes are
    inflated; past ``budget`` the result is None. A cut or damaged stream gives what came out
    before the damage."""
    d = zlib.decompressobj()
    out = bytearray()
    for i in range(0, len(raw), 65536):
        try:
            out += d.decompress(raw[i:i + 65536], budget + 1 - len(out))
        except zlib.error:
            return bytes(out), False, len(out)
        if len(out) > budget or d.unconsumed_tail:
            return None, False, len(out)  # more than the budget: a bomb, or a stream too large to be a page
        if d.eof:
            return bytes(out), True, len(out)
    return bytes(out), False, len(out)


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
    if _BT.search(sample) and _ET.search(content) and TF.search(sample) and _TEXT_SHOW.search(sample):
        return True
    if DO.search(sample) or _INLINE_IMAGE.search(sample):
        return True
    return bool((_RECT.search(sample) or _PATH.search(sample)) and _PAINT.search(sample))


def complete_part(content: bytes) -> Optional[bytes]:
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


def entry(dictionary: bytes, key: bytes) -> Optional[bytes]:
    """The value of ``/key`` in a dictionary's text when it is a dictionary or a reference."""
    m = re.search(rb"/" + re.escape(key) + rb"(?![^\s/\[\]()<>{}%])\s*", dictionary)
    if not m:
        return None
    if dictionary[m.end():m.end() + 2] == b"<<":
        return _balanced(dictionary, m.end())
    ref = REF.match(dictionary, m.end())
    return ref.group(0) if ref else None


class Objects:
    """The objects found, by number (the last definition of a number wins, as in an updated file)."""

    def __init__(self, found: list[RawObject]):
        self.by_num = {o.num: o for o in found}

    def get(self, ref: bytes) -> Optional[RawObject]:
        m = REF.match(ref)
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
