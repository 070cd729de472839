"""An adb backup's tar read as Android's restore reads it (review 78 F2).

Why not ``tarfile``: ``adb restore`` does not read the payload as a standard tar does. AOSP
``TarBackupReader`` (``readTarHeaders``, ``readTarHeader``, ``readPaxExtendedHeader``,
``extractRadix``, ``extractString``) and ``FullRestoreEngine.restoreOneFile`` check no header
checksum and no ``ustar`` magic; read each number digit by digit, stopping at the first NUL or
space (``" 00000242000"`` is 0 there, 82,944 to tar), a non-digit stopping the restore; take the
path as prefix + ``/`` + name; know type ``0`` (file), ``5`` (directory, size 0), NUL (the end of
the restore) and ``x`` (pax: its ``path``/``size`` records override, and the metadata otherwise
keeps the ``x`` header's *own* size and path: the next header gives only its type); any other type
stops the restore, as does a ``_manifest`` or ``_meta`` file over 64 KiB
(``readAppManifestAndReturnSignatures``, ``readMetadata``: an IOException that ends the restore). A
file's content is its ``size`` bytes, then padding to 512. So the bytes tar
calls one member's content can be, for restore, more headers and an APK it installs. This module
is that reading, written from the AOSP source; :mod:`adb_tar_shadow` says where ``tarfile`` reads
the same bytes otherwise, and past the point where restore stops :mod:`adb_backup` reads on with
``tarfile``. Everything is pulled forward once from the payload (no seek).
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass

from apkscan.sources import walkclock
from apkscan.sources.adb_stream import CHUNK, BackupReadError

BLOCK = 512
MAX_PAX = 32 * 1024  # AOSP: "Sanity failure: pax header size" above this
MAX_SMALL_FILE = 64 * 1024  # AOSP: "Restore manifest too big" / "Metadata too big" above this (review 81 F7)


class RestoreStop(Exception):
    """Android's restore ends at ``offset``: ``reason`` says why; ``clean`` for a type NUL
    header or the end of the data (no IOException)."""

    def __init__(self, offset: int, reason: str, clean: bool = False):
        super().__init__(reason)
        self.offset, self.reason, self.clean = offset, reason, clean


@dataclass(slots=True)
class RestoreHeader:
    """One file or directory as restore reads it; ``raw``: the header blocks it read (pax data too)."""

    offset: int
    path: str
    size: int
    type: str  # "0" or "5"
    raw: bytes


def radix(buf: bytes, offset: int, length: int, base: int) -> int:
    """AOSP ``extractRadix``: digits up to the first NUL or space; any other byte is an error."""
    value = 0
    for b in buf[offset:offset + length]:
        if b in (0, 0x20):
            break
        if not 0x30 <= b < 0x30 + base:
            raise ValueError(f"invalid number in header: {chr(b)!r} for radix {base}")
        value = value * base + b - 0x30
    return value


def text(buf: bytes, offset: int, length: int) -> str:
    """AOSP ``extractString``: up to the first NUL, as US-ASCII (Java puts U+FFFD for other bytes)."""
    field = buf[offset:offset + length].split(b"\0", 1)[0]
    return field.decode("ascii", "replace")


def pax_records(data: bytes, size: int) -> dict[str, str]:
    """AOSP ``readPaxExtendedHeader``'s parse of ``size`` bytes: the ``path`` and ``size`` records
    (others are ignored). ``ValueError`` where restore throws (or would loop forever)."""
    out: dict[str, str] = {}
    offset = 0
    while True:
        eol = offset + 1
        while eol < size and data[eol] != 0x20:
            eol += 1
        if eol >= size:
            raise ValueError("invalid pax data")
        length = java_int(radix(data, offset, eol - offset, 10))  # restore's ``(int)`` cast (review 80 F4)
        if length <= 0:
            raise ValueError("pax record of length 0 (restore loops on it)")
        key, end = eol + 1, offset + length - 1
        value = key + 1
        while value <= end and value < len(data) and data[value] != 0x3D:
            value += 1
        if value > end or end >= len(data):
            raise ValueError("invalid pax declaration")
        name = data[key:value].decode("utf-8", "replace")
        if name in ("path", "size"):
            out[name] = data[value + 1:end].decode("utf-8", "replace")
        offset += length
        if offset >= size:
            return out


def java_int(value: int) -> int:
    """Java's ``(int)`` of a long: its low 32 bits, signed (4294967342 is 46 to restore)."""
    return ((value + 2**31) % 2**32) - 2**31


def _java_long(value: str) -> int:
    """``Long.parseLong``: an optional sign, then decimal digits (any number of leading zeros: review 83
    F2, 5,000 of them put Python's int() past its digit limit), in range (else restore throws)."""
    sign, digits = (value[:1], value[1:]) if value[:1] in ("+", "-") else ("", value)
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"pax size {value[:40]!r}{'…' if len(value) > 40 else ''} is no Java long")
    digits = digits.lstrip("0") or "0"
    number = int(sign + digits) if len(digits) <= 19 else None  # 2**63 has 19 digits
    if number is None or not -2**63 <= number < 2**63:
        raise ValueError(f"pax size of {len(digits)} significant digits is out of a Java long's range")
    return number


def semantic_path(path: str) -> None:
    """AOSP's path parse: ``apps/<pkg>/`` then a domain ``/`` (but for ``_manifest``, ``_meta``)."""
    if not path.startswith("apps/"):
        return
    rest = path[5:]
    if "/" not in rest:
        raise ValueError(f"illegal semantic path in {rest!r}")
    rest = rest.split("/", 1)[1]
    if rest not in ("_manifest", "_meta") and "/" not in rest:
        raise ValueError(f"illegal semantic path in non-manifest {rest!r}")


def restore_file_of(path: str) -> str:
    """What AOSP's restore compares with ``_manifest``/``_meta``: the path past ``apps/<pkg>/`` or
    ``shared/`` (``readTarHeaders``), else the path itself (never one of those: no package)."""
    if path.startswith("shared/"):
        return path[7:]
    if path.startswith("apps/") and "/" in path[5:]:
        return path[5:].split("/", 1)[1]
    return ""


class RestoreReader:
    """Headers and contents pulled forward from ``payload`` as restore pulls them.
    ``tap(offset, data)``, if given, sees every content and padding byte (not header blocks)."""

    def __init__(self, payload, tap=None):
        self._payload = payload
        self._tap = tap
        self.pos = 0
        self._left = 0  # content + padding of the current member not yet pulled
        self.head_bytes = b""  # the bytes pulled for the last header (from its offset)

    def pull(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end of the data)."""
        parts, want = [], n
        while want:
            chunk = self._payload.read(min(want, CHUNK))
            if not chunk:
                break
            parts.append(chunk)
            want -= len(chunk)
        data = b"".join(parts)
        self.pos += len(data)
        return data

    def _content(self, n: int) -> bytes:
        start = self.pos
        data = self.pull(n)
        if self._tap is not None and data:
            self._tap(start, data)
        return data

    def skip_rest(self) -> None:
        """Pull what is left of the current member's content and padding."""
        while self._left:
            walkclock.check()
            data = self._content(min(self._left, CHUNK))
            if not data:
                raise BackupReadError("BACKUP_TRUNCATED", f"truncated inside the tar stream after {self.pos} "
                                      "bytes of payload (a member declares more bytes than there are)")
            self._left -= len(data)

    def next_header(self) -> RestoreHeader:
        """The next file or directory, or :class:`RestoreStop` where restore ends."""
        self.skip_rest()
        at = self.pos
        block = self.head_bytes = self.pull(BLOCK)
        if not block:
            raise RestoreStop(at, "the end of the data", clean=True)
        if len(block) < BLOCK:  # truncation: tar's reading says it (BACKUP_TRUNCATED)
            raise RestoreStop(at, "unable to read a full header block", clean=True)
        try:
            header = self._parse(at, block)
        except ValueError as exc:
            raise RestoreStop(at, str(exc)) from None
        if header.type == "5":
            header.size = 0
        small = restore_file_of(header.path) in ("_manifest", "_meta")
        if small and header.size > MAX_SMALL_FILE:  # its bytes unread: tar reads on from this header
            raise RestoreStop(at, f"{header.path!r} of {header.size} bytes: restore refuses a _manifest or "
                              f"_meta over {MAX_SMALL_FILE} bytes (\"too big; corrupt?\") and ends there")
        self._left = header.size + (-header.size % BLOCK)
        return header

    def _parse(self, at: int, block: bytes) -> RestoreHeader:
        size = radix(block, 124, 12, 8)
        radix(block, 136, 12, 8)  # mtime and mode: parsed, so a non-digit stops restore
        radix(block, 100, 8, 8)
        prefix, name = text(block, 345, 155), text(block, 0, 100)
        path = f"{prefix}/{name}" if prefix and name else prefix or name
        raw, kind = block, block[156]
        if kind == ord("x"):
            size, path, raw = self._pax(block, size, path)
            kind = raw[-BLOCK + 156]
        if kind == 0:
            raise RestoreStop(at, "a header of type NUL (restore's end)", clean=True)
        if kind not in (ord("0"), ord("5")):
            raise ValueError(f"unknown entity type {chr(kind)!r}")
        semantic_path(path)
        return RestoreHeader(at, path, size, chr(kind), raw)

    def _pax(self, block: bytes, size: int, path: str) -> tuple[int, str, bytes]:
        if size > MAX_PAX:
            raise ValueError(f"pax header of {size} bytes (restore's limit {MAX_PAX})")
        whole = size + (-size % BLOCK)
        data = self.pull(whole) if whole else b""
        self.head_bytes += data
        if len(data) < whole:
            raise ValueError("unable to read the full pax header")
        records = pax_records(data, size) if size else None
        if records is None:
            raise ValueError("invalid pax data (a pax header of 0 bytes)")
        follow = self.pull(BLOCK)
        self.head_bytes += follow
        if len(follow) < BLOCK:
            raise ValueError("bad or missing header after a pax header")
        if "size" in records:
            size = _java_long(records["size"])
        path = records.get("path", path)
        if size < 0:
            raise ValueError(f"negative pax size {size}")
        return size, path, block + data + follow

    def content(self, header: RestoreHeader) -> io.BufferedReader:
        """The current member's ``size`` bytes, once, forward (with ``peek``)."""
        return io.BufferedReader(_Content(self, header), CHUNK)


class _Content(io.RawIOBase):
    """A member's bytes; a short read before ``size`` is ``BACKUP_TRUNCATED``."""

    def __init__(self, reader: RestoreReader, header: RestoreHeader):
        super().__init__()
        self._reader, self._header = reader, header
        self._todo = header.size

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self._todo)
        if n <= 0:
            return 0
        walkclock.check()
        data = self._reader._content(n)
        if len(data) < n:
            raise BackupReadError("BACKUP_TRUNCATED", f"truncated inside the tar stream, in member "
                                  f"{self._header.path!r}: {len(data)} of {n} bytes")
        self._reader._left -= len(data)
        self._todo -= len(data)
        buf[:len(data)] = data
        return len(data)


class RestoreSource:
    """What :meth:`adb_backup.AdbBackupReader._entry` reads a member's bytes from, for a member restore reads."""

    def __init__(self, reader: RestoreReader):
        self.reader = reader
        self.current: RestoreHeader | None = None

    def extractfile(self, info: tarfile.TarInfo):
        return self.reader.content(self.current)


def tar_info(header: RestoreHeader) -> tarfile.TarInfo:
    """A restore header as the ``TarInfo`` the member code reads (a regular file)."""
    info = tarfile.TarInfo(header.path)
    info.size, info.type = header.size, tarfile.REGTYPE
    return info


class RestOfPayload:
    """The payload from tar's cursor on, once restore stopped: the bytes restore already pulled at
    its stop (``kept``, from the stop's offset), then the rest, ``skip`` bytes dropped first."""

    def __init__(self, kept: bytes, payload, skip: int):
        self._kept, self._payload, self._skip = kept, payload, skip
        self.produced = 0

    def read(self, n: int = -1) -> bytes:
        while self._skip:
            if self._kept:
                drop = min(self._skip, len(self._kept))
                self._kept, self._skip = self._kept[drop:], self._skip - drop
                continue
            gone = self._payload.read(min(self._skip, CHUNK))
            if not gone:
                return b""
            self._skip -= len(gone)
        if self._kept:
            out = self._kept[:n] if n is not None and n >= 0 else self._kept
            self._kept = self._kept[len(out):]
        else:
            out = self._payload.read(n)
        self.produced += len(out)
        return out
