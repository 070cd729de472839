"""A data-named file read once from a stream (an adb backup's member): does it hold an APK, decided
as it passes, nothing spooled? Its first bytes kept, so what holds one is replayed to the walker
(:mod:`adb_backup`); one found only past them is said, never a silent skip.
"""

from __future__ import annotations

from apkscan.sources import data_zip, detect

STREAM_APK = "apk"  # a manifest named within the kept bytes: replay them, then the rest
STREAM_LATE = "late"  # a manifest named only past them: those bytes are gone
STREAM_DATA = "data"  # no manifest named anywhere: what its name says


def streamed_zip_look(fh, keep: int) -> tuple[str, bytes]:
    """Is a ZIP read once from a stream (no seeking back: an adb backup's member) an APK, without spooling it?

    The stream is read as it passes, looking for a local header or a central-directory record
    naming ``AndroidManifest.xml`` (Android reads the directory: a ZIP whose directory names none is
    no APK, whatever its local headers say) or an entry named like an APK or a bundle of them (an
    XAPK, a ZIP of APKs: walked, so the APK inside is scanned). At most ``keep`` bytes (plus one read) are kept in
    memory. Returns (:data:`STREAM_APK`, the bytes read) when a name shows within them: the caller
    replays them before the rest, reading no further here; (:data:`STREAM_LATE`, b"") when one
    shows only past them (read to there; the caller reports it, it cannot be scanned any more);
    (:data:`STREAM_DATA`, b"") when none shows to the end. Linear in the bytes, one read of 1 MiB at a time."""
    read, kept = _keeping(fh, keep)
    if not data_zip.holds_apk(read, detect.stream_names, detect.NAME_SPAN):
        return STREAM_DATA, b""
    return (STREAM_APK, kept()) if kept() is not None else (STREAM_LATE, b"")


def streamed_layer_look(fh, keep: int) -> tuple[str, str | None, bytes]:
    """:func:`streamed_zip_look` for a stream of any other head (a gzip, a tar, junk): followed as the
    walker opens it (:func:`data_zip.stream_look`). Returns (:data:`STREAM_APK`, :data:`STREAM_LATE` or
    :data:`STREAM_DATA`; ``"content"`` or ``"end"``: by what the look found it; the bytes read, to replay)."""
    read, kept = _keeping(fh, keep)
    found = data_zip.stream_look(read, detect.stream_names, detect.NAME_SPAN)
    if found is None:
        return STREAM_DATA, None, b""
    return (STREAM_APK, found, kept()) if kept() is not None else (STREAM_LATE, found, b"")


def _keeping(fh, keep: int):
    """``fh.read`` keeping what it read while that is at most ``keep`` bytes (plus one read), and the
    bytes kept (None once more was read)."""
    kept: list[bytes] | None = []
    got = 0

    def read(n: int) -> bytes:
        nonlocal kept, got
        if kept is not None and got >= keep:
            kept = None
        chunk = fh.read(n)
        if kept is not None:
            kept.append(chunk)
        got += len(chunk)
        return chunk

    return read, lambda: b"".join(kept) if kept is not None else None
