"""The records a streamed data-ZIP look reads besides the entries' data: a local header's ZIP64 sizes,
and the central directory and end records, held against the local entries the look followed.

Why (review 70 F1): the look follows local headers, the walker (as Android and ``unzip``) reads the
central directory. A local size that swallows the next entry, an end record between two entries, or a
ZIP64 field read at the wrong place let the look pass over an entry the walker reads: a banned APK
under a data name, never scanned. So "data" stands only when the directory the walker will read names
nothing else than what the look followed: every record's local offset one the look followed, with its
name, method and sizes; the end record naming that directory, no other end-record signature after its
own (review 91); nothing after its comment. Anything else raises :class:`Found` (the walker reads the ZIP and says what it cannot read).
"""

from __future__ import annotations

import hashlib
import struct

from apkscan.apk.io.zip_ends import _zip64_extra
from apkscan.apk.io.zipreader import MAX_ENTRIES
from apkscan.issues import ApkScanError

CENTRAL, END, ZIP64_END, ZIP64_LOCATOR = b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07"
_CENTRAL_RECORD = struct.Struct("<6H3I5H2I")  # a central record after its signature (42 bytes)
_MAX_ZIP64_END = 1 << 16  # a ZIP64 end record's own size; its extensible data is never this long


class Found(Exception):
    """Stop: the stream holds an APK (or cannot be told apart from one)."""


class Followed:
    """The local entries the look followed, each as a 16-byte digest of (offset, name, method,
    compressed and uncompressed size): a directory record must name one of them exactly. At most as
    many as the walker reads (``MAX_ENTRIES``; past it the walker refuses the ZIP, and says so)."""

    def __init__(self) -> None:
        self._keys: set[bytes] = set()

    def add(self, offset: int, name: bytes, method: int, packed: int, size: int) -> None:
        if len(self._keys) >= MAX_ENTRIES:
            raise Found
        self._keys.add(_key(offset, name, method, packed, size))

    def named(self, offset: int, name: bytes, method: int, packed: int, size: int) -> bool:
        return _key(offset, name, method, packed, size) in self._keys


def _key(offset: int, name: bytes, method: int, packed: int, size: int) -> bytes:
    return hashlib.blake2b(struct.pack("<QHQQ", offset, method, packed, size) + name, digest_size=16).digest()


def local_zip64_sizes(packed: int, size: int, extra: bytes) -> tuple[int, int]:
    """(compressed, uncompressed) from a local header's ZIP64 extra field (0x0001), as APPNOTE 4.5.3
    orders it: in a local header both sizes are 0xFFFFFFFF and the field holds both, uncompressed
    first. Any other shape (one size 0xFFFFFFFF, a short field, none) cannot be read one way only:
    :class:`Found` (review 70 F1d: a second field read as the compressed size hid the next entry)."""
    if packed != 0xFFFFFFFF or size != 0xFFFFFFFF:
        raise Found
    pos = 0
    while pos + 4 <= len(extra):
        tag, n = struct.unpack_from("<HH", extra, pos)
        if tag == 1:
            if n < 16 or pos + 20 > len(extra):
                raise Found
            size, packed = struct.unpack_from("<QQ", extra, pos + 4)
            return packed, size
        pos += 4 + n
    raise Found


def check_directory(src, start: int, followed: Followed) -> None:
    """From ``start`` (a record's signature, read and pushed back to ``src``) to the stream's end: the
    central records, each naming an entry the look followed (:class:`Followed`), then the end records
    naming this directory, then the comment, then nothing. Otherwise :class:`Found`."""
    count, sig = 0, src.exact(4)
    while sig == CENTRAL:
        _central_record(src, followed)
        count, sig = count + 1, src.exact(4)
    found = (count, src.pos - 4 - start, start)  # what the end records must name
    wide = False
    if sig == ZIP64_END:
        wide = True
        at = src.pos - 4
        if _zip64_end(src) != found or src.exact(4) != ZIP64_LOCATOR:
            raise Found
        locator = src.exact(16)
        if locator is None or struct.unpack_from("<Q", locator, 4)[0] != at:
            raise Found
        sig = src.exact(4)
    record = src.exact(18) if sig == END else None
    if record is None or not _names_directory(struct.unpack_from("<HII", record, 6), found, wide):
        raise Found
    comment = src.exact(struct.unpack_from("<H", record, 16)[0])
    # another end record after this one's signature (in the comment, or straddling the record and its
    # comment: ``ZipFile`` and ``zipfile`` take it, review 91): the walker reads that reading too
    if comment is None or END in record + comment or src.read(1):
        raise Found


def _names_directory(fields: tuple[int, int, int], found: tuple[int, int, int], wide: bool) -> bool:
    """The end record's (count, size, offset) name the directory: each equal to it, or, after a ZIP64
    end record that names it, all ones ("see the ZIP64 record", APPNOTE 4.4.1.4; Info-ZIP's ``-fz``
    writes the offset so: review 72 F4)."""
    return all(value == real or (wide and value == ones)
               for value, real, ones in zip(fields, found, (0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)))


def defers_to_zip64(archive) -> bool:
    """The ZIP64 reading ``archive`` of bytes whose classic reading was refused: does their classic end
    record name that same directory, each field equal to it or all ones (review 72 F4)? Then the ZIP64
    reading is the one reading there is, as the end records say."""
    record = archive.source.read(archive.eocd_offset, 22)
    return len(record) == 22 and _names_directory(
        struct.unpack_from("<HII", record, 10), (len(archive.entries), archive.cd_size, archive.cd_offset), True)


def _central_record(src, followed: Followed) -> None:
    fields = src.exact(_CENTRAL_RECORD.size)
    if fields is None:
        raise Found
    (_vm, _vn, _flags, method, _t, _d, _crc, packed, size, name_len, extra_len, comment_len, _disk, _ia, _ea,
     offset) = _CENTRAL_RECORD.unpack(fields)
    meta = src.exact(name_len + extra_len + comment_len)
    if meta is None:
        raise Found
    if 0xFFFFFFFF in (packed, size, offset):  # as the walker reads it
        try:
            packed, size, offset = _zip64_extra(meta[name_len:name_len + extra_len], packed, size, offset)
        except ApkScanError:
            raise Found from None
    if not followed.named(offset, meta[:name_len], method, packed, size):
        raise Found


def _zip64_end(src) -> tuple[int, int, int] | None:
    """(entry count, directory size, directory offset) of a ZIP64 end record, its signature read."""
    size = src.exact(8)
    if size is None or not 44 <= int.from_bytes(size, "little") <= _MAX_ZIP64_END:
        return None
    body = src.exact(int.from_bytes(size, "little"))
    return struct.unpack_from("<QQQ", body, 20) if body is not None else None
