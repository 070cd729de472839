"""A tar archive, streamed (``r|``): members in order, each readable once.

Only regular files become members. Links, devices and FIFOs are never followed or opened:
they are counted as skipped with a tamper-like reason (a tar that points outside itself is
an attack on extractors). Names are display strings; an absolute name or one with ``..``
is shown as it is and flagged on whatever is found in it. A truncated or corrupt tar is one
error for the archive after the members read so far.

Headers are read with the adb path's :class:`~apkscan.sources.adb_tar.BoundedTarInfo`:
extended headers (pax, GNU long names) are capped at 64 KiB, and ``tarfile``'s silent stop
on a bad header after the first member is recorded, so anything but a clean end-of-archive
marker is ``CONTAINER_TAR_CORRUPT`` (members hidden behind a garbled header are not lost
without a word).
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from apkscan.issues import error, tamper
from apkscan.sources.adb_tar import open_stream, stop_reason
from apkscan.sources.interface import InputProblem, Member, RecordedApp, Skipped

LINK_REASON = "tar link or special file (symlink, hardlink, device, FIFO): not followed"


class TarReader:
    kind = "tar"

    def __init__(self, stream: BinaryIO, chain: tuple[str, ...]):
        self.stream, self.chain = stream, chain

    def entries(self) -> Iterator[Member | RecordedApp | InputProblem | Skipped]:
        try:
            tf = open_stream(self.stream, "surrogateescape")
        except (tarfile.TarError, EOFError, OSError) as exc:
            yield InputProblem(self.chain, [error("CONTAINER_TAR_CORRUPT", f"not a readable tar archive: {exc}")])
            return
        try:
            while True:
                info = tf.next()
                tf.members = []  # streamed: do not keep every header of a huge archive
                if info is None:
                    break
                yield from self._entry(tf, info)
        except (tarfile.TarError, EOFError, OSError, UnicodeError) as exc:
            yield InputProblem(self.chain, [error("CONTAINER_TAR_CORRUPT", f"tar archive is truncated or corrupt: {exc}")])
            return
        stop = stop_reason(tf)
        if stop:
            yield InputProblem(self.chain, [error("CONTAINER_TAR_CORRUPT", f"tar archive is truncated or corrupt: "
                                                  f"{stop} (members after it, if any, were not read)")])

    def _entry(self, tf: tarfile.TarFile, info: tarfile.TarInfo) -> Iterator[Member | Skipped]:
        name = info.name
        if info.isdir():
            return
        if not info.isreg():
            yield Skipped(self.chain, LINK_REASON, 1, [name])
            return
        flags = [tamper("TAMPER_MEMBER_NAME", f"member name {name!r} is absolute or has '..'; shown, never used as a path")] \
            if name.startswith("/") or ".." in name.split("/") else []
        yield Member(name, info.size, lambda: tf.extractfile(info), flags=flags)
