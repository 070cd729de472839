"""The walker's side of a ZIP read more than one way (:mod:`zip_readings` says what each reading is).

Why apart from the walker: a ZIP may open onto another central directory for another reader, and
each such reading is walked as its own app or container, flagged, beside the reading apksig and
libziparchive make. Two are known: the ZIP64 end record's (review 59 F1; ZIP64-aware
libziparchive) and ``java.util.zip.ZipFile``'s, which takes the directory where it lies before the
end record and moves every offset by the difference (review 78 F3; bundletool, SAI and AppManager
read bundles so, as does Python's ``zipfile``). A ZIP that opens only ZipFile's way is read that way
alone (:func:`shifted`). A container's end record may be another for them too (review 81 F1,
:mod:`zip_ends_other`): that reading is walked the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apkscan.apk.io.bytesource import ByteSource
from apkscan.sources.interface import InputProblem, Item
from apkscan.sources.zip_ends_other import ELEMENTS, found_in, other_readings
from apkscan.sources.zip_local import view
from apkscan.sources.zip_readings import (CLASSIC, SECOND, TWO_READINGS, ZIP64, ZIP64_READING, ZIPFILE_READING,
                                          second_reading, shifted_window, two_readings, zip64_named, zipfile_reading)


class Others:
    """A ZIP's readings beside the classic one, opened while the classic one is walked: the ZIP64
    reading (``second``) or ZipFile's (``other``: its archive, window and fact); a container's readings
    from another end record (``ends``: :func:`zip_ends_other.other_readings`); closed if unread.
    ``container``: the classic reading is no APK, or the name is one installers open as an archive
    (an APK's own reading stays apksig's alone)."""

    __slots__ = ("second", "other", "ends")

    def __init__(self, b: Any, archive: Any, source: Any, window: tuple[str, int, int], container: bool = False):
        self.second = self.other = None
        self.ends: list[tuple] = []
        if b.reading is not None:
            return  # a reading of its own: nothing more to find
        if archive.other_reading if archive is not None else zip64_named(source):
            self.second = second_reading(window)
        if self.second is None and archive is not None:
            self.other = zipfile_reading(archive, window)
        if archive is not None and container and b.chain[-1] not in ELEMENTS.values():
            self.ends = other_readings(window)

    def __bool__(self) -> bool:
        return self.second is not None or self.other is not None or bool(self.ends)

    def flagged(self, b: Any) -> Any:
        """The classic reading's blob: with the ZIP64 reading, it says it is the classic one."""
        from dataclasses import replace

        return replace(b, flags=[*b.flags, two_readings(CLASSIC)]) if self.second is not None else b

    def walk(self, walker: Any, b: Any, depth: int, window: tuple[str, int, int], walked: bool) -> Iterator[Item]:
        """Each other reading, walked like any ZIP under its own chain element (a distinct app in
        every report), never a custody record. The ZIP64 one: apksig verifies the classic
        directory, a ZIP64-aware reader may install the other (a second reading that does not parse
        is none, said by the first's ``TAMPER_ZIP64``). ZipFile's: the fact said for the container too.
        ``walked``: the bytes' local headers were followed already (:mod:`zip_local`), not again."""
        from apkscan.sources.walker import Blob

        second, other = self.second, self.other
        self.second = self.other = None
        if second is not None:
            flags = [f for f in b.flags if f.code != TWO_READINGS] + [two_readings(SECOND)]
            yield from walker._zip(Blob(b.chain + (ZIP64_READING,), b.where, b.head, window=window,
                                        flags=flags, given=b.given, reading=ZIP64), depth, second, walked=walked)  # closes it
        if other is not None:
            archive, moved, fact = other
            yield InputProblem(b.chain, [fact])
            yield from walker._zip(Blob(b.chain + (ZIPFILE_READING,), b.where, b.head, window=moved,
                                        flags=[*b.flags, fact], given=b.given), depth, archive, walked=walked)  # closes it
        while self.ends:  # each taken off before its walk closes it; close() closes those left
            archive, moved, fact, element = self.ends.pop(0)
            yield InputProblem(b.chain, [fact])
            yield from walker._zip(Blob(b.chain + (element,), b.where, b.head, window=moved, flags=[*b.flags, fact],
                                        given=b.given), depth, archive, walked=walked)  # closes it

    def close(self) -> None:
        """Close what the walk did not read (it stopped first)."""
        for unread in (self.second, self.other[0] if self.other is not None else None, *(e[0] for e in self.ends)):
            if unread is not None:
                unread.source.close()
        self.second = self.other = None
        self.ends = []


def shifted(walker: Any, b: Any, window: tuple[str, int, int], depth: int) -> Iterator[Item]:
    """A ZIP that opens only with its offsets moved (bytes put before it), read as ZipFile reads
    it (:func:`zip_readings.shifted_window`), or only from an end record other readers pick
    (:func:`zip_ends_other.other_readings`: none ends the file), the fact said for the container;
    returns False when it does not open so either. Its custody record is the whole file's."""
    from apkscan.sources.walker import Blob

    found = found_in(window)  # one read of the tail: most bytes met here hold no end record at all
    if found is None or all(at is None for at in found.values()):
        return False
    moved = shifted_window(window) if found["apksig"] is not None else None
    others = [] if moved is not None else other_readings(window, found)
    if moved is None and not others:
        return False
    yield from walker._custody(b, "zip")
    source = ByteSource(*window)  # a streaming installer reads from the first byte (review 80 F1)
    try:
        if moved is not None:
            yield InputProblem(b.chain, [moved[1]])  # the container's own fact (its members carry none)
            yield from walker._zip(Blob(b.chain, b.where, b.head, window=moved[0], bundle=b.bundle, flags=b.flags,
                                        given=b.given), depth, origin=(view(source), window[1], moved[0][1] - window[1]))
        walked = False
        while others:  # each taken off before its walk closes it
            archive, place, fact, element = others.pop(0)
            yield InputProblem(b.chain, [fact])
            yield from walker._zip(Blob(b.chain + (element,), b.where, b.head, window=place, bundle=b.bundle,
                                        flags=[*b.flags, fact], given=b.given), depth, archive, walked=walked,
                                   origin=None if walked else (view(source), window[1], place[1] - window[1]))
            walked = True
    finally:
        source.close()
        for archive, *_rest in others:
            archive.source.close()
    return True
