"""Which encoding text evidence is in, told from its bytes, and where it changes.

``adb shell ... > f.txt`` writes UTF-8; PowerShell 5's ``>`` writes UTF-16LE with a BOM, and its
``>>`` (``Out-File -Append``) appends UTF-16LE to whatever the file holds, so one file can be
UTF-8 then UTF-16. :class:`Transcoder` follows such a change: in UTF-8 text, a UTF-16/32 BOM, or a
line with NUL bytes that reads as UTF-16/32 text, switches the decoder there. Not followed: a
change *out of* UTF-16/32 (``cmd``'s ``>>`` after PowerShell's ``>``), which the reader only sees as
lines not understood, and more than :data:`MAX_TRIES` NUL lines that read as nothing (their
lines are counted by the reader, see ``text_evidence``).
"""

from __future__ import annotations

import codecs
import re

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_BARE = ("utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be")  # tried when NULs rule out UTF-8
SAMPLE = 512  # bytes of the head an encoding without a BOM is judged on
HEAD = 4096  # what detection saw (detect.HEAD_SIZE): the reader decides the encoding on the same bytes
MAX_TRIES = 64  # NUL lines judged for a switch per text; later ones are only counted
_CHANGE = re.compile(rb"\x00|\xff\xfe|\xfe\xff")  # never in UTF-8 text: a NUL or a UTF-16/32 BOM
_MARKS_8BIT = re.compile(rb"package:|  Package \[")  # never in UTF-16/32 ASCII text: 8-bit text appended
# the first lines of dumpsys package output (a bugreport's package service too)
DUMPSYS_FIRST_LINES = ("Activity Resolver Table:", "Database versions:", "Packages:", "DUMP OF SERVICE package:",
                       "Verifiers:", "Intent Filter Verifier:", "Libraries:", "Features:",
                       "Domain verification status:")
_HEAD_MARKS = tuple(m.encode() for m in ("package:", "== dumpstate:", "=====") + DUMPSYS_FIRST_LINES)
MAX_CONTROL_SHARE = 50  # UTF-8 text may hold one control or undecodable byte in this many (_sparse_controls)
_CONTROLS = bytes([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])


def text_encoding(head: bytes) -> str | None:
    """``utf-32``/``utf-16`` (a BOM), ``utf-32-le``/``-be``, ``utf-16-le``/``-be`` (no BOM: the head
    decodes strictly to text without NULs, mostly printable), ``utf-8`` (no NUL byte, or whole UTF-8
    lines before a line of UTF-16/32 text: the encoding changes there, see :class:`Transcoder`, or
    control bytes sparse enough for text: :func:`_sparse_controls`), or None (binary)."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    first = head.find(b"\0")
    if first < 0:
        return "utf-8"
    start = head.rfind(b"\n", 0, first) + 1  # UTF-8 lines, then UTF-16/32 ones (PowerShell 5's >>)
    rest = head[start:]  # judged with more bytes by the reader when the head cuts it short
    if start > 1 and _utf8_text(head[:start]) and (len(rest) < 16 or text_encoding(rest) not in (None, "utf-8")):
        return "utf-8"
    if _sparse_controls(head) or _listing_head(head):  # before bare UTF-16/32: ASCII read so is CJK
        return "utf-8"
    best, share = None, 0.0
    for encoding in _BARE:  # of those that read as text, the one reading most ASCII (a listing is ASCII)
        unit = 4 if "32" in encoding else 2
        sample = head[:min(SAMPLE, len(head) - len(head) % unit)]
        try:
            text = sample.decode(encoding)
        except UnicodeDecodeError:
            continue
        if len(text) >= 4 and "\0" not in text and _printable(text):
            ascii_share = sum(1 for ch in text if ch < "\x80") / len(text)
            best, share = (encoding, ascii_share) if ascii_share > share else (best, share)
    return best


def _listing_head(head: bytes) -> bool:
    """8-bit text that starts as a listing does (a ``package:`` line or a dumpsys header, after any
    lines of junk without a control byte, within the head), however many NULs follow: a package's fields (a MIME
    type, a versionName) can print a flood of them into dumpsys output, and the capture must still be
    read (review 40 F2), its NUL lines counted."""
    if head.startswith(codecs.BOM_UTF8):  # PowerShell 5's Out-File -Encoding UTF8 (review 41 F1)
        head = head[len(codecs.BOM_UTF8):]
    for line in head.split(b"\n"):  # junk lines (adb's 'WARNING: linker ...') up to the first control byte
        if line.startswith(_HEAD_MARKS):
            return True
        if any(b in line for b in _CONTROLS):
            return False
    return False


def _sparse_controls(head: bytes) -> bool:
    """UTF-8 text despite a NUL or another control byte (a serial or terminal capture, a linker
    warning printing one): at most one byte in :data:`MAX_CONTROL_SHARE` is a control byte (C0 but
    tab, LF, VT, FF, CR and ESC, which ANSI colours use; DEL) or undecodable. Binaries (images,
    SQLite, ELF, DEX, archives) are far above that: decided by the share, never by one byte. The
    reader counts each line still holding a NUL (``TEXT_LINES_UNREADABLE``)."""
    if len(head) < 16:
        return False
    bad = sum(head.count(bytes([b])) for b in _CONTROLS)
    bad += head.decode("utf-8", "replace").count("\ufffd") - head.count(b"\xef\xbf\xbd")
    return bad * MAX_CONTROL_SHARE <= len(head)


def _utf8_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return _printable(text)


def _printable(text: str) -> bool:
    shown = sum(1 for ch in text if ch.isprintable() or ch in "\t\r\n\f\ufeff")
    return shown >= 0.95 * len(text)


class Transcoder:
    """Bytes in, UTF-8 bytes out (undecodable ones replaced later, per line), chunk by chunk.

    Starts in ``encoding``; from UTF-8 it switches once, to UTF-16/32, where a BOM or a line
    holding NULs reads as such text (:func:`text_encoding` on the bytes from there). Holds back at
    most :data:`SAMPLE` bytes to judge a change near a chunk's end. Linear in the bytes."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        self._decoder = None if encoding == "utf-8" else codecs.getincrementaldecoder(encoding)("replace")
        self._held = b""
        self._tries = MAX_TRIES
        self._tail = b""
        self.marks_8bit = 0  # listing marks written in 8-bit text inside UTF-16/32 text: not read, counted

    def feed(self, data: bytes, final: bool = False) -> bytes:
        if self._decoder is not None:
            seen = self._tail + data
            self.marks_8bit += sum(1 for m in _MARKS_8BIT.finditer(seen) if m.end() > len(self._tail))
            self._tail = seen[-10:]  # a mark split between chunks; one inside it was counted already
            return self._decoder.decode(data, final).encode("utf-8", "replace")
        data, self._held = self._held + data, b""
        pos = 0
        while self._tries > 0 and (m := _CHANGE.search(data, pos)):
            at = m.start()
            start = at if m.group() != b"\0" else _unit_start(data, at)
            if not final and len(data) - start < SAMPLE:
                self._held = data[start:]  # judged with the next chunk
                return data[:start]
            self._tries -= 1
            encoding = text_encoding(data[start:start + HEAD])
            if encoding not in (None, "utf-8") and _reads_as(data[start:start + SAMPLE], encoding):
                self.encoding = encoding
                self._decoder = codecs.getincrementaldecoder(encoding)("replace")
                return data[:start] + self.feed(data[start:], final)
            end = data.find(b"\n", at)  # not a change: the rest of this line is not looked at again
            pos = len(data) if end < 0 else end + 1
        if not final and data[-1:] in (b"\xff", b"\xfe"):
            self._held, data = data[-1:], data[:-1]  # perhaps half a BOM
        return data


def _reads_as(sample: bytes, encoding: str) -> bool:
    """Text follows in ``encoding`` (a BOM alone, or before bytes that do not read so, is no change)."""
    try:  # not final: a code unit or pair cut by the sample's end is not an error
        text = codecs.getincrementaldecoder(encoding)().decode(sample).lstrip("\ufeff")
    except UnicodeDecodeError:
        return False
    return bool(text) and "\0" not in text and _printable(text)


def _unit_start(data: bytes, at: int) -> int:
    """Where the code unit holding the NUL at ``at`` starts: at a line start (``\\0p`` is UTF-16BE),
    else one byte before (``p\\0``, UTF-16LE: what Windows writes)."""
    if at == 0 or data[at - 1:at] == b"\n":
        return at
    return at - 1


def decode(data: bytes, encoding: str) -> str:
    """``data`` (whole) as text, following a change of encoding; BOMs left in."""
    return Transcoder(encoding).feed(data, final=True).decode("utf-8", "replace")


_ODD_UNITS = re.compile("[" + "".join(chr(high << 8) for high in range(0x20, 0x7F)) + "]")  # ASCII one byte off


def misaligned(line: str) -> bool:
    """UTF-16 text read one byte off (an odd number of 8-bit bytes appended before it): each ASCII
    character becomes U+XX00, a LF U+0A00 (unassigned), so the listing is one line of CJK-looking
    text with no NUL or BOM in it. Told by those code points: a LF read so, or most of a line of
    them (real text has 1 in 256). ASCII lines, nearly all of a listing, are passed at C speed."""
    if line.isascii():
        return False
    if "\u0a00" in line:
        return True
    odd = len(_ODD_UNITS.findall(line))
    return odd >= 4 and 2 * odd >= len(line)


def realigned(example: str) -> str:
    """What a line read one byte off (:func:`misaligned`) says read one byte on, for the warning."""
    if not misaligned(example):
        return ""
    readings = ((example.encode(enc, "surrogatepass")[1:] + b"\0").decode(enc, "replace")
                for enc in ("utf-16-le", "utf-16-be"))  # LE or BE read one byte off: the one reading ASCII
    return f"; read one byte on: {max(readings, key=lambda text: sum(ch.isascii() for ch in text))!r}"
