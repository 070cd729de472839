"""An app bundle's manifest: aapt2's protobuf XML (``Resources.proto`` ``XmlNode``), read bounded.

An ``.aab`` keeps each module's AndroidManifest.xml as the protobuf aapt2 writes with
``--output-format proto``, not binary AXML. This reader knows protobuf's wire format only as far
as these messages need (varints and length-delimited fields; fixed-width fields, groups and a
field of another wire type than its own skipped, as protobuf skips an unknown field and aapt2
reads past it; a field met twice read as protobuf merges it) and caps everything an adversary controls: nesting depth, the number of nodes
and attributes, the manifest's size (its caller's read cap). Any malformation is
:class:`ProtoXmlError` with a code, never another exception.

Field numbers (Resources.proto, checked against the bytes ``aapt2 convert --output-format
proto`` writes and ``aapt2 dump xmltree``): XmlNode{element=1, text=2, source=3};
XmlElement{namespace_declaration=1, namespace_uri=2, name=3, attribute=4, child=5};
XmlAttribute{namespace_uri=1, name=2, value=3, source=4, resource_id=5, compiled_item=6};
Item{ref=1, str=2, raw_str=3, styled_str=4, file=5, id=6, prim=7}; String/RawString{value=1};
Primitive{int_decimal_value=6, int_hexadecimal_value=7, boolean_value=8}.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

MALFORMED = "BUNDLE_MANIFEST_MALFORMED"
MAX_DEPTH = 64  # element nesting (a real manifest nests 4-5 deep)
MAX_NODES = 200_000  # elements, attributes and text nodes together
_VARINT, _FIXED64, _LEN, _GROUP_START, _GROUP_END, _FIXED32 = 0, 1, 2, 3, 4, 5


class ProtoXmlError(Exception):
    """Why the bytes are no XmlNode this reader can walk (``code``: :data:`MALFORMED`)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.code = MALFORMED
        self.message = message


@dataclass(slots=True)
class Attr:
    """One attribute: its plain string ``value`` and what its compiled item says, kept apart."""

    namespace: str
    name: str
    value: str | None = None
    resource_id: int = 0
    compiled_int: int | None = None  # Primitive int_decimal / int_hexadecimal
    compiled_bool: bool | None = None
    compiled_str: str | None = None  # Item.str or Item.raw_str
    reference: int | None = None  # Item.ref's id: a resource reference (resources.pb is not read)


@dataclass(slots=True)
class Element:
    name: str
    namespace: str = ""
    attrs: list[Attr] = field(default_factory=list)
    children: list[Element] = field(default_factory=list)


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= end:
            raise ProtoXmlError(f"a varint runs past its end at byte {pos}")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise ProtoXmlError(f"a varint longer than 10 bytes at byte {pos}")


def fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int | tuple[int, int]]]:
    """(field number, wire type, value): an int for a varint, the (start, end) span of a
    length-delimited field; fixed-width fields and groups (no field of these messages is one)
    skipped as protobuf skips an unknown field: aapt2 reads past them."""
    pos = start
    while pos < end:
        number, wire, pos = _key(buf, pos, end)
        if wire == _VARINT:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value
        elif wire == _LEN:
            span, pos = _length_delimited(buf, pos, end, number)
            yield number, wire, span
        else:
            pos = _skip(buf, pos, end, number, wire, 0)


def _key(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    key, pos = _varint(buf, pos, end)
    if key >> 3 == 0:
        raise ProtoXmlError(f"field number 0 at byte {pos}")
    return key >> 3, key & 7, pos


def _length_delimited(buf: bytes, pos: int, end: int, number: int) -> tuple[tuple[int, int], int]:
    size, pos = _varint(buf, pos, end)
    if size > end - pos:
        raise ProtoXmlError(f"field {number} declares {size} bytes, {end - pos} are left")
    return (pos, pos + size), pos + size


def _skip(buf: bytes, pos: int, end: int, number: int, wire: int, depth: int) -> int:
    """Past a field no reader here takes: fixed-width, or a group up to its matching end (groups
    nest, at most :data:`MAX_DEPTH` deep); an end-group with no start, or wire type 6 or 7, is
    malformed (protobuf refuses it too)."""
    if wire in (_FIXED64, _FIXED32):
        pos += 8 if wire == _FIXED64 else 4
        if pos > end:
            raise ProtoXmlError(f"a fixed-width field {number} runs past its end")
        return pos
    if wire != _GROUP_START:
        raise ProtoXmlError(f"wire type {wire} in field {number}" + (" with no group open" if wire == _GROUP_END else ""))
    if depth >= MAX_DEPTH:
        raise ProtoXmlError(f"groups nested deeper than {MAX_DEPTH}")
    while True:
        if pos >= end:
            raise ProtoXmlError(f"group {number} has no end")
        inner, kind, pos = _key(buf, pos, end)
        if kind == _GROUP_END:
            if inner != number:
                raise ProtoXmlError(f"group {number} ended as {inner}")
            return pos
        if kind == _VARINT:
            pos = _varint(buf, pos, end)[1]
        elif kind == _LEN:
            pos = _length_delimited(buf, pos, end, inner)[1]
        else:
            pos = _skip(buf, pos, end, inner, kind, depth + 1)


def _text(buf: bytes, span: tuple[int, int]) -> str:
    """A string field's UTF-8 (every caller has checked the field is length-delimited)."""
    try:
        return buf[span[0]:span[1]].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtoXmlError(f"a string is not UTF-8 ({exc.reason})") from None


class _Reader:
    def __init__(self, buf: bytes):
        self.buf, self.nodes = buf, 0

    def count(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ProtoXmlError(f"more than {MAX_NODES} nodes and attributes")

    def node(self, span: tuple[int, int], depth: int) -> Element | None:
        """An XmlNode: its element, or None for a text node."""
        if depth > MAX_DEPTH:
            raise ProtoXmlError(f"elements nested deeper than {MAX_DEPTH}")
        self.count()
        element = None
        for number, wire, value in fields(self.buf, *span):
            if number == 1 and wire == _LEN:  # a message field met twice is one message, merged (protobuf; aapt2 reads it so)
                element = self.element(value, depth, element)
        return element

    def element(self, span: tuple[int, int], depth: int, into: Element | None = None) -> Element:
        """``into``: the element an earlier occurrence of the same field gave, merged into: its name
        replaced when this one has one, attributes and children appended (two ``element`` fields
        hid a first one's ``package``, which aapt2 reads first)."""
        el = into if into is not None else Element("")
        for number, wire, value in fields(self.buf, *span):
            if wire != _LEN:  # every field of XmlElement is length-delimited; another wire type is an unknown field
                continue
            if number == 2:
                el.namespace = _text(self.buf, value)
            elif number == 3:
                el.name = _text(self.buf, value)
            elif number == 4:
                self.count()
                el.attrs.append(self.attribute(value))
            elif number == 5:
                child = self.node(value, depth + 1)
                if child is not None:
                    el.children.append(child)
        return el

    def attribute(self, span: tuple[int, int]) -> Attr:
        attr = Attr("", "")
        for number, wire, value in fields(self.buf, *span):
            if number == 5 and wire == _VARINT:
                attr.resource_id = int(value) & 0xFFFFFFFF
            elif wire != _LEN:  # a field of another wire type than its own: unknown to protobuf, skipped
                continue
            elif number == 1:
                attr.namespace = _text(self.buf, value)
            elif number == 2:
                attr.name = _text(self.buf, value)
            elif number == 3:
                attr.value = _text(self.buf, value)
            elif number == 6:
                self.item(value, attr)
        return attr

    def item(self, span: tuple[int, int], attr: Attr) -> None:
        for number, wire, value in fields(self.buf, *span):
            if wire != _LEN:
                continue
            if number == 1:  # Reference{type=1, id=2, name=3}
                attr.reference = _last([int(v) for n, w, v in fields(self.buf, *value)
                                        if n == 2 and w == _VARINT], 0)
            elif number in (2, 3):  # String / RawString {value=1}
                attr.compiled_str = _last([_text(self.buf, v) for n, w, v in fields(self.buf, *value)
                                           if n == 1 and w == _LEN], "")
            elif number == 7:
                self.primitive(value, attr)

    def primitive(self, span: tuple[int, int], attr: Attr) -> None:
        for number, wire, value in fields(self.buf, *span):
            if number == 6 and wire == _VARINT:  # int32: a negative value is ten bytes of two's complement
                v = int(value) & 0xFFFFFFFF
                attr.compiled_int = v - (1 << 32) if v & 0x80000000 else v
            elif number == 7 and wire == _VARINT:
                attr.compiled_int = int(value) & 0xFFFFFFFF
            elif number == 8 and wire == _VARINT:
                attr.compiled_bool = bool(value)


def _last(values: list, default):
    """A singular field met more than once: the last one counts (protobuf; aapt2 reads it so)."""
    return values[-1] if values else default


def parse(data: bytes) -> Element:
    """The root element of a proto XmlNode; :class:`ProtoXmlError` when there is none or the
    bytes are malformed."""
    root = _Reader(data).node((0, len(data)), 0)
    if root is None or not root.name:
        raise ProtoXmlError("no root element")
    return root
