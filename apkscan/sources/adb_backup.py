"""adb backup (``.ab``) reader: APKs as members, ``_manifest`` records as recorded apps.

Streams header → AES (if any) → zlib (if any) → tar; memory stays bounded for a multi-GB
backup. The tar is read as Android's restore reads it (:mod:`adb_restore_tar`; review 78 F2: a
size field tar reads and restore does not hid an APK restore installs), and tar's reading of the
same bytes is followed alongside (:mod:`adb_tar_shadow`): each header the two read differently is
``TAMPER_BACKUP_TAR_READ_TWO_WAYS`` (a member tar reads inside restore's content is scanned, so
flagged: review 81 F6); where restore stops (a header it cannot read, a type NUL
header) the rest is read by ``tarfile`` (``r|``) as before, members there flagged
``TAMPER_BACKUP_RESTORE_STOPS`` (said once on the backup when no member carries it). Layout ``apps/<pkg>/<token>/...`` (shared ``backup-formats.md`` §1):

- ``a/*.apk`` → :class:`Member` (its ``open()`` works once, until the iterator advances);
- ``_manifest`` → parsed into a :class:`RecordedApp` (also kept in
  :attr:`AdbBackupReader.recorded`). The scan lists it only when no APK of that package was
  scanned from this backup: when the APK is there its verified signers say more than the
  device's record, and listing both would list one app twice;
- data, OBB, key-value, shared storage, widget metadata → one :class:`Skipped` per reason,
  unless the file is a ZIP naming ``AndroidManifest.xml`` (local header or central directory),
  seen as the stream passes: then it is a :class:`Member` (an APK under a data name is scanned),
  or ``BACKUP_DATA_APK_UNSCANNED`` when the name shows only past the bytes kept (see ``_data``);
  one whose head is a tar, a gzip ... is looked at from its end as it passes (review 60 F1);
- names outside that layout (or with ``..``/absolute parts) are yielded as members under
  their raw name (display only), so an odd name cannot hide an APK from the walker;
- past the tar's end-of-archive marker (a zero block: restore's type NUL end), the rest is read as
  ``tar -i`` reads it (review 54 F3): members there carry ``TAMPER_TAR_PAST_END``, records a
  note; a member whose type flag tarfile does not know is read as a regular file, flagged (F2).
"""

from __future__ import annotations

import itertools
import tarfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

from apkscan.issues import Issue, error, tamper, warning
from apkscan.sources.adb_header import (HeaderError, parse_header, read_header_bytes,
                                        looks_like_adb_backup, unlock)
from apkscan.sources.adb_manifest import MAX_MANIFEST_BYTES, ManifestError, parse_manifest
from apkscan.sources.adb_stream import (MAX_EXPANDED, BackupReadError, Payload, decrypted_chunks,
                                        raw_chunks)
from apkscan.sources.adb_restore_tar import RestOfPayload, RestoreReader, RestoreSource, RestoreStop, tar_info
from apkscan.sources.adb_tar_shadow import TarShadow, hidden_members
from apkscan.sources.adb_tar import (MemberStream, after_end, link_or_special, open_stream, past_end_flag,
                                     stop_reason, tar_trailing_issue, type_flag_facts)
from apkscan.sources import data_stream, detect
from apkscan.sources.detect import is_zip
from apkscan.sources.interface import MAX_DEVICE_RECORDS, InputProblem, Member, RecordedApp, Skipped
from apkscan.sources.layout_common import in_install, install_key
from apkscan.sources.tempspace import TempSpace

__all__ = ["AdbBackupReader", "looks_like_adb_backup"]

MAX_MANIFESTS = MAX_DEVICE_RECORDS  # apps/<package>/_manifest files made records
MAX_EXAMPLES = 3
DATA_LOOK = 4 << 20  # bytes of a data-named ZIP kept in memory while looking for an APK's manifest
SKIP_REASONS = {
    "obb": "OBB expansion files (not scanned)",
    "k": "key-value backup data (not scanned)",
    "_meta": "widget metadata (not scanned)",
    **{t: "app data (not scanned)" for t in ("r", "f", "db", "sp", "c", "nb", "ef",
                                             "d_r", "d_f", "d_db", "d_sp")},
}


class AdbBackupReader:
    """One adb backup opened on a stream; see the module docstring for what it yields."""

    kind = "adb-backup"

    def __init__(self, stream: BinaryIO, chain: tuple[str, ...],
                 password: str | None | Callable[[], str | None], max_expanded: int = MAX_EXPANDED,
                 temp: TempSpace | None = None):
        """``password``: the string, or a callable asked only when the backup is encrypted (so a run
        over plain backups never prompts); ``temp``: where members only tar reads are spooled."""
        self.stream = stream
        self.temp = temp
        self.chain = chain
        self.password = password
        self.max_expanded = max_expanded
        self.recorded: dict[str, RecordedApp] = {}  # every parsed _manifest, by folder package
        self._skipped: dict[str, Skipped] = {}
        self._apks: set[str] = set()  # folder packages with an a/ member
        self._claimed: set[str] = set()  # folder packages whose _manifest says "APK included"
        self._live: dict[str, bool] | None = None  # the last yielded member's state
        self._manifests = 0  # _manifest files met; past MAX_MANIFESTS each is counted, not read
        self._over_first = ""  # the first of those (said once, by _walk)
        self._rest = ""  # where restore stopped, once tar reads on past it (_tar_rest)
        self._rest_at, self._rest_flagged = -1, 0

    def _problem(self, issue: Issue) -> InputProblem:
        return InputProblem(self.chain, [issue])

    def entries(self) -> Iterator[Member | RecordedApp | InputProblem | Skipped]:
        head = read_header_bytes(self.stream)
        try:
            header, body_at = parse_header(head)
        except HeaderError as exc:
            yield self._problem(error(exc.code, exc.message))
            return
        if header.unusual:
            yield self._problem(warning("BACKUP_HEADER_UNUSUAL", f"header {', '.join(header.unusual)}: a form adb "
                                        "never writes, read as Android's restore reads it (Integer.parseInt; "
                                        f"version {header.version}, {'' if header.compressed else 'not '}compressed)"))
        chunks = raw_chunks(self.stream, head[body_at:])
        first = next(chunks, None)
        if first is None:
            yield self._problem(warning("BACKUP_EMPTY", "empty backup: the file holds only a header "
                                        "(adb 1.0.32+ writes these when the device backs up nothing)"))
            return
        chunks = itertools.chain([first], chunks)
        if header.encryption == "AES-256":
            if callable(self.password):
                self.password = self.password()
            if self.password is None:
                yield self._problem(error("BACKUP_PASSWORD_REQUIRED",
                                          "the backup is encrypted: give its password"))
                return
            keys = unlock(header, self.password)
            if keys is None:
                yield self._problem(error("BACKUP_PASSWORD_WRONG", "the password does not open this backup "
                                          "(master-key padding or checksum mismatch)"))
                return
            chunks = decrypted_chunks(chunks, *keys)
        payload = Payload(chunks, header.compressed, self.max_expanded)
        yield from self._walk(payload)

    def _walk(self, payload: Payload) -> Iterator[Member | RecordedApp | InputProblem | Skipped]:
        """The members restore reads (:mod:`adb_restore_tar`), each header compared with tar's reading
        (:mod:`adb_tar_shadow`); where restore stops, the rest as tar reads it (:meth:`_tar_rest`)."""
        shadow = TarShadow(self.temp)
        reader = RestoreReader(payload, shadow.feed)
        try:
            yield from self._read(payload, shadow, reader, RestoreSource(reader))
        finally:  # ended, failed or cut short (a time budget, an interrupt): its spooled files deleted
            shadow.close()

    def _read(self, payload: Payload, shadow: TarShadow, reader: RestoreReader, source: RestoreSource):
        count, failure, tf = 0, None, None
        try:
            while True:
                try:
                    header = reader.next_header()
                except RestoreStop as exc:
                    stop = exc
                    self._expire()
                    yield from hidden_members(shadow, self.chain, ended=True)
                    yield from self._shadow_facts(shadow, [])
                    break
                self._expire()
                yield from hidden_members(shadow, self.chain)
                yield from self._shadow_facts(shadow, [(header.path, m) for m in shadow.on_header(header)])
                if header.type == "0":
                    count += 1
                    source.current = header
                    yield from self._entry(source, tar_info(header))
            tf, rest = yield from self._tar_rest(payload, reader, shadow, stop)
            count += rest
        except BackupReadError as exc:
            failure = error(exc.code, exc.message)
        except tarfile.TarError as exc:
            failure = self._tar_failure(exc, payload, count)
        self._expire()
        yield from hidden_members(shadow, self.chain, ended=True)  # a read error cut restore's reading short
        yield from self._shadow_facts(shadow, [])
        yield from self._ends(payload, tf, failure, count)

    def _expire(self) -> None:
        if self._live is not None:
            self._live["expired"] = True

    def _shadow_facts(self, shadow: TarShadow, found: list[tuple[str, str]]) -> Iterator[InputProblem]:
        for name, message in [*shadow.take(), *found]:
            yield InputProblem(self.chain + (name,), [tamper("TAMPER_BACKUP_TAR_READ_TWO_WAYS", message)])

    def _tar_rest(self, payload: Payload, reader: RestoreReader, shadow: TarShadow, stop: RestoreStop):
        """Past where restore stops, the payload as tar reads it (``tar -i``, from tar's own cursor):
        what tar finds there is scanned, flagged ``TAMPER_BACKUP_RESTORE_STOPS``. Returns (the
        TarFile or None, members read)."""
        if stop.reason == "the end of the data":
            payload.check_trailing()
            return None, 0
        start = shadow.cursor if shadow.cursor is not None and shadow.cursor >= stop.offset else stop.offset
        said = f"Android's restore stops at offset {stop.offset} ({stop.reason})"
        if not stop.clean or reader.head_bytes.strip(b"\0"):  # a zero block: TAMPER_TAR_PAST_END says it
            self._rest = f"{said} before this: tar reads it, restore never does"
        self._rest_at = start - stop.offset  # 0: tar's first header is the one restore stopped at
        rest = RestOfPayload(reader.head_bytes, payload, start - stop.offset)
        try:
            tf = open_stream(rest)
        except tarfile.ReadError:
            if rest.produced:
                raise
            return None, 0  # nothing past tar's cursor
        count = 0
        for info in tf:
            tf.members.clear()  # stream mode appends every member; keep memory flat
            self._expire()
            count += 1
            yield from self._entry(tf, info)
        self._expire()
        stopped = stop_reason(tf)
        if stopped:
            raise BackupReadError("BACKUP_TRUNCATED" if stopped == "truncated" else "BACKUP_TAR_INVALID",
                                  f"{stopped} inside the tar stream after {payload.produced} bytes of payload")
        payload.check_trailing()
        if self._rest and not self._rest_flagged:  # no member said it: said once here
            yield self._problem(tamper("TAMPER_BACKUP_RESTORE_STOPS", f"{said}, before the end of the backup: "
                                       "what follows is read as tar reads it"))
        return tf, count

    def _ends(self, payload: Payload, tf, failure: Issue | None, count: int) -> Iterator:
        if failure is not None:
            yield self._problem(failure)
        elif count == 0:
            yield self._problem(warning("BACKUP_EMPTY", "empty backup: the archive holds no files"))
        if payload.trailing:
            yield self._problem(tamper("BACKUP_TRAILING_DATA", "data follows the end of the compressed stream"))
        junk = tar_trailing_issue(tf) if tf is not None else None
        if junk is not None:
            yield self._problem(junk)
        if self._manifests > MAX_MANIFESTS:
            yield self._problem(error("BACKUP_LIMIT_EXCEEDED", f"more than {MAX_MANIFESTS} _manifest files: "
                                      f"{self._manifests - MAX_MANIFESTS} more not read (first: {self._over_first!r})"))
        yield from self._records()
        yield from self._skipped.values()

    def unfinished(self) -> list[RecordedApp | Skipped]:
        """What the walk learnt before its time budget ended it (the walker asks on
        ``CONTAINER_WALK_TIMEOUT``): the ``_manifest`` records parsed so far and the skip counts,
        so a cut walk keeps them as its message says (review 54 F8)."""
        for app in self.recorded.values():
            app.note = _join(app.note, "the backup was read only in part (CONTAINER_WALK_TIMEOUT)")
        out: list[RecordedApp | Skipped] = [*self._records(), *self._skipped.values()]
        self.recorded, self._skipped = {}, {}
        return out

    def _tar_failure(self, exc: tarfile.TarError, payload: Payload, count: int) -> Issue:
        if payload.produced == 0 or (count == 0 and "empty" in str(exc)):
            return warning("BACKUP_EMPTY", "empty backup: the archive holds no files")
        if "unexpected end" in str(exc) or "truncated" in str(exc).lower():
            return error("BACKUP_TRUNCATED", f"truncated inside the tar stream after {payload.produced} bytes")
        return error("BACKUP_TAR_INVALID", f"invalid tar data after {payload.produced} bytes: {exc}")

    def _entry(self, tf: tarfile.TarFile, info: tarfile.TarInfo) -> Iterator[Member | InputProblem]:
        name = info.name
        if info.isdir():
            return
        if link_or_special(info):
            kind = "symbolic link" if info.issym() else "hard link" if info.islnk() else "device or FIFO"
            self._skip(f"{kind} (not followed)", name)
            return
        parts = name.split("/")
        if _unsafe(name) or len(parts) < 2:
            yield self._member(tf, info)
            return
        if parts[0] == "shared":
            yield from self._data(tf, info, "shared storage (not scanned)")
            return
        if parts[0] != "apps" or len(parts) < 3:
            yield self._member(tf, info)
            return
        package, token = parts[1], parts[2]
        if token == "_manifest" and len(parts) == 3:
            yield from self._manifest(tf, info, package)
        elif token == "a" and len(parts) >= 4:
            self._apks.add(package)
            yield in_install(self._member(tf, info), install_key(self.chain, f"apps/{package}/a"))  # base + splits
        elif token in SKIP_REASONS:
            yield from self._data(tf, info, SKIP_REASONS[token])
        else:
            yield self._member(tf, info)

    def _data(self, tf: tarfile.TarFile, info: tarfile.TarInfo, reason: str) -> Iterator[Member | InputProblem]:
        """A file skipped by its name (data, OBB, shared storage) unless its bytes are an APK's (a name
        is a claim: an APK under ``f/cache.bin`` is scanned). Decided as the stream passes, nothing
        spooled, the first :data:`DATA_LOOK` bytes kept: a ZIP holding an APK by name or by content (or
        whose entries the look cannot follow, :mod:`data_zip`), a layer the walker opens (a gzip, a tar
        ...) holding one as the walker follows it, is yielded (those bytes replayed) and the walker's
        errors for it stay errors; bytes of any head whose end opens as a ZIP that may hold one are
        yielded ``end_only`` (the walker reads them again from there, both ways:
        :func:`polyglot.data_end`; review 60 F1, 72 F1/F3: ``apkscan scan`` reads the same bytes given
        alone so). One seen so only further on is ``BACKUP_DATA_APK_UNSCANNED`` (the bytes have passed);
        any other file is counted under ``reason``. A head that cannot be read is yielded, so its error
        is said, never skipped."""
        inner = tf.extractfile(info)
        try:
            head = inner.peek(detect.HEAD_SIZE)[:detect.HEAD_SIZE] if info.size else b""
        except (tarfile.TarError, OSError):
            yield self._member(tf, info, inner)  # unreadable: the member's own read reports the coded error
            return
        if info.size < detect.MIN_ZIP:
            self._skip(reason, info.name)
            return
        stream = MemberStream(inner, info.name)
        if is_zip(head):
            (found, kept), how = data_stream.streamed_zip_look(stream, DATA_LOOK), "content"
        else:  # a gzip, a tar ... followed as the walker opens it; any head read from its end (review 72 F1, F3)
            found, how, kept = data_stream.streamed_layer_look(stream, DATA_LOOK)
        if found == data_stream.STREAM_APK:
            member = self._member(tf, info, _Replay(kept, inner))
            if how == "end":  # only its end opens as a ZIP: read again from there, both ways
                self._skip(reason, info.name)
                member.end_only = True
            yield member
        elif found == data_stream.STREAM_LATE:
            yield InputProblem(self.chain + (info.name,), [error(
                "BACKUP_DATA_APK_UNSCANNED", f"{info.name!r}, skipped by its name ({reason}), shows an "
                f"APK (by name or by content), or bytes that cannot be followed, only past its first {DATA_LOOK} "
                "bytes: it could not be scanned from the stream; extract the backup and scan that file")])
        else:
            self._skip(reason, info.name)

    def _member(self, tf: tarfile.TarFile, info: tarfile.TarInfo, inner=None) -> Member:
        """``inner``: the member's file object when its head was already peeked (one pass only)."""
        state = self._live = {"opened": False, "expired": False}

        def open_() -> MemberStream:
            if state["opened"] or state["expired"]:
                raise OSError(f"{info.name!r} is in a streamed backup: it can be opened once, "
                              "before the reader moves on")
            state["opened"] = True
            return MemberStream(inner if inner is not None else tf.extractfile(info), info.name)

        return Member(name=info.name, size=info.size, open=open_, flags=self._flags(tf, info))

    def _flags(self, tf: tarfile.TarFile, info: tarfile.TarInfo) -> list[Issue]:
        """A member's tar facts: found past an end-of-archive marker (Android's restore stops at the
        first zero block), or of a type flag tarfile does not know (read as a regular file, as GNU tar
        reads it; Android's restore refuses the backup there: review 54 F2)."""
        kind = type_flag_facts(info, " (Android's restore stops there)")
        rest = []
        if self._rest and not (kind and self._rest_at == 0 and info.offset == 0):  # else kind says it
            rest = [tamper("TAMPER_BACKUP_RESTORE_STOPS", self._rest)]
            self._rest_flagged += 1
        return rest + past_end_flag(tf) + kind

    def _manifest(self, tf: tarfile.TarFile, info: tarfile.TarInfo, package: str) -> Iterator[InputProblem]:
        where = self.chain + (info.name,)
        self._manifests += 1
        if self._manifests > MAX_MANIFESTS:  # counted, said once by _walk (their errors would be unbounded too)
            self._over_first = self._over_first or info.name
            return
        if info.size > MAX_MANIFEST_BYTES:
            yield InputProblem(where, [error("BACKUP_MANIFEST_INVALID",
                                             f"_manifest of {info.size} bytes (limit {MAX_MANIFEST_BYTES})")])
            return
        data = MemberStream(tf.extractfile(info), info.name).read(info.size)
        try:
            manifest = parse_manifest(data)
        except ManifestError as exc:
            yield InputProblem(where, [error("BACKUP_MANIFEST_INVALID", str(exc))])
            return
        note = ""
        if manifest.package != package:
            note = f"recorded under folder apps/{package}/"
            yield InputProblem(where, [tamper("BACKUP_MANIFEST_MISMATCH",
                                              f"_manifest names {manifest.package!r} but sits under apps/{package}/")])
        if self._rest:
            note, self._rest_flagged = _join(note, self._rest), self._rest_flagged + 1
        elif after_end(tf) is not None:
            note = _join(note, "read after a tar end-of-archive marker: Android's restore stops before it")
        if manifest.apk_included:
            self._claimed.add(package)
        self.recorded[package] = manifest.recorded_app(where, note)

    def _records(self) -> Iterator[RecordedApp]:
        """Every recorded app. The scan lists one only when no APK *of that package* was scanned
        from this backup (a folder name is a claim: an APK of another app filed under
        ``apps/<pkg>/a/`` must not hide the record of ``<pkg>``)."""
        for package, app in self.recorded.items():
            if package in self._apks:
                app.note = _join(app.note, "an APK was backed up in its folder, but none of this package was scanned")
            elif package in self._claimed:
                app.note = _join(app.note, "the _manifest says its APK was backed up, but it is not in this file")
            yield app

    def _skip(self, reason: str, name: str) -> None:
        rec = self._skipped.setdefault(reason, Skipped(self.chain, reason, 0, []))
        rec.count += 1
        if len(rec.examples) < MAX_EXAMPLES:
            rec.examples.append(name)


class _Replay:
    """The bytes already read from a tar member, then the rest of it: one pass, as a stream."""

    def __init__(self, kept: bytes, inner):
        self._kept = memoryview(kept)
        self._at = 0
        self._inner = inner

    def read(self, size: int = -1) -> bytes:
        if self._at < len(self._kept):
            end = len(self._kept) if size is None or size < 0 else self._at + size
            out = bytes(self._kept[self._at:end])
            self._at += len(out)
            return out
        return self._inner.read(size)


def _unsafe(name: str) -> bool:
    """Names a naive extractor would write outside its folder: layout is not read from them."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":")


def _join(note: str, more: str) -> str:
    return f"{note}; {more}" if note else more

