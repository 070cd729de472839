"""Binary XML (AXML) walk with the rules of apksig's ``AndroidBinXmlParser``.

Why our own walker rather than androguard's ``AXMLPrinter``: the verifier needs
``minSdkVersion`` exactly as apksig reads it (attributes matched by framework resource
id, the same failure points), because it decides which Android releases a signature
must verify on. androguard is lenient in different places. The walk is streaming and
bounded; malformed input raises :class:`AxmlError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAX_ELEMENTS = 1_000_000  # bound the walk; more than a 32 MiB manifest can hold anyway
DECODE_BUDGET = 64 << 20  # memory a pool's decoded strings may take in all, at 4 bytes a character (see StringPool)

class AxmlError(Exception):
    """The binary XML breaks a rule apksig's parser enforces."""


class AxmlRuntimeError(AxmlError):
    """A break apksig's parser meets as an unchecked Java exception (IllegalArgumentException,
    IndexOutOfBoundsException, BufferUnderflowException), not as its ``XmlParserException``:
    ``ApkUtils`` catches only the latter, so the former ends ``ApkVerifier.verify`` (apksigner
    verifies nothing) where a checked one gives a default value (review 73 F3)."""



# Value types (Res_value).
TYPE_REFERENCE, TYPE_STRING = 0x01, 0x03
TYPE_INT_DEC, TYPE_INT_HEX, TYPE_INT_BOOLEAN = 0x10, 0x11, 0x12
NO_INDEX = 0xFFFFFFFF
RES_XML_TYPE = 0x0003




def _chunks(buf: memoryview):
    """(type, header, contents) of consecutive chunks; stops at a truncated one."""
    pos = 0
    while len(buf) - pos >= 8:
        ctype, hsize, csize = struct.unpack_from("<HHI", buf, pos)
        if csize - 8 > len(buf) - pos - 8:
            return
        if hsize < 8:
            raise AxmlError(f"malformed chunk: header too short ({hsize} bytes)")
        if hsize > csize:
            raise AxmlError(f"malformed chunk: header {hsize} longer than chunk {csize}")
        yield ctype, buf[pos:pos + hsize], buf[pos + hsize:pos + csize]
        pos += csize


def art_utf8(raw: bytes) -> str:
    """``NewStringUTF`` as ART runs it: up to the first NUL, each sequence's length set by its lead
    byte alone, nothing validated (an overlong ``C1 AE`` is ``n``, ``C0 80`` is U+0000, four bytes a
    surrogate pair). A strict decoder would read ``com.te\ufffd\ufffdcent.mm`` where Android installs
    ``com.tencent.mm`` (review 21)."""
    raw = raw.split(b"\x00", 1)[0]
    units, i, n = [], 0, len(raw)
    while i < n:
        one = raw[i]
        if one < 0x80:
            units.append(one)
            i += 1
            continue
        width = 2 if not one & 0x20 else 3 if not one & 0x10 else 4
        if i + width > n:  # cut short by the end: ART writes '?'
            units.append(0x3F)
            break
        two, three, four = (raw[i + k] if i + k < n else 0 for k in (1, 2, 3))
        if not one & 0x20:
            units.append(((one & 0x1F) << 6) | (two & 0x3F))
            i += 2
        elif not one & 0x10:
            units.append(((one & 0x0F) << 12) | ((two & 0x3F) << 6) | (three & 0x3F))
            i += 3
        else:
            point = ((one & 0x0F) << 18) | ((two & 0x3F) << 12) | ((three & 0x3F) << 6) | (four & 0x3F)
            units += [((point >> 10) + 0xD7C0) & 0xFFFF, ((point & 0x3FF) + 0xDC00) & 0xFFFF]
            i += 4
    return struct.pack(f"<{len(units)}H", *units).decode("utf-16-le", "surrogatepass")


class StringPool:
    """A ResStringPool decoded lazily, each string once, NUL-terminated: as apksig reads it (for
    AndroidManifest.xml), or with ``android`` as Android's ``ResStringPool`` does (for
    resources.arsc as Android reads it, ``arsc_android``): a UTF-16 offset is in bytes and
    Android divides it by two, so an odd one reads the string starting a byte earlier."""

    def __init__(self, header: memoryview, contents: memoryview, *, android: bool = False):
        if len(header) - 8 < 20:
            raise AxmlError("string pool header too short")
        count, styles, flags, str_start, style_start = struct.unpack_from("<5I", header, 8)
        self.count, self.utf8, self.contents, self.android = count, bool(flags & 0x100), contents, android
        self.strings = memoryview(b"")
        if count:
            begin = str_start - len(header)
            if styles:
                if style_start < str_start:
                    raise AxmlError("string pool styles before strings")
                end = style_start - len(header)
            else:
                end = len(contents)
            if begin < 0 or end < begin or end > len(contents):  # apksig's sliceFromTo: IllegalArgumentException
                raise AxmlRuntimeError("string pool section out of bounds")
            self.strings = contents[begin:end]
        self.cache: dict[int, str] = {}  # by index
        self.decoded: dict[int, str] = {}  # by offset: many indices may name one string
        # Every distinct string decoded at most once, and all of them together at most
        # DECODE_BUDGET bytes (or 4x the pool): a legitimate pool decodes each string once (the
        # sum is its size, and Android allows offsets into the middle of a string), while offsets
        # into long strings could otherwise decode the pool quadratically many times.
        self.budget = max(DECODE_BUDGET, 4 * len(self.strings))

    def get(self, index: int) -> str:
        if index >= self.count:
            raise AxmlError(f"string index {index} out of range ({self.count})")
        if index in self.cache:
            return self.cache[index]
        if index * 4 + 4 > len(self.contents):  # apksig's ByteBuffer.getInt: IndexOutOfBoundsException
            raise AxmlRuntimeError("string offset table truncated")
        (offset,) = struct.unpack_from("<I", self.contents, index * 4)
        if self.android and not self.utf8:
            offset &= ~1
        value = self.decoded.get(offset)
        if value is None:
            value = self.decoded[offset] = self._decode(index, offset)
        self.cache[index] = value
        return value

    def _decode(self, index: int, offset: int) -> str:
        """apksig's getLengthPrefixedUtf8/16EncodedString. A length or the characters past the
        strings section are unchecked exceptions there (BufferUnderflowException, and
        IllegalArgumentException from ``position``): :class:`AxmlRuntimeError`. Only the NUL
        terminator is read past it (from the bytes after the section): kept an ``AxmlError``."""
        s = self.strings
        if offset >= len(s):
            raise AxmlError(f"string {index} offset out of bounds")
        try:
            if self.utf8:
                pos = offset + (2 if s[offset] & 0x80 else 1)  # skip the UTF-16 length
                n = s[pos]
                pos += 1
                if n & 0x80:
                    n = ((n & 0x7F) << 8) | s[pos]
                    pos += 1
                end, width = pos + n, 1
            else:
                (n,) = struct.unpack_from("<H", s, offset)
                pos = offset + 2
                if n & 0x8000:
                    n = ((n & 0x7FFF) << 16) | struct.unpack_from("<H", s, pos)[0]
                    pos += 2
                if n > 0x3FFFFFFF:  # apksig: "String too long", its own XmlParserException
                    raise AxmlError(f"string {index} too long: {n} UTF-16 units")
                end, width = pos + 2 * n, 2
        except (IndexError, struct.error) as exc:
            raise AxmlRuntimeError(f"string {index}'s length runs past the pool") from exc
        if end > len(s):
            raise AxmlRuntimeError(f"string {index} runs past the pool")
        if end + width > len(s):
            raise AxmlError(f"string {index}'s NUL terminator lies past the pool")
        if any(s[end:end + width]):
            raise AxmlError(f"UTF-{8 if width == 1 else 16} string not NUL terminated")
        self._spend(4 * n)  # a decoded str may take 4 bytes a character (review 23)
        raw = bytes(s[pos:end])
        if width == 2:
            return raw.decode("utf-16-le", "replace")
        # StringBlock.nativeGetString: NewStringUTF reads to the first NUL, decoding as ART does
        return art_utf8(raw) if self.android else raw.decode("utf-8", "replace")

    def _spend(self, nbytes: int) -> None:
        self.budget -= nbytes
        if self.budget < 0:
            raise AxmlError(f"string pool decodes to more than {max(DECODE_BUDGET, 4 * len(self.strings))} bytes (overlapping strings)")


@dataclass(slots=True)
class Attr:
    """One attribute; names and string values are decoded lazily, as apksig does."""

    ns_id: int
    name_id: int
    res_id: int
    vtype: int
    data: int  # signed 32-bit
    pool: StringPool
    raw: int = NO_INDEX  # rawValue string index: what the framework's getAttributeValue reads

    def string(self) -> str:
        return self.pool.get(self.data & 0xFFFFFFFF)

    def raw_string(self) -> str | None:
        """The raw string (``rawValue.index``), None when the attribute has none."""
        return None if self.raw == NO_INDEX else self.pool.get(self.raw)

    def name(self) -> str:
        return self.pool.get(self.name_id)


@dataclass(slots=True)
class Element:
    """A start element; its attributes are decoded when asked for, each time: a manifest of
    many elements with 65,535 attributes each held 360 MB of them (review 20), while only the
    root, ``<uses-sdk>`` and ``<application>`` are ever read."""

    depth: int
    name: str
    ns: str
    contents: memoryview | None = None  # the start element's body (attributes at a_start)
    layout: tuple[int, int, int] = (0, 0, 0)  # a_start, a_size, a_count (bounds checked by the walk)
    pool: StringPool | None = None
    res_map: memoryview | None = None
    attr_error: str | None = None  # apksig fails only if it reads this element's attributes

    @property
    def raw_attrs(self) -> list[Attr]:
        if self.attr_error or self.contents is None:
            return []
        return _read_attrs(self.contents, *self.layout, self.pool, self.res_map)

    @property
    def attrs(self) -> list[Attr]:
        if self.attr_error:  # apksig reads short records past their end: BufferUnderflowException
            raise AxmlRuntimeError(self.attr_error)
        return self.raw_attrs


def kept(el: Element) -> bool:
    """An element some manifest field is read from: the root, and ``<uses-sdk>``/``<application>``
    below it (the others are only walked over)."""
    return el.depth == 1 or (el.depth == 2 and el.name in ("uses-sdk", "application"))


MAX_TREES = 16  # RES_XML chunks kept for other readings of the manifest


@dataclass(slots=True)
class TopLevel:
    """The file's top-level chunks, walked once (a manifest normally has exactly one, RES_XML):
    a hostile file of millions of empty chunks was walked again for every tree read from it."""

    first: tuple[int, memoryview] | None = None  # (type, contents) of the first chunk
    trees: list[memoryview] = field(default_factory=list)  # the first MAX_TREES RES_XML chunks
    xml_count: int = 0  # every RES_XML chunk
    error: AxmlError | None = None  # where the walk stopped on a malformed chunk header

    @classmethod
    def of(cls, xml: bytes) -> TopLevel:
        top = cls()
        try:
            for ctype, _, contents in _chunks(memoryview(xml)):
                if top.first is None:
                    top.first = (ctype, contents)
                if ctype == RES_XML_TYPE:
                    top.xml_count += 1
                    if len(top.trees) < MAX_TREES:
                        top.trees.append(contents)
        except AxmlError as exc:
            top.error = exc
        return top

    @property
    def first_is_xml(self) -> bool:
        """The first chunk is RES_XML (and every chunk header is sound)."""
        return self.error is None and self.first is not None and self.first[0] == RES_XML_TYPE

    @property
    def trees_readable(self) -> int:
        """RES_XML chunks other readings may use (none when a chunk header is malformed)."""
        return 0 if self.error is not None else min(self.xml_count, MAX_TREES)

    def select(self, chunk: str, index: int) -> memoryview:
        """The chunk ``iter_start_elements`` walks (see there); AxmlError when there is none, or
        the malformed header met before it."""
        if chunk == "framework":
            body = self.first[1] if self.first is not None else None
        else:
            i = index if chunk == "xml" else 0
            body = self.trees[i] if i < len(self.trees) else None
        if body is None:
            raise self.error if self.error is not None else AxmlError("no XML chunk in file")
        return body




def _read_attrs(contents, a_start: int, a_size: int, a_count: int, pool, res_map) -> list[Attr]:
    out = []
    for i in range(a_count):
        off = a_start + i * a_size
        a_ns, a_name, a_raw = struct.unpack_from("<III", contents, off)
        vtype, data = struct.unpack_from("<Bi", contents, off + 15)
        rid = 0
        if res_map is not None and a_name < len(res_map) // 4:
            (rid,) = struct.unpack_from("<I", res_map, a_name * 4)
        out.append(Attr(a_ns, a_name, rid, vtype, data, pool, a_raw))
    return out


def _strings_first(root: Element, most: int = 17) -> None:
    """Decode the strings of the root's ``package`` and ``split`` attributes (the first ``most`` of
    each name) as soon as it is met: later elements cannot then spend the pool's decode budget
    before the package is read. Only those: a root of 65,000 attributes decoded all their values
    (review 21)."""
    seen: dict[str, int] = {}
    for a in root.raw_attrs:
        try:
            name = a.pool.get(a.name_id)
        except AxmlError:
            continue
        if name not in ("package", "split") or seen.get(name, 0) >= most:
            continue
        seen[name] = seen.get(name, 0) + 1
        for index in (a.raw, a.data if a.vtype == TYPE_STRING else NO_INDEX):
            if index != NO_INDEX:
                try:
                    a.pool.get(index & 0xFFFFFFFF)
                except AxmlError:
                    pass  # read again (and failing the same way) where it is asked for


def iter_start_elements(xml: bytes, *, chunk: str = "apksig", index: int = 0, top: TopLevel | None = None):
    """Yield every start element in document order; raises AxmlError where apksig would fail.

    ``chunk`` picks the tree: ``"apksig"`` the first RES_XML chunk (apksig's
    ``AndroidBinXmlParser``, which decides minSdkVersion for the verifier); ``"framework"``
    the file's first chunk whatever its type (``ResXMLTree::setTo`` does not check it, so
    that is what the package manager installs); ``"xml"`` the ``index``-th RES_XML chunk.
    ``top``: the file's :class:`TopLevel`, when the caller reads several trees of it.
    """
    body = (top or TopLevel.of(xml)).select(chunk, index)
    pool: StringPool | None = None
    res_map: memoryview | None = None
    depth, count = 0, 0
    for ctype, header, contents in _chunks(body):
        if ctype == 0x0001:
            if pool is not None:
                raise AxmlError("multiple string pools")
            pool = StringPool(header, contents)
        elif ctype == 0x0180:
            if res_map is not None:
                raise AxmlError("multiple resource maps")
            res_map = contents[: len(contents) // 4 * 4]
        elif ctype in (0x0102, 0x0103):
            if pool is None:
                raise AxmlError("element before string pool")
            if ctype == 0x0103:
                if len(contents) < 8:
                    raise AxmlError("end element chunk too short")
                ns_id, name_id = struct.unpack_from("<II", contents, 0)
                pool.get(name_id)
                if ns_id != 0xFFFFFFFF:
                    pool.get(ns_id)
                depth -= 1
                continue
            if len(contents) < 20:
                raise AxmlError("start element chunk too short")
            ns_id, name_id, a_start, a_size, a_count = struct.unpack_from("<IIHHH", contents, 0)
            if a_start > len(contents) or a_start + a_count * a_size > len(contents):
                raise AxmlError("attributes out of bounds")
            count += 1
            if count > MAX_ELEMENTS:
                raise AxmlError(f"more than {MAX_ELEMENTS} elements")
            depth += 1
            el = Element(depth, pool.get(name_id), "" if ns_id == 0xFFFFFFFF else pool.get(ns_id),
                         contents, (a_start, a_size, a_count), pool, res_map)
            if a_count and a_size < 20:  # kept, not raised: apksig fails only if it reads them
                el.attr_error = f"attribute size {a_size} too small"
            if depth == 1:
                _strings_first(el)
            yield el
