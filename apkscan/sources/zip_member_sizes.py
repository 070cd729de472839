"""A container member's sizes read as ``java.util.zip.ZipFile``, Python's ``zipfile`` and ``unzip`` read
them, where apkscan's reading (Android's, apksig's: :mod:`apkscan.apk.io.zip_entry`) differs (review 81).

A stored member (F2): Android and apksig take a stored entry's bytes at its uncompressed size; ``ZipFile``
(``ZipFile.getInputStream``: the compressed size of a stored entry), ``zipfile``, ``unzip`` and 7z extract
its compressed size. When the central record's two sizes differ, both readings are members: the
compressed-size one under the name plus :data:`CSIZE_ELEMENT`, each flagged :data:`STORED_SIZES`.

A deflated member (F4): Android refuses an entry that does not inflate to its declared size; ``ZipFile``
and ``unzip`` inflate to the deflate stream's end whatever was declared. A container's member is read
so, flagged :data:`INFLATED_SIZE` once its end shows the difference, the bytes past the declared size
charged to the input's inflation budget and held to its ratio rule (``CONTAINER_INFLATE_LIMIT``,
``CONTAINER_BOMB``). An APK's own entries are still read as Android reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apkscan.apk.io.zip_entry import ZipEntry
from apkscan.apk.io.zipreader import read_local_header
from apkscan.issues import ApkScanError, Issue, error, tamper
from apkscan.sources import zip_local
from apkscan.sources.interface import InputProblem, Member
from apkscan.sources.streams import IterStream

STORED_SIZES = "TAMPER_STORED_SIZES_DIFFER"
INFLATED_SIZE = "TAMPER_INFLATED_SIZE_DIFFERS"
CSIZE_ELEMENT = " [compressed size java.util.zip reads]"


def differs(entry: ZipEntry) -> bool:
    """A stored central record whose two sizes differ (a local-only entry is read as the stream reads it)."""
    return not entry.compressed and entry.compressed_size != entry.uncompressed_size and not zip_local.is_local(entry)


def stored_fact(entry: ZipEntry, shown: str) -> Issue:
    return tamper(STORED_SIZES, f"stored member {shown!r}: its central record says {entry.compressed_size} bytes "
                  f"compressed, {entry.uncompressed_size} uncompressed; Android and apksig read the uncompressed "
                  "size, java.util.zip.ZipFile (bundletool), Python's zipfile, unzip and 7z extract the compressed "
                  f"size: both are scanned, the second as {shown + CSIZE_ELEMENT!r}")


def flag_first(entry: ZipEntry, member: Member) -> list[Issue]:
    """The first reading's flags, with the fact when a second follows (a layout's member too: a layout
    reads the name's first reading, the walker the second after it, :meth:`ZipTree.earlier_walked`)."""
    if differs(entry):
        member.flags.append(stored_fact(entry, member.name))
    return member.flags


def csize_reading(reader: Any, entry: ZipEntry, shown: str, flags: list[Issue]) -> Iterator[Member | InputProblem]:
    """The stored member read at its compressed size (``flags``: the first reading's, less what it
    learnt of its own data), when the sizes differ; the data's start read again when the first
    reading failed (its uncompressed size past the file's end: ZipFile reads the compressed one)."""
    if not differs(entry):
        return
    arc, base = reader.archive_of(entry)
    name = shown + CSIZE_ELEMENT
    try:
        local = read_local_header(arc.source, entry, arc.cd_offset)
    except ApkScanError:
        return  # no local header there: the first reading's error says so
    start, size = local.data_offset, entry.compressed_size
    if start + size > arc.source.size:
        yield InputProblem(reader.chain + (name,), [error("ZIP_ENTRY_OUT_OF_RANGE", f"{name!r}: data ({start}+{size}) "
                                                          "runs past the end of the file")])
        return
    kept = [f for f in flags if f.code != STORED_SIZES] + [stored_fact(entry, shown)]
    yield Member(name, size, lambda: IterStream(arc.source.iter_range(start, size, 1 << 20)),
                 window=(reader.path, base + start, size), bundle=reader.bundle_key(entry.name), flags=kept,
                 data_key=(reader.token, base + start, False, size))


def to_end(reader: Any, arc: Any, entry: ZipEntry, flags: list[Issue]) -> Iterator[bytes]:
    """The deflated member inflated to its stream's end (:mod:`this module <zip_member_sizes>`); the
    declared size was charged, the rest is charged as it comes; flagged in ``flags`` (the member's,
    which the walk's app carries: a ZIP member is spooled whole before it is scanned) at its end."""
    produced, declared = 0, entry.uncompressed_size
    for chunk in arc.stream(entry, to_end=True):
        over = produced + len(chunk) - max(produced, declared)
        produced += len(chunk)
        if over > 0:
            reader.budget.charge(over)
            reader.budget.check_ratio(produced, entry.compressed_size)
        yield chunk
    if produced != declared:
        fact = tamper(INFLATED_SIZE, f"deflated member {entry.name!r}: its central record declares {declared} "
                      f"bytes, its deflate stream inflates to {produced}; Android refuses it, java.util.zip.ZipFile "
                      "and unzip read the stream to its end: read so")
        if fact not in flags:
            flags.append(fact)
