"""Which encoding text evidence is in, told from its bytes, and where it changes.

``adb shell ... > f.txt`` writes UTF-8; PowerShell 5's ``>`` writes UTF-16LE with a BOM, and its
``>>`` (``Out-File -Append``) appends UTF-16LE to whatever the file holds, so one file can be
UTF-8 then UTF-16. :class:`Transcoder` follows such a change: in UTF-8 text, a UTF-16/32 BOM, or a
line with NUL bytes that reads as UTF-16/32 text, starts a decoder there, and the text is read as
8-bit text too from there on (a package's field can print such a line into 8-bit text), and by one
more decoder where a later line or BOM is no text of the first (another append, of another
alignment). Not followed: a change *out of* UTF-16/32 text that is UTF-16/32 from its start
(``cmd``'s ``>>`` after PowerShell's ``>``: its marks are counted), and NUL lines past the judgement
budgets (:data:`MAX_TRIES`, :data:`REFILL`; their lines are counted by the reader, see ``text_evidence``).
Each decoder's reading, and which NULs are its own, is :class:`~apkscan.sources.text_decoded.Decoded`.
"""

from __future__ import annotations

import codecs
import re

from apkscan.sources.text_decoded import BOM_OF, BOM_ORDER, Decoded, intersect

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_BARE = ("utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be")  # tried when NULs rule out UTF-8
SAMPLE = 512  # bytes of the head an encoding without a BOM is judged on
HEAD = 4096  # what detection saw (detect.HEAD_SIZE): the reader decides the encoding on the same bytes
MAX_TRIES = 64  # NUL lines judged for a switch per text, and as many more whose first line reads as UTF-16/32 text
MAX_DECODERS = 3  # decoders of a text that changes encoding mid-way (each a reading of the whole rest)
_CHANGE = re.compile(rb"\x00|\xff\xfe|\xfe\xff")  # never in UTF-8 text: a NUL or a UTF-16/32 BOM
_BOM_MARK = re.compile(rb"\xff\xfe|\xfe\xff")
_TEXT_UNITS = re.compile(rb"\xff\xfe|\xfe\xff|(?:[\t -~]\0){4}|(?:\0[\t -~]){4}"  # a BOM, UTF-16 ASCII, UTF-32 ASCII
                         rb"|(?:[\t -~]\0\0\0){4}|(?:\0\0\0[\t -~]){4}")
REFILL = 64 * 1024  # bytes fed that earn one more judgement (up to MAX_TRIES): a field's NULs spend them for a while
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

    Starts in ``encoding``. From UTF-8 it switches to UTF-16/32 where a BOM or a line holding NULs
    reads as such text (:func:`text_encoding` on the bytes from there, the encoding whose first line
    there reads most ASCII). A field can print such a line into 8-bit text (review 40 F5), and crafted
    UTF-16 characters are bytes that read as 8-bit lines (review 44 F1), so which reading is right is
    not guessed: from that change (:attr:`forked_at`) the bytes are also read as 8-bit text, and a
    later BOM or NUL line that no decoder reads as text (:meth:`Decoded.unread`; another append:
    ``cmd >>`` of an odd length between PowerShell ``>>``) starts one more decoder, up to
    :data:`MAX_DECODERS`; past it, in the slot of a later one reading no text there (review 47 F1).
    ``feed`` returns the first reading's text (8-bit up to the change, then the first decoder's);
    :attr:`outputs` holds every reading's text of that feed, in the order begun (the first, the
    8-bit one, then the later decoders'), and :attr:`born` which of them began in it. A judgement
    reads at most :data:`HEAD` bytes: :data:`MAX_TRIES` of them, one more per :data:`REFILL` bytes,
    and as many more for lines that read as UTF-16/32 text (review 47 F3). Holds back at most
    :data:`SAMPLE` bytes to judge a change near a chunk's end. Linear in the bytes. Text that is
    UTF-16/32 from its start is only decoded."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        self._judging = encoding == "utf-8"  # 8-bit text: from the start, or read so too from forked_at
        self._decoders = [] if self._judging else [Decoded(encoding, 0, encoding)]
        self._held = b""
        self._tries = [MAX_TRIES, MAX_TRIES]  # judgements left: any NUL line; one reading as UTF-16/32 text
        self._tail = b""
        self._open: tuple[list, list] | None = None  # _lanes of the chunk being judged
        self._pos = 0  # offset of the first byte held (or of the next byte fed)
        self.marks_8bit = 0  # listing marks written in 8-bit text inside the first decoder's text
        self.starts: list[tuple[int, str]] = []  # where each decoder began mid-text, and as what
        self.outputs: list[bytes] = []
        self.born: list[int] = []

    @property
    def forked_at(self) -> int | None:
        return self.starts[0][0] if self.starts else None

    def feed(self, data: bytes, final: bool = False) -> bytes:
        if not self._judging:
            self.outputs, self.born = [self._decode(self._decoders[0], data, final)], []
            return self.outputs[0]
        data, base, begun = self._held + data, self._pos, len(self._decoders)
        earned = (base + len(data)) // REFILL - (base + len(self._held)) // REFILL
        self._tries = [min(MAX_TRIES, left + earned) for left in self._tries]
        self._held, self._open = b"", None
        segments = [[(d, 0)] for d in self._decoders]  # per decoder slot: who decodes this chunk from where
        data = self._judge_all(data, base, final, segments)
        if not final and not self._held and data[-1:] in (b"\xff", b"\xfe"):
            self._held, data = data[-1:], data[:-1]  # perhaps half a BOM
        self._pos = base + len(data)
        decoded = [self._joined(data, its, final) for its in segments]
        self.outputs = [decoded[0], data, *decoded[1:]] if decoded else [data]
        # begun here: the 8-bit reading (1) with the first decoder, reading i + 1 with decoder i
        self.born = [i + 1 if i else 1 for i in range(begun, len(self._decoders))]
        return self.outputs[0]

    def _judge_all(self, data: bytes, base: int, final: bool, segments: list) -> bytes:
        """Judge each NUL or BOM line no decoder reads (:meth:`_next`); ``data`` less what is held."""
        pos = 0
        while any(self._tries) and (found := self._next(data, base, pos)):
            at, mark = found
            slot = self._slot(at)
            if slot is None:  # every slot reads text here: on to where a later one reads none
                pos = min((lo for spans in self._open[1][1:] for lo, _ in spans if lo > at), default=None)
                if pos is None:
                    break
                continue
            start = at if mark != b"\0" else _unit_start(data, at)
            if not final and len(data) - start < SAMPLE:
                self._held = data[start:]  # judged with the next chunk
                return data[:start]
            pool = 0 if self._tries[0] else 1
            if pool and not _reads_as_text(data[start:start + SAMPLE]):  # review 47 F3: junk spent the first
                if (pos := _next_text(data, _next_line(data, at))) is None:
                    break
                continue
            self._tries[pool] -= 1
            encoding = _judged(data[start:start + HEAD])
            if encoding is not None:
                order = next((name for bom, name in BOM_ORDER if data.startswith(bom, start)), encoding)
                self._begin(Decoded(encoding, base + start, order), slot, start, segments)
            pos = _next_line(data, at)  # the rest of this line is not looked at again
        return data

    def _slot(self, at: int) -> int | None:
        """A new decoder slot, or past :data:`MAX_DECODERS` one of a later decoder (never the first's:
        its reading is the first) reading no text at ``at`` (a UTF-32 field line's, review 47 F1)."""
        if len(self._decoders) < MAX_DECODERS:
            return len(self._decoders)
        unread = self._open[1]
        return next((i for i in range(1, len(self._decoders)) if _inside(unread[i], at)), None)

    def _begin(self, decoded: Decoded, slot: int, start: int, segments: list) -> None:
        """``decoded`` reads from ``start``: a new slot (8-bit text before it), or an idle one's."""
        if slot == len(self._decoders):
            self._decoders.append(decoded)
            self.starts.append((decoded.origin, decoded.order))
            segments.append([(None, 0), (decoded, start)])
        else:
            self._decoders[slot] = decoded
            self.starts[slot] = (decoded.origin, decoded.order)
            segments[slot].append((decoded, start))
        self.encoding = self.starts[0][1]
        self._open = None

    def _joined(self, data: bytes, segments: list, final: bool) -> bytes:
        """One slot's text: 8-bit bytes (None), or each decoder's up to the next (flushed, line ended)."""
        out = []
        for k, (decoded, begin) in enumerate(segments):
            last, end = k + 1 == len(segments), segments[k + 1][1] if k + 1 < len(segments) else len(data)
            out.append(data[begin:end] if decoded is None else
                       self._decode(decoded, data[begin:end], final or not last) + (b"" if last else b"\n"))
        return b"".join(out)

    def _next(self, data: bytes, base: int, pos: int) -> tuple[int, bytes] | None:
        """The next NUL or BOM from ``pos`` that no decoder reads as part of its text: in 8-bit text
        any; else a NUL only where no decoder reads a high byte (:meth:`Decoded.covers`, less its
        :meth:`Decoded.unread` spans), looked for a lane at a time at C speed."""
        if not self._decoders:
            m = _CHANGE.search(data, pos)
            return (m.start(), m.group()) if m else None
        if self._open is None:  # per chunk, and again once a decoder begins
            self._open = self._lanes(data, base)
        lanes, unread = self._open
        found = [(at, b"\0") for residue, spans in enumerate(lanes)
                 if (at := _lane_find(data, spans, pos, (residue - base) % 4)) is not None]
        m = _BOM_MARK.search(data, pos)
        while m and any(d.covers(base + m.start(), m.group()) and not _inside(spans, m.start())
                        for d, spans in zip(self._decoders, unread)):
            m = _BOM_MARK.search(data, m.start() + 1)
        return min(found + ([(m.start(), m.group())] if m else []), default=None)

    def _lanes(self, data: bytes, base: int) -> tuple[list, list]:
        """Per offset mod 4 (each unit size divides 4), the spans where no decoder reads a NUL (none
        has a high byte there, or each that has reads no text there); each decoder's unread ones."""
        unread = [d.unread(data, base) for d in self._decoders]
        lanes = []
        for residue in range(4):
            spans = [(0, len(data))]
            for decoded, its in zip(self._decoders, unread):
                if decoded.covers(residue, b"\0"):
                    spans = intersect(spans, its)
            lanes.append(spans)
        return lanes, unread

    def _decode(self, decoded: Decoded, data: bytes, final: bool) -> bytes:
        if decoded is self._decoders[0]:  # 8-bit marks inside the first decoder's text, counted
            seen = self._tail + data
            self.marks_8bit += sum(1 for m in _MARKS_8BIT.finditer(seen) if m.end() > len(self._tail))
            self._tail = seen[-10:]  # a mark split between chunks; one inside it was counted already
        return decoded.decoder.decode(data, final).encode("utf-8", "replace")


def _judged(head: bytes) -> str | None:
    """The encoding text changes to at ``head``'s start, or None (:func:`text_encoding` says UTF-8 or
    binary, or nothing reads as text). Judged on the first line in each encoding: the sample can run past that
    line into text of another encoding or alignment (``cmd >>`` then PowerShell ``>>`` again), which
    must not outvote it. With a BOM, its encoding if that line (or the sample) reads so; else of the
    bare ones whose first line reads as text, the one reading most ASCII; a first line too short to
    tell (a blank one), the sample is judged as detection judges a head."""
    encoding = text_encoding(head)
    if encoding in (None, "utf-8"):  # a stray NUL in 8-bit text, or nothing that reads as text
        return None
    order = next((name for bom, name in BOM_ORDER if head.startswith(bom)), None)
    if order is not None:
        line = _first_line(head[len(BOM_OF[order]):SAMPLE], order)
        return encoding if line is not None or _reads_as(head[:SAMPLE], encoding) else None
    best, share = None, -1.0
    for name in _BARE:
        text = _first_line(head[:SAMPLE], name)
        if text is not None and sum(1 for ch in text if ch < "\x80") / len(text) > share:
            best, share = name, sum(1 for ch in text if ch < "\x80") / len(text)
    if best is None and _reads_as(head[:SAMPLE], encoding):
        return encoding
    return best


def _first_line(sample: bytes, encoding: str) -> str | None:
    """``sample``'s first line (to its first line break on a code unit's boundary, or its end) in
    ``encoding``, if that is text: four characters or more, no NUL, printable."""
    unit = 4 if "32" in encoding else 2
    lf, end = "\n".encode(encoding), sample.find("\n".encode(encoding))
    while end >= 0 and end % unit:
        end = sample.find(lf, end + 1)
    end = len(sample) - len(sample) % unit if end < 0 else end + unit
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(sample[:end])
    except UnicodeDecodeError:
        return None
    return text if len(text) >= 4 and "\0" not in text and _printable(text) else None


def _lane_find(data: bytes, spans: list[tuple[int, int]], pos: int, lane: int) -> int | None:
    """The first NUL from ``pos`` at an offset ``lane`` mod 4 inside one of ``spans``."""
    for lo, hi in spans:
        if hi > pos:
            lo = max(lo, pos)
            lo += (lane - lo) % 4
            j = data[lo:hi:4].find(b"\0")
            if j >= 0:
                return lo + 4 * j
    return None


def _inside(spans: list[tuple[int, int]], at: int) -> bool:
    return any(lo <= at < hi for lo, hi in spans)


def _reads_as_text(sample: bytes) -> bool:
    """A BOM, or a first line that reads as UTF-16/32 text (:func:`_first_line`)."""
    return _BOM_MARK.match(sample) is not None or any(_first_line(sample, name) is not None for name in _BARE)


def _next_text(data: bytes, pos: int) -> int | None:
    """The next line from ``pos`` holding a BOM or UTF-16/32 ASCII: junk NUL lines passed at C speed."""
    m = _TEXT_UNITS.search(data, pos)
    return None if m is None else max(pos, data.rfind(b"\n", 0, m.start()) + 1)


def _next_line(data: bytes, at: int) -> int:
    end = data.find(b"\n", at)
    return len(data) if end < 0 else end + 1


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
