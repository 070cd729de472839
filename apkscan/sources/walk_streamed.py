"""The walker's side of a ZIP read as an APK (or not at all) that a streaming installer reads as a bundle.

Why apart from the walker: :func:`apkscan.sources.zip_local.walk` runs for every container, but a
ZIP whose central directory makes it an APK is handed to ``identify`` and never walked as one.
SAI opens a file named ``.apks``, ``.xapk``, ``.apkm`` or ``.zip`` as an archive by its name
(``DefaultUriMessResolver.isKnownArchiveExtension``) and installs every ``*.apk`` entry
``ZipInputStream`` reads from it, whatever its central directory says (review 80 F2). Bytes that
start with a local header but have no usable central directory (no end record, a corrupt
directory, one out of range) open for no ``ZipFile`` reader, yet ``ZipInputStream`` reads their
entries all the same (review 80 F6). For both, the local headers are followed and the entries no
central record describes are walked as members, flagged ``TAMPER_CONTAINER_LOCAL_ONLY_ENTRY``,
beside the APK (or the error) ``identify`` gives. An APK under any other name (``.apk``, ``.bin``,
none) is walked so when its central directory does not explain every byte the stream reaches
(:mod:`apkscan.sources.zip_cover`, review 81 F3: SAI reads it once it is renamed): the walk's cost is
never paid for an ordinary APK, whose entries meet end to end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apkscan.apk.io.zipreader import LFH_SIG
from apkscan.sources import detect, zip_cover, zip_local
from apkscan.sources.interface import Item

ARCHIVE_NAMES = (".apks", ".xapk", ".apkm", ".zip")  # the names SAI opens as archives, streamed


def archive_named(chain: tuple[str, ...]) -> bool:
    return chain[-1].lower().endswith(ARCHIVE_NAMES)


def local_walk(b: Any, archive: Any, source: Any, base: int, second: Any, budget: Any,
               origin: Any, room: int | None = None) -> zip_local.Walk | None:
    """The local walk of a ZIP the walker reads as an APK (``archive``) or cannot open (None, over
    ``source``, which starts at ``base`` in its file), when it found what to say: None when no
    streaming installer reads more than its directory lists (not named as an archive and every
    byte the stream reaches explained by it, or its bytes start with no local header), when it is
    a reading of its own (walked in the first), or when all was described. ``room``: as
    :func:`zip_local.walk`'s."""
    if b.reading is not None:
        return None
    if archive is not None:
        streamed = archive_named(b.chain) or zip_cover.uncovered(archive, second, origin)
        local = zip_local.walk(archive, budget, second, origin=origin, room=room) if streamed else None
    elif source.size < 4 or int.from_bytes(source.read(0, 4), "little") != LFH_SIG:
        return None
    else:
        local = zip_local.walk(None, budget, origin=(zip_local.view(source), base, 0), room=room)
        if not archive_named(b.chain) and detect.zip_kind([e.name for e in local.entries]) == detect.APK:
            return None  # an APK's own entries, its directory lost: identify says why it does not install
    return local if local is not None and (local.entries or local.problems or local.nested) else None


def members(walker: Any, archive: Any, local: zip_local.Walk, window: tuple[str, int], chain: tuple[str, ...],
            depth: int, nested: list) -> Iterator[Item]:
    """The entries only the local headers give, walked as a container's members (a split bundle's
    when their names make one), then the walk's facts. ``nested``: the APK's entries walked as
    containers of their own (:func:`detect.nested_members`): a ZIP stored in one of them has its
    entries scanned there, not again here (:mod:`zip_nested`)."""
    from apkscan.sources.bundles import BundleReader
    from apkscan.sources.zip_archive import ZipReader

    if depth >= walker.ctx.options.max_depth:
        yield walker._too_deep(chain)
        return
    kind = detect.zip_kind([e.name for e in local.entries])
    base = archive if archive is not None else local.origin
    if kind in detect.BUNDLE_KINDS:
        reader = BundleReader(base, window, chain, walker.ctx.budget, kind=kind)
    else:
        reader = ZipReader(base, window, chain, walker.ctx.budget)
    reader.local = local
    try:
        walked = {id(e) for e in nested}
        yield from walker._aside(reader.local_items(central=False, walks=lambda e: id(e) in walked), chain, depth)
    finally:
        walker.ctx.walked.pop(reader.token, None)
