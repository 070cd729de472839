"""How a standard tar reads the bytes Android's restore reads (review 78 F2): a cursor kept alongside.

:mod:`adb_restore_tar` reads an adb backup's payload as ``adb restore`` does; forensic users
extract the same backup with abe + ``tar``. Where the two read a header differently (a size field
``" 00000242000"``: 0 to restore, 82,944 to tar; a bad checksum restore never checks; a pax ``x``
header whose own size or name restore keeps while tar takes the next header's) the two readings
part: restore reads headers inside what tar calls one member's content, or tar reads members inside
what restore calls content. :class:`TarShadow` follows tar's reading over the same bytes as they
pass (nothing is read twice, nothing kept but the header blocks at tar's cursor) and says each such
point as a ``TAMPER_BACKUP_TAR_READ_TWO_WAYS`` fact, naming the field and both readings. Headers
are read by ``tarfile`` itself (with :class:`adb_tar.BoundedTarInfo`'s bounds). A member tar reads
inside restore's content is kept as it passes and scanned as tar extracts it, the fact on it
(:func:`hidden_members`; review 81 F6: a banned APK there was a data file's content to restore,
never scanned): in memory up to :data:`MAX_KEPT` bytes at once, past that appended to a private
temporary file within ``--tmp-limit`` (review 91: a hidden APK padded past the memory bound was an
error, not a verdict); only one the temporary space has no room for is an error
(``CONTAINER_TMP_LIMIT``, as for any spooled member).
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

from apkscan.issues import ApkScanError, Issue, error, tamper
from apkscan.sources.interface import InputProblem, Member
from apkscan.sources.streams import WindowStream
from apkscan.sources.tempspace import Fill, TempSpace

from apkscan.sources.adb_restore_tar import BLOCK, RestoreHeader
from apkscan.sources.adb_tar import EXTENDED_TYPES, MAX_EXTENDED_CHAIN, MAX_EXTENDED_HEADER, BoundedTarInfo

MAX_FACTS = 32  # said one by one; past this, counted
MAX_HELD = 4096  # members only tar reads held at once (kept, or whole and not yet handed on): past it, counted
MAX_KEPT = 24 << 20  # bytes of members only tar reads kept in memory at once, to be scanned (review 81 F6): with the copy handed on, a worker stays under 100 MB; past it they are spooled


@dataclass(slots=True)
class TarReading:
    """What tar reads at a header offset: ``kind`` member, end (a zero block), invalid, or more
    (an extended header whose blocks have not all passed; ``need`` bytes)."""

    kind: str
    name: str = ""
    size: int = 0  # content bytes tar reads (0 for a directory or link)
    span: int = BLOCK  # bytes from the header to tar's next header
    note: str = ""
    need: int = 0
    data: int = 0  # where its content starts, from the header


@dataclass(slots=True, eq=False)
class Hidden:
    """A member tar reads inside what restore reads as content (or header blocks): its content kept
    as it passes (from ``start``: in ``data``, or in ``fill`` from ``at``), to be scanned as tar
    extracts it; ``message`` says why."""

    name: str
    start: int
    size: int
    message: str
    data: bytearray
    fill: Fill | None = None
    at: int = 0
    got: int = 0  # bytes kept so far


def _block(n: int) -> int:
    return n + (-n % BLOCK)


def tar_reading(buf: bytes) -> TarReading:
    """``tarfile``'s reading of the header (sequence) at the start of ``buf``."""
    if not buf[:BLOCK].strip(b"\0"):
        return TarReading("end")
    at = 0
    for _ in range(MAX_EXTENDED_CHAIN + 1):  # how many bytes the chain of extended headers needs
        try:
            first = tarfile.TarInfo.frombuf(buf[at:at + BLOCK], "utf-8", "replace")
        except tarfile.HeaderError as exc:
            if at == 0:
                return TarReading("invalid", note=str(exc) or "no tar header")
            break
        if first.type not in EXTENDED_TYPES or first.size > MAX_EXTENDED_HEADER:
            break
        at += BLOCK + _block(first.size)
        if len(buf) < at + BLOCK:
            return TarReading("more", need=at + BLOCK)
    try:
        tf = tarfile.open(fileobj=io.BytesIO(buf), mode="r|", tarinfo=BoundedTarInfo,
                          encoding="utf-8", errors="replace")
        info = tf.firstmember
    except (tarfile.TarError, ValueError, OSError) as exc:
        return TarReading("invalid", note=str(exc) or "no tar header")
    if info is None:
        return TarReading("invalid", note="no tar header")
    content = info.size if info.isreg() or info.type not in tarfile.SUPPORTED_TYPES else 0
    return TarReading("member", info.name, content, tf.offset, data=info.offset_data)


class TarShadow:
    """tar's cursor over the payload. :meth:`on_header` for each header restore reads (what tar reads
    there, as messages), :meth:`feed` for every content byte restore pulls; :meth:`take` the facts
    found in content (``(name, message)``), :meth:`take_hidden` the members tar reads there, whole.
    Past :data:`MAX_KEPT` bytes in memory a member is appended to a file of ``temp``; one it has no
    room for (or with no ``temp``) is not kept (``(name, message, issue)`` in :attr:`too_big`).
    :meth:`close` deletes what is still held."""

    def __init__(self, temp: TempSpace | None = None):
        self.cursor: int | None = 0  # where tar reads its next header; None once tar's reading ended
        self.ended = ""  # why tar's reading ended
        self.inside = ""  # what tar reads the bytes before its cursor as
        self.content_of = ""  # the restore member whose content is passing
        self.facts = 0
        self._pending: list[tuple[str, str]] = []
        self._hidden: list[Hidden] = []  # being kept, or whole and not yet taken
        self._passing: list[Hidden] = []  # those of them whose bytes have not all passed (tar reads one at a time)
        self.dropped: dict[str, list] = {}  # restore member whose content held them -> [count past MAX_HELD, first names]
        self.too_big: list[tuple[str, str, Issue]] = []
        self.temp = temp
        self._fill: Fill | None = None  # the file new spooled members are appended to
        self._fills: list[Fill] = []  # every file still held (handed on, or being written)
        self._buf = bytearray()
        self._need = BLOCK

    def on_header(self, header: RestoreHeader) -> list[str]:
        self.content_of = header.path
        if self.cursor is None:
            out = [f"restore reads {header.path!r} at offset {header.offset}, after tar's reading ended ({self.ended})"]
        elif self.cursor == header.offset:
            reading = tar_reading(header.raw)
            out = _compare(header, reading)
            self._advance(header.offset, reading, "")
        elif self.cursor > header.offset:
            out = [f"restore reads a header {header.path!r} at offset {header.offset}, inside {self.inside}"]
        else:
            out = []
        self.feed(header.offset, header.raw)  # tar's cursor inside the blocks restore read as this header
        return self._count(out)

    def feed(self, offset: int, data: bytes) -> None:
        self._follow(offset, data)
        self._keep(offset, data)

    def _follow(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        while self.cursor is not None and self.cursor < end:
            want = self.cursor + len(self._buf)
            if want < offset:  # bytes tar needs went by unseen: its reading is not followed further
                self._end(f"lost at offset {self.cursor}")
                return
            take = data[want - offset:want - offset + self._need - len(self._buf)]
            self._buf += take
            if len(self._buf) < self._need:
                return
            reading = tar_reading(bytes(self._buf))
            if reading.kind == "more":
                self._need = reading.need
                continue
            at = self.cursor
            self._advance(at, reading, self.content_of)

    def take(self) -> list[tuple[str, str]]:
        out, self._pending = self._pending, []
        return out

    def take_hidden(self, ended: bool = False) -> list[Hidden]:
        """The members tar reads inside restore's content whose bytes have all passed; ``ended``: the
        payload is done, so one still being kept is cut short (its fact said, nothing scanned). A
        file of spooled members takes no new one once some are taken (:meth:`release` drops it)."""
        out = [h for h in self._hidden if h.got == h.size]
        left = [h for h in self._hidden if h.got < h.size]
        self._hidden = [] if ended else left
        self._passing = [] if ended else list(left)
        for h in left if ended else []:
            self._pending.append((h.name, f"{h.message} (only {h.got} of its {h.size} bytes were read: "
                                  "not scanned)"))
        if any(h.fill is not None for h in out):
            self._fill = None
        return out

    def release(self) -> None:
        """Delete each file no member still being kept is in (those taken were scanned by now)."""
        live = [f for f in self._fills if any(h.fill is f for h in self._hidden)]
        for f in self._fills:
            if not any(f is g for g in live):
                f.drop()
        self._fills = live
        if self._fill is not None and not any(self._fill is f for f in live):
            self._fill = None

    def close(self) -> None:
        """Delete every file held (the walk ended, or was cut short)."""
        self._hidden = [h for h in self._hidden if h.fill is None]
        self._passing = [h for h in self._passing if h.fill is None]
        self.release()

    def _keep(self, offset: int, data: bytes) -> None:
        """Only the members still passing are looked at (a few: a whole one waits in ``_hidden``), so a
        chunk costs the same however many whole members wait to be handed on."""
        for h in list(self._passing):
            have = h.start + h.got
            if offset <= have < offset + len(data) and h in self._passing:
                piece = data[have - offset:have - offset + h.size - h.got]
                if h.fill is None:
                    h.data += piece
                elif not self._spool(h, piece):
                    continue
                h.got += len(piece)
                if h.got == h.size:
                    self._passing.remove(h)

    def _spool(self, h: Hidden, piece: bytes) -> bool:
        """Write to the member's place in its file; on a failure (the disk full, the file swapped) each
        member of that file still passing is not kept, said."""
        assert h.fill is not None
        try:
            h.fill.write(piece, h.at + h.got)
            return True
        except (OSError, ApkScanError) as exc:
            issue = _as_issue(exc)
        if self._fill is h.fill:
            self._fill = None
        for g in [g for g in self._passing if g.fill is h.fill]:
            self._hidden.remove(g)
            self._passing.remove(g)
            self.too_big.append((g.name, g.message, issue))
        return False

    def _hide(self, name: str, start: int, size: int, message: str) -> None:
        """Keep a member tar reads inside restore's content: in memory within :data:`MAX_KEPT` bytes
        held, else appended to a private temporary file within the space's bound."""
        if len(self._hidden) + len(self.too_big) >= MAX_HELD:  # each costs memory and a pass at hand-on
            said = self.dropped.setdefault(self.content_of, [0, []])
            said[0] += 1
            if len(said[1]) < 5:
                said[1].append(name)
            return
        held = sum(h.size for h in self._hidden if h.fill is None)
        if held + size <= MAX_KEPT:
            self._add(Hidden(name, start, size, message, bytearray()))
            return
        if self.temp is None:
            self.too_big.append((name, message, _unscanned(name)))
            return
        try:
            if self._fill is None:
                self._fill = self.temp.fill()
                self._fills.append(self._fill)
            at = self._fill.reserve(size, repr(name))
        except (ApkScanError, OSError) as exc:
            self.too_big.append((name, message, _as_issue(exc)))
            return
        self._add(Hidden(name, start, size, message, bytearray(), self._fill, at))

    def _add(self, h: Hidden) -> None:
        self._hidden.append(h)
        self._passing.append(h)

    def _advance(self, at: int, reading: TarReading, content_of: str) -> None:
        self._buf, self._need = bytearray(), BLOCK
        where = f"what restore reads as the content of {content_of!r}" if content_of else ""
        if reading.kind == "member":
            self.cursor = at + reading.span
            self.inside = f"what tar reads as the content of {reading.name!r} (its header at offset {at})"
            if where:
                said = (f"tar reads a member {reading.name!r} ({reading.size} bytes) at offset {at}, "
                        f"inside {where}: restore never reads it as a file")
                if reading.size:  # scanned as tar extracts it, the fact on it
                    self._hide(reading.name, at + reading.data, reading.size, said)
                else:
                    self._say(reading.name, said)
        elif reading.kind == "end":
            self.cursor = at + BLOCK  # read on past it as tar -i does
            self.inside = f"what tar reads as the end of the archive (zero block at offset {at})"
        else:
            self._end(f"no tar header at offset {at}: {reading.note}")
            if where:
                self._say(content_of, f"tar's reading ends at offset {at}, inside {where} ({reading.note})")

    def _end(self, why: str) -> None:
        self.cursor, self.ended = None, why
        self._buf, self._need = bytearray(), BLOCK

    def _say(self, name: str, message: str) -> None:
        for message in self._count([message]):
            self._pending.append((name, message))

    def _count(self, messages: list[str]) -> list[str]:
        self.facts += len(messages)
        return messages if self.facts <= MAX_FACTS else []


def hidden_members(shadow: TarShadow, chain: tuple[str, ...], ended: bool = False) -> Iterator[Member | InputProblem]:
    """Members tar reads inside what restore reads as content, scanned as tar extracts them, the fact
    on each (review 81 F6: an APK there passed as a data file's content, never scanned): from memory,
    or in place in the private file they were spooled to, deleted once scanned; one not kept is an error."""
    try:
        for h in shadow.take_hidden(ended):
            said = tamper("TAMPER_BACKUP_TAR_READ_TWO_WAYS", f"{h.message}; scanned as tar extracts it")
            if h.fill is None:
                kept = bytes(h.data)
                yield Member(name=h.name, size=h.size, open=lambda kept=kept: io.BytesIO(kept), flags=[said])
                continue
            try:
                path = h.fill.ready()
            except (ApkScanError, OSError) as exc:
                yield InputProblem(chain + (h.name,), [said, _as_issue(exc)])
                continue
            yield Member(name=h.name, size=h.size, open=lambda w=(path, h.at, h.size): WindowStream(*w),
                         window=(path, h.at, h.size), flags=[said])
    finally:
        shadow.release()
    for name, message, issue in shadow.too_big:
        yield InputProblem(chain + (name,), [tamper("TAMPER_BACKUP_TAR_READ_TWO_WAYS", message), issue])
    shadow.too_big.clear()
    for content_of, (n, names) in shadow.dropped.items():
        shown = ", ".join(repr(x) for x in names) + (", ..." if n > len(names) else "")
        yield InputProblem(chain + (content_of,), [error(
            "BACKUP_TAR_HIDDEN_TOO_MANY", f"{n} more members only tar reads inside what restore reads as the "
            f"content of {content_of!r} than the {MAX_HELD} held at once ({shown}): not scanned; extract the "
            "backup with tar and scan those files")])
    shadow.dropped.clear()


def _unscanned(name: str) -> Issue:
    return error("BACKUP_TAR_MEMBER_UNSCANNED", f"{name!r}, a member only tar reads, is larger than the "
                 f"{MAX_KEPT} bytes kept in memory as it passes and no temporary space was given: not scanned; "
                 "extract the backup with tar and scan that file")


def _as_issue(exc: BaseException) -> Issue:
    if isinstance(exc, ApkScanError):
        return exc.to_issue()
    return error("CONTAINER_TMP_LIMIT", f"temporary space could not be written ({getattr(exc, 'strerror', '') or exc})")


def _compare(header: RestoreHeader, reading: TarReading) -> list[str]:
    """Each field restore and tar read differently at one header."""
    if reading.kind != "member":
        why = "a zero block" if reading.kind == "end" else reading.note
        return [f"at offset {header.offset}: restore reads {header.path!r} ({header.size} bytes), "
                f"tar reads no header there ({why})"]
    out = []
    if header.path.rstrip("/") != reading.name.rstrip("/"):
        out.append(f"at offset {header.offset}: name: restore reads {header.path!r}, tar reads {reading.name!r}")
    if header.size != reading.size:
        out.append(f"at offset {header.offset}: size of {header.path!r}: restore reads {header.size} bytes, "
                   f"tar reads {reading.size}")
    return out
