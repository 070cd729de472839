"""``tarfile`` in stream mode with hostile-input bounds, and a member stream with stable errors.

``tarfile`` reads a pax or GNU long-name header's whole body into memory, follows chains
of extended headers recursively and, in stream mode, ends iteration *silently* on a
truncated or garbled header after the first one. :class:`BoundedTarInfo` (via the
documented ``_proc_member`` / ``fromtarfile`` hooks) caps extended-header sizes and
chains, refuses GNU sparse maps (Android never writes them), and records why iteration
stopped so the reader can tell a clean end-of-archive from truncation. The plain tar
reader (``tar_archive.py``) uses the same :func:`open_stream` and :func:`stop_reason`.
"""

from __future__ import annotations

import io
import tarfile

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
        walkclock.check()
        depth = getattr(tf, "apkscan_depth", 0)
        if depth > MAX_EXTENDED_CHAIN:
            raise tarfile.InvalidHeaderError(f"more than {MAX_EXTENDED_CHAIN} extended headers in a row")
        tf.apkscan_depth = depth + 1
        try:
            return super().fromtarfile(tf)
        except (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError):
            tf.apkscan_stop = "truncated"
            raise
        except tarfile.InvalidHeaderError as exc:
            tf.apkscan_stop = f"invalid header: {exc}"
            raise
        finally:
            tf.apkscan_depth = depth

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


def open_stream(payload, errors: str = "replace") -> tarfile.TarFile:
    """A ``r|`` TarFile over ``payload``; names decoded as UTF-8 with replacement (an adb backup's
    names are paths it parses: ``apps/<package>/...``) or, for a plain tar's member names,
    ``surrogateescape``: a byte that is no UTF-8 is kept and every output writes it ``\\xff``, as for
    a file name, so two members whose names differ only there are told apart (review 46 #8)."""
    return tarfile.open(fileobj=payload, mode="r|", tarinfo=BoundedTarInfo, bufsize=CHUNK,
                        encoding="utf-8", errors=errors)


def stop_reason(tf: tarfile.TarFile) -> str | None:
    """Why iteration ended, when it was not a clean end-of-archive marker."""
    return getattr(tf, "apkscan_stop", None)


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
