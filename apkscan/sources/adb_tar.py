"""``tarfile`` in stream mode with hostile-input bounds, and a member stream with stable errors.

``tarfile`` reads a pax or GNU long-name header's whole body into memory, follows chains
of extended headers recursively and, in stream mode, ends iteration *silently* on a
truncated or garbled header after the first one, or at the first zero block. :class:`BoundedTarInfo`
(via the documented ``_proc_member`` / ``fromtarfile`` hooks) caps extended-header sizes and
chains, refuses GNU sparse maps (Android never writes them; the plain tar reader's subclass
reads them), and records why iteration stopped so the reader can tell a clean end-of-archive
from truncation. Past an end-of-archive marker (a zero block) it reads on as ``tar -i`` does
(review 54 F3: ``cat a.tar b.tar``, or a lone zero block, hid every member after it): members
found there are marked (:func:`after_end`), and blocks there that are no header are counted
(:func:`trailing`), skipped as ``tar -i`` skips them. The plain tar reader (``tar_archive.py``)
uses the same :func:`open_stream`, :func:`stop_reason`, :func:`after_end`, :func:`trailing`,
:func:`link_or_special` and :func:`type_flag_facts`.
"""

from __future__ import annotations

import io
import tarfile

from apkscan.issues import tamper
from apkscan.sources import walkclock
from apkscan.sources.adb_stream import CHUNK, BackupReadError

MAX_EXTENDED_HEADER = 64 * 1024  # one pax record set or GNU long name; real ones are < 1 KiB
MAX_EXTENDED_CHAIN = 8  # extended headers in a row before a real member
MAX_GLOBAL_KEYS = 64
EXTENDED_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                  tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)


class BoundedTarInfo(tarfile.TarInfo):
    """TarInfo whose extended headers cannot eat memory or recurse without end."""

    @classmethod
    def fromtarfile(cls, tf):
        # Every header is a checkpoint of the walk's time budget: directory entries yield no
        # member, and Python before 3.11.10 parses a crafted 64 KiB pax body in seconds
        # (CVE-2024-6232's quadratic regex), so a tar of such headers held the walk for minutes.
        # So is every block read past an end-of-archive marker (zeros or junk), read here in one
        # loop rather than one tarfile.next() each.
        walkclock.check()
        depth = getattr(tf, "apkscan_depth", 0)
        if depth > MAX_EXTENDED_CHAIN:
            raise tarfile.InvalidHeaderError(f"more than {MAX_EXTENDED_CHAIN} extended headers in a row")
        tf.apkscan_depth = depth + 1
        try:
            while True:
                buf = tf.fileobj.read(tarfile.BLOCKSIZE)
                try:
                    obj = cls.frombuf(buf, tf.encoding, tf.errors)
                    obj.offset = tf.fileobj.tell() - tarfile.BLOCKSIZE
                    obj = obj._proc_member(tf)
                except tarfile.HeaderError as exc:
                    if _reads_on(tf, buf, exc, depth):
                        continue
                    return None  # the end of the archive (tarfile's next() returns None)
                if depth == 0 and getattr(tf, "apkscan_end", None) is not None:
                    tf.apkscan_after, tf.apkscan_end = tf.apkscan_end, None  # members again, past a marker
                return obj
        finally:
            tf.apkscan_depth = depth

    def _apply_pax_info(self, pax_headers, encoding, errors):
        """A pax ``size`` with leading zeros read as GNU tar reads it (``strtoumax``): tarfile's
        ``int()`` refuses more than 4,300 digits and then takes size 0 (review 83 F2: 5,000 zeros
        before 8663 made the member empty and the APK after it junk)."""
        size = pax_headers.get("size")
        if isinstance(size, str) and len(size) > 19 and size.isascii() and size.isdigit():
            pax_headers = {**pax_headers, "size": size.lstrip("0") or "0"}
        super()._apply_pax_info(pax_headers, encoding, errors)

    def _proc_member(self, tf):
        if self.type in EXTENDED_TYPES and self.size > MAX_EXTENDED_HEADER:
            raise tarfile.InvalidHeaderError(
                f"extended header of {self.size} bytes (limit {MAX_EXTENDED_HEADER})")
        if self.type == tarfile.XGLTYPE and len(tf.pax_headers) > MAX_GLOBAL_KEYS:
            raise tarfile.InvalidHeaderError("too many global pax keys")
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise tarfile.InvalidHeaderError("GNU sparse member (never written by Android)")
        return super()._proc_member(tf)

    def _proc_gnusparse_10(self, next, pax_headers, tf):  # noqa: A002 (tarfile's signature)
        raise tarfile.InvalidHeaderError("GNU sparse 1.0 member (never written by Android)")


def _reads_on(tf, buf: bytes, exc: tarfile.HeaderError, depth: int) -> bool:
    """After a block that is no header: True to read the next block as one (a zero block, and
    anything past an end-of-archive marker, as ``tar -i`` reads), False when the archive ends here.
    Anything but zeros or the end of the data after the last member is recorded
    (``apkscan_stop``); non-header bytes past a marker are counted (``apkscan_junk``)."""
    end = getattr(tf, "apkscan_end", None)
    if depth:  # inside an extended header's chain: tarfile makes it a ReadError for the reader
        tf.apkscan_stop = "truncated" if isinstance(exc, (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError)) \
            else f"invalid header: {exc}"
        raise exc
    if isinstance(exc, tarfile.EOFHeaderError):
        if end is None:
            tf.apkscan_end = tf.fileobj.tell() - tarfile.BLOCKSIZE  # what follows is read as tar -i reads it
        walkclock.check()
        return True
    if end is None:
        if isinstance(exc, (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError)):
            tf.apkscan_stop = "truncated"  # EOF where a header or the end-of-archive marker belongs
            raise exc  # tarfile: "empty file" at offset 0, else the end
        tf.apkscan_stop = f"invalid header: {exc}"
        if tf.offset == 0:
            raise tarfile.ReadError(str(exc)) from None  # not a tar at all
        return False  # a garbled header between members: the end, recorded
    if buf.strip(b"\0"):  # junk past the marker (a cut block too): counted, skipped as tar -i skips it
        if not getattr(tf, "apkscan_junk", 0):
            tf.apkscan_junk_at = tf.fileobj.tell() - len(buf)
        tf.apkscan_junk = getattr(tf, "apkscan_junk", 0) + len(buf)
    walkclock.check()
    return not isinstance(exc, (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError))


class PastEnd(tarfile.ReadError):
    """A read after the tar's data already ended: a member declared more bytes than there are."""


class TarFeed(io.RawIOBase):
    """What ``tarfile`` reads: every read a checkpoint of the walk's clock, and a read after the
    data has ended raises :class:`PastEnd`. ``tarfile`` skips a member by reading ``size`` bytes
    and does not stop at the end of the data: a header declaring 2^62 bytes (GNU base-256, or
    pax ``size=``) was ~10^13 empty reads, a hang no budget saw (review 61 F2). One empty read
    is the end (a header read there is the end of the archive); the next one is past it."""

    def __init__(self, raw):
        super().__init__()
        self._raw, self._ended = raw, False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        walkclock.check()
        if self._ended:
            raise PastEnd("unexpected end of data: a member declares more bytes than the archive holds")
        data = self._raw.read(size)
        if not data and size != 0:
            self._ended = True
        return data


def open_stream(payload, errors: str = "replace", tarinfo: type[tarfile.TarInfo] | None = None) -> tarfile.TarFile:
    """A ``r|`` TarFile over ``payload`` (through a :class:`TarFeed`); names decoded as UTF-8 with
    replacement (an adb backup's names are paths it parses: ``apps/<package>/...``) or, for a plain
    tar's member names, ``surrogateescape``: a byte that is no UTF-8 is kept and every output writes
    it ``\\xff``, as for a file name, so two members whose names differ only there are told apart
    (review 46 #8). ``tarinfo``: the plain tar reader's subclass (GNU sparse members read)."""
    return tarfile.open(fileobj=TarFeed(payload), mode="r|", tarinfo=tarinfo or BoundedTarInfo, bufsize=CHUNK,
                        encoding="utf-8", errors=errors)


def stop_reason(tf: tarfile.TarFile) -> str | None:
    """Why iteration ended, when it was not a clean end-of-archive marker (or the end of the data past one)."""
    return getattr(tf, "apkscan_stop", None)


def after_end(tf: tarfile.TarFile) -> int | None:
    """The offset of the end-of-archive marker the last member was found past (read as ``tar -i``
    reads it; ``tar`` without ``-i``, and Android's restore, stop there), or None."""
    return getattr(tf, "apkscan_after", None)


def trailing(tf: tarfile.TarFile) -> tuple[int, int] | None:
    """``(offset, bytes)`` of the blocks past an end-of-archive marker that were no header, or None."""
    junk = getattr(tf, "apkscan_junk", 0)
    return (tf.apkscan_junk_at, junk) if junk else None


def past_end_flag(tf: tarfile.TarFile) -> list:
    """The tamper fact for a member found past an end-of-archive marker (none for the others)."""
    at = after_end(tf)
    if at is None:
        return []
    return [tamper("TAMPER_TAR_PAST_END", f"found after a tar end-of-archive marker (zero block at offset {at}): "
                   "read as tar -i reads it; tar without -i, and Android's restore of an adb backup, stop before it")]


def tar_trailing_issue(tf: tarfile.TarFile):
    """The tamper fact for bytes past an end-of-archive marker that were no tar header, or None
    (``compressed.trailing_issue`` says the same of bytes after a compressed stream's last frame)."""
    junk = trailing(tf)
    if junk is None:
        return None
    return tamper("CONTAINER_TAR_TRAILING_DATA", f"{junk[1]} bytes after a tar end-of-archive marker, from offset "
                  f"{junk[0]}, are no tar header: skipped, as tar -i skips them")


def link_or_special(info: tarfile.TarInfo) -> bool:
    """A link, device or FIFO: never followed or opened (a member of an unknown type flag is none)."""
    return info.issym() or info.islnk() or info.ischr() or info.isblk() or info.isfifo()


def type_flag_facts(info: tarfile.TarInfo, after: str = "") -> list:
    """The tamper fact for a member whose type flag tarfile does not know, read as a regular file as
    GNU tar extracts it (review 54 F2); none for a regular file. ``after``: what the reader adds."""
    if info.isreg():
        return []
    return [tamper("TAMPER_TAR_MEMBER_TYPE", f"tar type flag {info.type!r} is no known type: read as a regular "
                   f"file, as GNU tar extracts it{after}")]


class MemberStream(io.RawIOBase):
    """One tar member's bytes; tarfile's errors become :class:`BackupReadError` with a code."""

    def __init__(self, inner, name: str):
        super().__init__()
        self._inner = inner
        self._name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        try:
            return self._inner.read(size)
        except BackupReadError:
            raise
        except (tarfile.ReadError, tarfile.StreamError) as exc:
            raise BackupReadError("BACKUP_TRUNCATED", f"truncated inside the tar stream, in member "
                                  f"{self._name!r}: {exc}") from None

    def readall(self) -> bytes:
        parts = []
        while chunk := self.read(io.DEFAULT_BUFFER_SIZE * 8):
            parts.append(chunk)
        return b"".join(parts)
