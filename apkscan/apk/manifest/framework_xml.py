"""The manifest's root element as Android's package manager reads it, byte rule for byte rule.

Why a second walker: :mod:`apkscan.apk.manifest.axml` follows apksig (it decides minSdkVersion
for the verifier), which is strict where Android is lenient, so the package an APK installs as
could differ from the one a scanner reads (review 20: a namespace index that does not resolve,
an odd UTF-16 string offset, a NUL inside the name, a second string pool, an attribute record
shorter than 20 bytes, an end tag before the root). This module mirrors, for the one question
"what is ``<manifest package>`` and ``split``", the code the device runs:

- ``ResXMLTree::setTo``: the file's first chunk whatever its type; chunks up to the first XML
  node, each ``validate_chunk``-ed; the *last* string pool and resource map before that node;
  the pool's own checks (``ResStringPool::setTo``);
- ``ResXMLParser::nextNode`` / ``XmlBlock.Parser.next``: events in document order, unknown node
  types skipped, every node ``validateNode``-ed; ``ApkLiteParseUtils`` takes the *first start
  tag*, whatever its depth, and requires its name to be ``manifest`` (namespace ignored);
- ``indexOfAttribute(NULL, "package")``: the first attribute so named whose namespace string
  does not resolve (``0xFFFFFFFF``, an index past the pool, or a string the pool cannot give),
  records read at ``attributeStart + attributeSize * i`` whatever ``attributeSize`` says;
- ``XmlBlock.Parser.getAttributeValue``: the raw string when its index is a non-negative
  ``jint``, else the typed value coerced to text; strings as ``StringBlock.nativeGetString``
  returns them (UTF-16 offsets are in bytes and divided by two; a UTF-8 string goes through
  ``NewStringUTF`` and so ends at its first NUL).

Never raises: what Android would refuse is ``FrameworkRoot.refused``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from apkscan.apk.manifest.axml import TYPE_INT_BOOLEAN, TYPE_INT_DEC, TYPE_INT_HEX, TYPE_REFERENCE, art_utf8

STRING_POOL, RESOURCE_MAP = 0x0001, 0x0180
FIRST_NODE, LAST_NODE = 0x0100, 0x017F
START_NAMESPACE, END_NAMESPACE, START_TAG, END_TAG, CDATA = 0x0100, 0x0101, 0x0102, 0x0103, 0x0104
MIN_EXT = {START_NAMESPACE: 8, END_NAMESPACE: 8, START_TAG: 20, END_TAG: 8, CDATA: 12}
NODE_HEADER = 16  # sizeof(ResXMLTree_node)
TYPE_NULL = 0x00
# characters of a value read: no package longer than this installs (Android allows 255), and a
# 15M-character one on 16 tags cost 1.4 GB (review 25)
MAX_VALUE = 4096


class Refused(Exception):
    """Android would fail here (the package manager reports a parse error: no install)."""


@dataclass(slots=True)
class FrameworkRoot:
    """``package`` and ``split`` of the first start tag as the package manager reads them;
    ``refused`` says why Android would reject the manifest before reading them (then both None)."""

    package: str | None = None
    split: str | None = None
    refused: str | None = None
    package_older: str | None = None  # the package under older releases' namespace test, when it differs
    later: list[tuple[int, str]] = field(default_factory=list)  # (tag number, package) of later <manifest> tags
    later_overflow: bool = False  # more distinct later packages than were read (see _later_manifests)


def read_root(xml: bytes) -> FrameworkRoot:
    try:
        tree = _Tree(memoryview(xml))
        start = tree.first_start_tag()
    except Refused as exc:
        return FrameworkRoot(refused=str(exc))
    except (struct.error, IndexError, ValueError) as exc:  # a read past the file: Android reads garbage
        return FrameworkRoot(refused=f"reads past the end of the file ({exc})")
    later, overflow = _later_manifests(tree, start)
    try:
        if not tree.pool.java_is(start.name_index(), "manifest"):
            raise Refused("the first start tag is not <manifest>")
        package = start.attribute_value("package")
        older, split = _or_none(start.attribute_value, "package", older=True), _or_none(start.attribute_value, "split")
        return FrameworkRoot(package, split, package_older=older if older != package else None, later=later,
                             later_overflow=overflow)
    except Refused as exc:
        return FrameworkRoot(refused=str(exc), later=later, later_overflow=overflow)
    except (struct.error, IndexError, ValueError) as exc:
        return FrameworkRoot(refused=f"reads past the end of the file ({exc})", later=later, later_overflow=overflow)


def _later_manifests(tree: _Tree, first: _StartTag, most: int = 16) -> tuple[list[tuple[int, str]], bool]:
    """(tag number, ``package``) of the later start tags named ``manifest``, as Android would read
    each if the tags before it were skipped: Android 16 skips a start tag (and all it holds) whose
    ``android:featureFlag`` is off, so a decoy first tag could hide the real ``<manifest>``
    (review 21's lead, read from framework code; review 23 hid WeChat this way from a reading
    taken with apksig's rules). Distinct values, the first ``most`` and always the last top-level
    one (aapt2's reading: review 25 hid WeChat behind 17 copies of a decoy); and whether more
    distinct values were left out (review 26: 17 distinct decoys: then the input is said to be
    read in part). Real manifests have one ``<manifest>``: this is empty for them."""
    out: list[tuple[int, str]] = []
    last_top: tuple[int, str] | None = None
    depth, number, overflow = 1, 1, False
    try:
        node = tree._next_node(first.node)
        while node is not None:
            kind = struct.unpack_from("<H", tree.buf, node)[0]
            if kind == END_TAG:
                depth -= 1
            elif kind == START_TAG:
                depth += 1
                tag = _StartTag(tree, node)
                if _or_none(tag.name_is, "manifest"):
                    number += 1
                    value = _or_none(tag.attribute_value, "package")
                    if value is not None and all(v != value for _, v in out):
                        if len(out) < most:
                            out.append((number, value))
                        else:
                            overflow = True
                    if depth == 1:
                        last_top = (number, value) if value is not None else None
            node = tree._next_node(node)
    except (Refused, struct.error, IndexError, ValueError):
        pass  # Android stops at the same bad node (BAD_DOCUMENT): what came before stands
    if last_top is not None and all(v != last_top[1] for _, v in out):
        out.append(last_top)
    return out, overflow


def _or_none(read, *args, **kwargs) -> str | None:
    """A second reading that fails is no reading; only ``package`` itself decides ``refused``."""
    try:
        return read(*args, **kwargs)
    except (Refused, struct.error, IndexError, ValueError):
        return None


def _validate_chunk(buf: memoryview, pos: int, min_header: int, end: int, what: str) -> tuple[int, int]:
    """``validate_chunk``: (headerSize, size) or Refused."""
    header, size = struct.unpack_from("<HI", buf, pos + 2)
    if header < min_header or header > size or (header | size) & 3 or size > end - pos:
        raise Refused(f"{what} chunk at {pos} is malformed (header {header}, size {size})")
    return header, size


class _Pool:
    """``ResStringPool`` over one chunk, with the checks of its ``setTo`` and its lookups."""

    def __init__(self, buf: memoryview, pos: int, size: int):
        header, chunk = struct.unpack_from("<HI", buf, pos + 2)
        if size < 28 or header < 28 or header > chunk or chunk > size:
            raise Refused("string pool header malformed")
        count, styles, flags, strings_start, styles_start = struct.unpack_from("<5I", buf, pos + 8)
        self.buf, self.count, self.utf8 = buf, count, bool(flags & 0x100)
        self.entries, self.base, self.units = pos + header, pos + strings_start, 0
        self.answers: dict[tuple[int, str], bool] = {}  # java_is
        if count:
            if header + 4 * count > size:
                raise Refused("string pool offsets run past the chunk")
            if strings_start >= chunk - 2:
                raise Refused("string pool strings start past the chunk")
            unit = 1 if self.utf8 else 2
            if styles:
                if styles_start >= chunk - 2 or styles_start <= strings_start:
                    raise Refused("string pool styles misplaced")
                self.units = (styles_start - strings_start) // unit
            else:
                self.units = (chunk - strings_start) // unit
            if self.units == 0:
                raise Refused("string pool has strings but no string data")
            last = self.base + (self.units - 1) * unit
            if any(buf[last:last + unit]):
                raise Refused("string pool's last string is not NUL-terminated")
        if styles:
            if header + 4 * count > size or styles_start >= chunk or (chunk - styles_start) // 4 < 3:
                raise Refused("string pool style section malformed")
            end = pos + styles_start + ((chunk - styles_start) // 4 - 3) * 4
            if bytes(buf[end:end + 12]) != b"\xff" * 12:
                raise Refused("string pool's last style is not 0xFFFFFFFF-terminated")

    def _offset(self, index: int) -> int | None:
        if index >= self.count:
            return None
        (off,) = struct.unpack_from("<I", self.buf, self.entries + 4 * index)
        return off if self.utf8 else off // 2  # in characters: Android divides a UTF-16 byte offset by 2

    def native(self, index: int) -> tuple[bool, int]:
        """``stringAt``/``string8At``, what attribute lookups see: (whether Android gets a string
        rather than NULL, the length it reports; older releases report it with a NULL too)."""
        start, length = self._span(index)
        return start is not None, length

    def native_is(self, index: int, text: str) -> bool:
        """``stringAt(index)`` is ``text`` (compared by length first: nothing long is decoded)."""
        start, length = self._span(index)
        if start is None:
            return False
        want = text.encode("utf-8" if self.utf8 else "utf-16-le")
        return length * (1 if self.utf8 else 2) == len(want) and bytes(self.buf[start:start + len(want)]) == want

    def _span(self, index: int) -> tuple[int | None, int]:
        """(start of the string's characters or None, its declared length; 0 when unread)."""
        off = self._offset(index)
        if off is None or off >= self.units - 1:
            return None, 0
        if self.utf8:
            pos = self.base + off
            pos += 2 if self.buf[pos] & 0x80 else 1  # the UTF-16 length, unused here
            n = self.buf[pos]
            pos += 1
            if n & 0x80:
                n = ((n & 0x7F) << 8) | self.buf[pos]
                pos += 1
            return self._terminated(pos, n)
        pos = self.base + 2 * off
        (n,) = struct.unpack_from("<H", self.buf, pos)
        pos += 2
        if n & 0x8000:
            n = ((n & 0x7FFF) << 16) | struct.unpack_from("<H", self.buf, pos)[0]
            pos += 2
        if (pos - self.base) // 2 + n >= self.units or any(self.buf[pos + 2 * n:pos + 2 * n + 2]):
            return None, n
        return pos, n

    def _terminated(self, pos: int, n: int) -> tuple[int | None, int]:
        """``stringDecodeAt``: a UTF-8 string must end on a NUL inside the pool, at its length or,
        for pools aapt2 wrote with lengths cut to 15 bits, at that length plus a multiple of 2^15
        (which is then its length); (None, the declared length) when there is none. One strided
        slice, not a Python loop over a 32 MiB pool (review 25)."""
        i = bytes(self.buf[pos + n:self.base + self.units:1 << 15]).find(0)
        return (pos, n + (i << 15)) if i >= 0 else (None, n)

    def java(self, index: int, limit: int | None = None) -> str:
        """``StringBlock.get`` (what ``getName``/``getAttributeValue`` return to Java): a UTF-8
        string goes through ``NewStringUTF``, which reads to the first NUL, not to its length.
        ``limit``: characters decoded at most (a comparison needs no more)."""
        start, length = self._span(index)
        if start is None:
            raise Refused(f"string {index} cannot be read (IndexOutOfBoundsException)")
        limit = MAX_VALUE if limit is None else limit
        if not self.utf8:
            return bytes(self.buf[start:start + 2 * min(length, limit)]).decode("utf-16-le", "replace")
        return art_utf8(bytes(self.buf[start:start + 4 * limit]))[:limit]

    def java_is(self, index: int, text: str) -> bool:
        """``java(index)`` is ``text``, decoding no more than it takes to tell (a first character
        that is plainly another is told without decoding: 700,000 tag names, review 25), and an
        answer kept for the first 4,096 questions (932,000 tags of one name, review 26)."""
        key = (index, text)
        if key not in self.answers:
            answer = self._java_is(index, text)
            if len(self.answers) >= 4096:
                return answer
            self.answers[key] = answer
        return self.answers[key]

    def _java_is(self, index: int, text: str) -> bool:
        start, _ = self._span(index)
        if start is not None and text:
            first = self.buf[start] if self.utf8 else struct.unpack_from("<H", self.buf, start)[0]
            if first < 0x80 and first != ord(text[0]):
                return False
        return self.java(index, len(text) + 1) == text


class _StartTag:
    """A START_TAG node's attribute extension, read as ``ResXMLParser`` reads it."""

    def __init__(self, tree: _Tree, node: int):
        self.tree, self.node = tree, node
        self.ext = node + struct.unpack_from("<H", tree.buf, node + 2)[0]
        self.start, self.size, self.count = struct.unpack_from("<HHH", tree.buf, self.ext + 8)

    def name_is(self, text: str) -> bool:
        return self.tree.pool.java_is(self.name_index(), text)

    def name_index(self) -> int:
        (index,) = struct.unpack_from("<i", self.tree.buf, self.ext + 4)
        if index < 0:
            raise Refused("the first start tag has no name")
        return index

    def attribute_value(self, name: str, *, older: bool = False) -> str | None:
        """``getAttributeValue(null, name)``: None when no attribute matches. ``older``: with the
        namespace test of older releases (see :meth:`_unset`)."""
        pool = self.tree.pool
        for i in range(self.count):
            at = self.ext + self.start + self.size * i
            ns, attr_name, raw = struct.unpack_from("<iII", self.tree.buf, at)
            if not pool.native_is(attr_name, name) or not self._unset(ns, older):
                continue
            vtype, data = struct.unpack_from("<Bi", self.tree.buf, at + 15)
            return self.tree.value(raw, vtype, data)
        return None

    def _unset(self, ns: int, older: bool) -> bool:
        """The attribute has no namespace: its index is negative as an int32, or the pool gives
        NULL for it. Releases since the 2021 rewrite of libandroidfw (``base::expected``) report
        length 0 with a NULL; older ones (Android 11 and before, Debian's ``aapt``) report the
        length they decoded before failing, and ``indexOfAttribute`` then needs it to be 0."""
        if ns < 0:
            return True
        found, length = self.tree.pool.native(ns)
        return not found and (length == 0 or not older)


class _Tree:
    """``ResXMLTree::setTo`` on the file's bytes, then ``XmlBlock.Parser`` events."""

    def __init__(self, buf: memoryview):
        if len(buf) < 8:
            raise Refused("shorter than a chunk header")
        header, size = struct.unpack_from("<HI", buf, 2)
        if header > size or size > len(buf):
            raise Refused("the first chunk is larger than the file")
        self.buf, self.end = buf, size
        self.pool: _Pool | None = None
        self._pool_error: str | None = None
        self.res_ids = (0, 0)  # (offset, count) of the last resource map before the first node
        self.root = self._find_root(header)

    def _find_root(self, pos: int) -> int:
        """The node the parser starts at; the string pool and resource map are the last ones before it."""
        last, buf, end = pos, self.buf, self.end
        while pos < end - 8:
            kind, header, size = struct.unpack_from("<HHI", buf, pos)
            if pos + size >= end:
                break  # the loop's own bound (a chunk must end before the tree does)
            if header < 8 or header > size or (header | size) & 3:  # validate_chunk
                raise Refused(f"XML chunk at {pos} is malformed (header {header}, size {size})")
            if kind == STRING_POOL and size < 28:  # no header: refused without raising (a flood of them)
                self.pool, self._pool_error = None, "string pool header malformed"
            elif kind == STRING_POOL:
                try:
                    self.pool, self._pool_error = _Pool(buf, pos, size), None
                except Refused as exc:  # kept: setTo's result is the *last* pool's state
                    self.pool, self._pool_error = None, str(exc)
            elif kind == RESOURCE_MAP:
                self.res_ids = (pos + header, (size - header) // 4)
            elif FIRST_NODE <= kind <= LAST_NODE:
                self._validate_node(pos)
                root = self._next_node(last)
                if root is None:
                    raise Refused("no XML node after the root chunk")
                if self.pool is None:
                    raise Refused(self._pool_error or "no string pool before the first node")
                return root
            last, pos = pos, pos + size
        raise Refused("no root element node")

    def _validate_node(self, pos: int) -> None:
        header, size = _validate_chunk(self.buf, pos, NODE_HEADER, self.end, "XML node")
        if struct.unpack_from("<H", self.buf, pos)[0] != START_TAG:
            return
        if size < header + 20:
            raise Refused(f"start tag at {pos} too small")
        start, a_size, a_count = struct.unpack_from("<HHH", self.buf, pos + header + 8)
        if start + a_size * a_count > size - header:
            raise Refused(f"attributes of the start tag at {pos} run past it")

    def _next_node(self, cur: int) -> int | None:
        """``nextNode`` from the node at ``cur``: the next known node (None: end of document)."""
        while True:
            nxt = cur + struct.unpack_from("<I", self.buf, cur + 4)[0]
            if nxt >= self.end:
                return None
            self._validate_node(nxt)
            kind, header, size = struct.unpack_from("<HHI", self.buf, nxt)
            cur = nxt
            if kind not in MIN_EXT:
                continue  # "Unknown XML block": skipped
            if size - header < MIN_EXT[kind]:
                raise Refused(f"XML node at {nxt} too small for its type")
            return nxt

    def first_start_tag(self) -> _StartTag:
        """``ApkLiteParseUtils``: events until the first START_TAG, whatever its depth."""
        node: int | None = self.root
        while node is not None:
            if struct.unpack_from("<H", self.buf, node)[0] == START_TAG:
                return _StartTag(self, node)
            node = self._next_node(node)
        raise Refused("no start tag")

    def value(self, raw: int, vtype: int, data: int) -> str | None:
        """``XmlBlock.Parser.getAttributeValue(int)``: the raw string when its index is a
        non-negative jint, else ``TypedValue.coerceToString`` (a typed string alone is null)."""
        if raw < 0x80000000:
            return self.pool.java(raw)
        if vtype == TYPE_NULL:
            raise Refused("attribute without a value (IndexOutOfBoundsException)")
        return coerce_to_string(vtype, data)


def coerce_to_string(vtype: int, data: int) -> str | None:
    """``TypedValue.coerceToString`` for the types a package could be given as (a typed string
    is null: only its raw string counts)."""
    if vtype == TYPE_INT_DEC:
        return str(data)
    if vtype == TYPE_INT_HEX:  # "0x" + Integer.toHexString
        return f"0x{data & 0xFFFFFFFF:x}"
    if vtype == TYPE_INT_BOOLEAN:
        return "true" if data else "false"
    if vtype == TYPE_REFERENCE:
        return f"@{data}"
    return None
