"""One APK file in, one ``ApkIdentity`` out: the per-input error boundary.

Whatever the bytes are, ``identify`` returns an identity: problems become ``Issue``s
with stable codes in ``identity.errors`` and the caller's batch goes on. Only the
manifest, resources.arsc and signature entries are extracted, each under a size cap;
the rest of the file is streamed once through hashes.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass

from apkscan.apk.io.bytesource import ByteSource
from apkscan.apk.io.readonly import CHANGED
from apkscan.apk.manifest.android_manifest import label_ambiguity, read_manifest
from apkscan.apk.manifest.arsc_android import Uncut, without_unknown_chunks
from apkscan.apk.manifest.package_id import ambiguity
from apkscan.apk.manifest_records import add_other_records, first_exact, records as manifest_records
from apkscan.apk.model import ApkIdentity, FileFacts, ManifestInfo
from apkscan.apk.signing.digests import WholeFile
from apkscan.apk.signing.lanes import read_once
from apkscan.apk.signing.verifier import MAX_SDK, verify
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.issues import ApkScanError, Issue, LimitExceeded, error, tamper, unique

MAX_MANIFEST = 32 << 20
MAX_ARSC = 32 << 20  # the largest real apps stay well below; a bomb gets no further
MAX_ARSC_STREAM = 256 << 20  # a table declaring more than MAX_ARSC is streamed (not held) up to this
DEFAULT_TIMEOUT = 300.0  # seconds per input; a 1 GiB APK needs a few


def identify(
    path: str | os.PathLike[str],
    *,
    min_sdk: int | None = None,
    max_sdk: int = MAX_SDK,
    idsig: str | os.PathLike[str] | FoundBeside | None | bool = True,
    display_path: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    offset: int = 0,
    length: int | None = None,
    hashes: tuple[str, ...] = ("sha256",),
    quick: bool = False,
    known_sha256: str | None = None,
    zip64: bool = False,
    expect: os.stat_result | None = None,
) -> ApkIdentity:
    """Read ``path`` like Android and verify it like apksigner; never raises.

    ``idsig=True`` looks for ``<path>.idsig`` beside the APK (v4: reported, never deciding the APK's
    verdict; :class:`FoundBeside` names such a file); a path uses that file as apksigner's
    ``--v4-signature-file`` does (a v4 file that cannot be read, or whose signers disagree with v2/v3,
    fails the APK); ``False``/``None`` skips v4. ``timeout`` bounds the wall time spent on this input.
    ``offset``/``length`` read a window of ``path`` (an APK stored inside a ZIP) as the whole APK;
    no ``.idsig`` is looked for then (the file beside it belongs to the container).
    ``hashes``: whole-file digests to report; SHA-256 always, "sha1"/"md5" when listed.
    ``quick``: triage; signatures and certificates only, the file is neither hashed nor its
    content digests checked (``completeness`` says so) and it is never "verified".
    ``known_sha256``: the SHA-256 of exactly the bytes this call reads (the window), computed before
    (the scan store's look-up) and not computed again: only for a caller that can prove the bytes
    did not change in between (:mod:`apkscan.batch.store`). ``zip64``: read the central directory
    the ZIP64 end record names (the second reading, :meth:`ZipArchive.open`), not apksig's.
    ``expect``: the stat ``path`` had when its custody was taken (an outermost file read by a
    worker): other bytes, or bytes changed while read, are ``INPUT_CHANGED_DURING_SCAN`` and no app.
    """
    path = os.fspath(path)
    identity = ApkIdentity(path=display_path or path)
    known = _sha256_hex(known_sha256)
    if length is not None and idsig is True:
        idsig = False
    source = _opened(path, offset, length, expect, identity)
    if source is None:
        return identity
    with source:
        if timeout is not None:
            source.deadline = time.monotonic() + timeout
        _guarded(source, identity, lambda: _identify_open(source, identity, min_sdk, max_sdk, _idsig_path(path, idsig),
                                                          (tuple(hashes), known), quick, zip64))
        _note_expired(source, identity)
        if identity.errors:
            identity.completeness.stopped(identity.errors[0].code)
        source.deadline = None  # file facts are owed even for inputs that ran out of time
        if identity.file is None and not quick:
            identity.file = _hash_file(source, identity, tuple(hashes), known)
            if identity.file is not None:
                identity.completeness.done("file_hashes")
        _verified(source, identity)
    return identity


def _opened(path: str, offset: int, length: int | None, expect: os.stat_result | None,
            identity: ApkIdentity) -> ByteSource | None:
    """The input opened for reading, or None with its error on ``identity`` (a file changed or not
    a regular file keeps its own code; anything else cannot be opened: ``INPUT_UNREADABLE``)."""
    try:
        return ByteSource(path, offset, length, expect=expect)
    except OSError as exc:
        identity.errors.append(error("INPUT_UNREADABLE", f"cannot open: {exc.strerror or exc}"))
    except ApkScanError as exc:
        keep = exc.code in (CHANGED, "INPUT_NOT_A_FILE")
        identity.errors.append(exc.to_issue() if keep else error("INPUT_UNREADABLE", exc.message))
    return None


def _verified(source: ByteSource, identity: ApkIdentity) -> None:
    """The file read is still the one custody names, unchanged after every read (else its error)."""
    try:
        source.verify()
    except ApkScanError as exc:
        identity.errors.append(exc.to_issue())
    except OSError as exc:
        identity.errors.append(error("INPUT_UNREADABLE", f"read failed: {exc.strerror or exc}"))


def _guarded(source: ByteSource, identity: ApkIdentity, read) -> None:
    """The per-input boundary: whatever ``read`` raises is an issue of ``identity``, never a crash
    of the batch."""
    try:
        read()
    except ApkScanError as exc:
        identity.errors.append(_name_container(source, exc).to_issue())
    except MemoryError:
        identity.errors.append(error("INPUT_LIMIT_EXCEEDED", "ran out of memory reading this input"))
    except OSError as exc:
        identity.errors.append(error("INPUT_UNREADABLE", f"read failed: {exc.strerror or exc}"))
    except Exception as exc:  # noqa: BLE001 - the per-input boundary: report, never crash a batch
        identity.errors.append(error("INTERNAL_ERROR", f"unexpected {type(exc).__name__}: {exc}"))


def _note_expired(source: ByteSource, identity: ApkIdentity) -> None:
    """A reader that treats its own failures as "this scheme does not verify" (v1's streaming,
    resources.arsc, the stamp) may also have caught the time budget's error: the input was still
    read only in part and must say so (an input error; never stored as a whole reading)."""
    if not source.expired or any(e.code == "INPUT_TIMEOUT" for e in identity.errors):
        return
    identity.errors.append(error("INPUT_TIMEOUT", "time budget for this input exhausted; what was read before is reported"))
    for part in ("signatures", "content_digests"):  # a verdict reached on part of the reads
        if identity.completeness.has(part):
            identity.completeness.state[part] = "not read"


def _note_limits(zip: ZipArchive, identity: ApkIdentity) -> None:
    """A cap hit inside signature verification (MANIFEST.MF or .SF over its size or attribute
    bound, ...): the verifier reports "v1 not verified", but the input was read only in part, so
    it is an input error too and the signatures are not claimed read (no key claim is made)."""
    if not zip.limits_hit:
        return
    identity.errors.extend(zip.limits_hit)
    for part in ("signatures", "content_digests"):
        if identity.completeness.state.get(part) != "not checked":
            identity.completeness.state[part] = "not read"
            identity.completeness.why[part] = zip.limits_hit[0].code


def _identify_open(source: ByteSource, identity: ApkIdentity, min_sdk, max_sdk, idsig_path, hashes, quick,
                   zip64: bool = False) -> None:
    """Fill ``identity`` stage by stage; whatever raises, the ZIP's tamper facts so far are kept."""
    zip = ZipArchive.open(source, zip64)
    if _bundle(zip, identity, quick):
        return
    outcome = None
    try:
        identity.manifest, axml = _read_manifest(zip, identity)
        identity.errors.extend(i for i in identity.manifest.errors if i.code.startswith("INPUT_"))  # read in part
        if identity.manifest.package:
            identity.completeness.done("manifest")
        elif identity.manifest.package_readings:  # Android reads none, other parsers do: matched, and an input error
            identity.completeness.done("manifest")
            identity.errors.append(error("INPUT_PACKAGE_ONLY_READ_BY_OTHERS", "Android reads no package from "
                                         "AndroidManifest.xml; the app is matched on what other readings give ("
                                         + ", ".join(repr(r.value) for r in identity.manifest.package_readings[:4])
                                         + ")"))
        else:  # no package came out of it: nothing to match, not a scanned app
            if not identity.manifest.errors:
                identity.manifest.errors.append(error("MANIFEST_NO_PACKAGE", "AndroidManifest.xml names no package"))
            identity.completeness.why["manifest"] = identity.manifest.errors[0].code
        outcome = verify(zip, identity.manifest, axml, min_sdk=min_sdk, max_sdk=max_sdk, idsig_path=idsig_path[0],
                         idsig_given=idsig_path[1], file_hashes=hashes[0], quick=quick, known_sha256=hashes[1])
        identity.file = outcome.file
        identity.verification = outcome.verification
        identity.completeness.done("signatures")
        if any(i.code == "INPUT_BAD_SDK_RANGE" for i in outcome.verification.errors):
            identity.completeness.skip("signatures", "INPUT_BAD_SDK_RANGE")  # read, never checked: apksigner refuses the range
        for part in ("content_digests", "file_hashes"):
            if quick:
                identity.completeness.skip(part, "--quick")
            else:
                identity.completeness.done(part)
        _note_limits(zip, identity)
    finally:
        records = len(manifest_records(zip))
        ambiguous = [a for a in (ambiguity(identity.manifest, records), label_ambiguity(identity.manifest))
                     if a is not None] if identity.manifest else []
        identity.tamper = unique(identity.tamper + zip.tamper + (outcome.tamper if outcome else []) + ambiguous)


def _bundle(zip: ZipArchive, identity: ApkIdentity, quick: bool) -> bool:
    """An app bundle (no AndroidManifest.xml at the root, a bundle's module manifests): read as one
    (:mod:`apkscan.apk.bundle_read`); True when it was."""
    from apkscan.apk.bundle import is_bundle

    names = [e.name for e in zip.entries]
    if zip.entry("AndroidManifest.xml") is not None or not is_bundle(names):
        return False
    from apkscan.apk.bundle_read import read_bundle

    try:
        read_bundle(zip, identity)
        if quick:  # not hashed (as an APK under --quick): said, not left without a why
            identity.completeness.skip("file_hashes", "--quick")
    finally:
        identity.tamper = unique(identity.tamper + zip.tamper)
    return True


def _read_manifest(zip: ZipArchive, identity: ApkIdentity) -> tuple[ManifestInfo, bytes | None]:
    """The manifest facts and its raw bytes (the verifier reads target SDK levels from them): the
    first record named AndroidManifest.xml, as apksig reads it; the package readings of any other
    record a reader takes for it are added (:mod:`apkscan.apk.manifest_records`)."""
    records = manifest_records(zip)
    first = first_exact(records)
    axml = zip.read(first, MAX_MANIFEST) if first is not None else None
    arsc, unread = _read_resources(zip, identity)
    info = read_manifest(axml, arsc, arsc_unread=unread)
    identity.errors.extend(add_other_records(zip, records, info, MAX_MANIFEST, axml))
    return info, axml


def _read_resources(zip: ZipArchive, identity: ApkIdentity) -> tuple[bytes | None, Issue | None]:
    """resources.arsc's bytes, or why it was not read. A table present but not read (over the
    cap, a bomb, an entry that does not inflate) is an input error and the ``resources`` part
    stays ``not read``: the label it holds was not resolved, so the app is partly scanned (an
    adversary padding the table must not turn a label finding into a quiet ``allowed``)."""
    arsc_entry = zip.entry("resources.arsc")
    if arsc_entry is None:
        identity.completeness.done("resources")
        return None, None
    try:
        if arsc_entry.uncompressed_size <= MAX_ARSC:
            arsc = zip.read(arsc_entry, MAX_ARSC)
        else:
            arsc = _cut_down(zip, arsc_entry, identity)
    except ApkScanError as exc:
        issue = exc.to_issue()
        identity.completeness.why["resources"] = issue.code
        if issue.code != "INPUT_TIMEOUT":  # the budget's own error is listed once, by _note_expired
            identity.errors.append(issue)
        return None, issue
    identity.completeness.done("resources")
    return arsc, None


def _cut_down(zip: ZipArchive, entry, identity: ApkIdentity) -> bytes:
    """A table declaring more than MAX_ARSC, streamed once (up to MAX_ARSC_STREAM) and kept
    without its top-level chunks of unknown type, which Android skips: padding them past the cap
    (aapt still shows the label) hides nothing. A tamper fact says how much was skipped. When
    the table cannot be cut down so (the string pool and packages alone over MAX_ARSC, ...), it is
    not read: the cap's error, with the reason."""
    size = entry.uncompressed_size
    if size > MAX_ARSC_STREAM:
        why = f"it is over the {MAX_ARSC_STREAM} bytes streamed to cut it down"
    else:
        try:
            table = without_unknown_chunks(zip.stream(entry, max_size=MAX_ARSC_STREAM), MAX_ARSC)
        except Uncut as exc:
            why = str(exc)
        else:
            identity.tamper.append(tamper("TAMPER_ARSC_UNKNOWN_CHUNKS", f"resources.arsc declares {size} bytes; its "
                                          f"string pool and packages take {len(table)}, the other {size - len(table)} "
                                          "are top-level chunks Android skips (of another type, or string pools after "
                                          "the first) or bytes after the table (read without them, as Android reads it)"))
            return table
    raise LimitExceeded("ZIP_ENTRY_TOO_LARGE", f"'resources.arsc' declares {size} bytes, over the {MAX_ARSC}-byte "
                        f"limit, and it cannot be read without the chunks Android skips: {why}")


# Magic numbers of containers users hand us that are not APKs (container readers are
# a separate pipeline stage; until one claims the file, say what it is).
_CONTAINER_MAGIC = (
    (0, b"ANDROID BACKUP\n", "an adb backup (.ab)"),
    (257, b"ustar", "a tar archive"),
    (0, b"\x1f\x8b", "a gzip stream"),
    (0, b"BZh", "a bzip2 stream"),
    (0, b"\xfd7zXZ\x00", "an xz stream"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (0, b"\x28\xb5\x2f\xfd", "a zstd stream"),
)


def _name_container(source: ByteSource, exc: ApkScanError) -> ApkScanError:
    """Turn "not a ZIP" into "this is a tar/backup/... container" when the magic says so."""
    if exc.code != "ZIP_EOCD_NOT_FOUND":
        return exc
    try:
        head = source.read(0, min(source.size, 512))
    except ApkScanError:
        return exc
    for offset, magic, what in _CONTAINER_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return ApkScanError("INPUT_UNSUPPORTED_CONTAINER", f"not an APK: this is {what}, which this reader does not open")
    return exc


@dataclass(frozen=True, slots=True)
class FoundBeside:
    """A v4 file found beside the APK by a caller that reads the APK under another name (the scan
    store, through a descriptor): like ``idsig=True``, it decides nothing but v4."""

    path: str


def _idsig_path(path: str, idsig) -> tuple[str | None, bool]:
    """(the v4 file to read, whether the caller named it): a file merely found beside the APK
    decides nothing but v4 (anyone who can write the folder can drop one), one named is read as
    ``apksigner verify --v4-signature-file`` reads it."""
    if idsig is True:
        candidate = path + ".idsig"  # a regular file, never a link (review 66 F5); opened so too
        return (candidate if _regular_no_link(candidate) else None), False
    if isinstance(idsig, FoundBeside):
        return idsig.path, False
    if idsig:
        return os.fspath(idsig), True
    return None, False


def _regular_no_link(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except (OSError, ValueError):
        return False


def _sha256_hex(value: object) -> str | None:
    """A known SHA-256 as the pass would write it (64 lowercase hex digits); anything else: None
    (computed in the pass, never reported as the file's digest)."""
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value
    return None


def _hash_file(source: ByteSource, identity: ApkIdentity, hashes: tuple[str, ...],
               known: str | None = None) -> FileFacts | None:
    """Whole-file digests for inputs that never reached the signing-block pass (``known``: SHA-256)."""
    whole = WholeFile(source.size, hashes, known)
    if not whole.hashers:  # the SHA-256 known and nothing else asked for: nothing to read
        return whole.facts()
    try:  # the pass's reader: reused buffers, and each digest on its own thread for big files
        read_once(source, whole.spans(), [])
    except (ApkScanError, OSError) as exc:
        identity.errors.append(error("INPUT_UNREADABLE", f"could not hash the file: {exc}"))
        return None
    return whole.facts()
