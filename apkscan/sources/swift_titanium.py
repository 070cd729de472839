"""Swift Backup and Titanium Backup folders (shared ``backup-formats.md`` §4).

Swift Backup keys files by package: ``<pkg>.app`` (the base APK) and ``<pkg>.splits`` (a
stored ZIP of split APKs) are yielded as members for the walker; ``.dat``/``.extdat``/
``.exp`` (data, OBB) are skipped; ``.xml`` is obfuscated and not read. A file skipped by its
name whose bytes are an APK (a ZIP holding ``AndroidManifest.xml``) is scanned (both layouts).
Each package named by a file is a :class:`RecordedApp` (its name only); the scan lists it unless
an APK read as that package was scanned from this folder, and says ``BACKUP_APK_PACKAGE_MISMATCH``
when its ``.app``/``.splits`` held only another package's APK (:mod:`record_check`).

Titanium Backup: ``<pkg>-<md5>.apk[.gz|.bz2|.xz]`` is the whole APK, compressed; it is
yielded as a member whose ``open()`` decompresses on the fly (streaming), so the walker
sees APK bytes whatever the codec; it decompresses through :mod:`compressed`, charged to the
input's inflation budget with the ratio watched (a bomb is ``CONTAINER_BOMB``). ``<pkg>-<date>-<time>.properties`` (Java properties)
gives label and version, and ``app_apk_md5``, which is checked against the MD5 in the
APK's file name (a cheap consistency check; the content is not re-hashed here).
Every ``.properties`` record becomes a :class:`RecordedApp` without certificates; the scan
lists it only when no APK of that package was scanned from this folder.
"""

from __future__ import annotations

import io
import lzma
import re
from collections.abc import Iterator

from apkscan.issues import error, tamper
from apkscan.sources import registry
from apkscan.sources.compressed import decompressed, trailing_issue
from apkscan.sources.detect import is_zip
from apkscan.sources.interface import InputProblem, Member, RecordedApp, Skipped, Tree
from apkscan.sources.layout_common import (MetadataError, Skips, apk_after_all, each_copy, in_install, install_key,
                                          is_package, listed_app, member_or_problem)
from apkscan.sources.streams import InflateBudget, Prefixed, WindowStream, read_head

SWIFT_RE = re.compile(r"^(?P<dir>(?:.*/)?)(?P<pkg>[^/]+)\.(?P<ext>app|splits|dat|extdat|exp|xml)$")
SWIFT_SKIPS = {"dat": "app data archive (not scanned)", "extdat": "app data archive (not scanned)",
               "exp": "OBB expansion archive (not scanned)",
               "xml": "Swift Backup metadata (obfuscated, not read)"}
TB_PROPS_NAME = r"(?P<pkg>[^/]+)-\d{8}-\d{6}\.properties"  # a file name (the registry's marker looks for these)
TB_APK_NAME = r"(?P<pkg>[^/]+)-(?P<md5>[0-9a-f]{32})\.apk(?:\.(?P<codec>gz|bz2|xz|lzop))?"
TB_PROPS_RE = re.compile(rf"^(?P<dir>(?:.*/)?){TB_PROPS_NAME}$")
TB_APK_RE = re.compile(rf"^(?P<dir>(?:.*/)?){TB_APK_NAME}$")
TB_DATA_RE = re.compile(r"^(?:.*/)?[^/]+-\d{8}-\d{6}\.tar(?:\.[a-z0-9]+)?$")
CODECS: dict[str | None, str | None] = {  # file suffix -> compressed.py's stream kind
    None: None,
    "gz": "gzip",
    "bz2": "bzip2",
    "xz": "xz",
}


def _swift(names: list[str]) -> dict[tuple[str, str], dict[str, str]]:
    groups: dict[tuple[str, str], dict[str, str]] = {}
    for name in names:
        m = SWIFT_RE.match(name)
        if m and is_package(m.group("pkg")):
            groups.setdefault((m.group("dir"), m.group("pkg")), {})[m.group("ext")] = name
    return groups


def is_swift_backup(names: list[str]) -> bool:
    """A ``<pkg>.app`` or ``<pkg>.splits`` with a sibling of the same package (``.xml``, ``.dat``...)."""
    return any(("app" in g or "splits" in g) and len(g) > 1 for g in _swift(names).values())


def is_titanium_backup(names: list[str]) -> bool:
    return any(TB_PROPS_RE.match(n) or TB_APK_RE.match(n) for n in names)


class SwiftBackupReader:
    kind = "swift-backup"

    def __init__(self, tree: Tree):
        self.tree = tree

    def entries(self) -> Iterator[Member | RecordedApp | InputProblem | Skipped]:
        names = self.tree.names()
        groups = _swift(names)
        claimed = {n for g in groups.values() for n in g.values()}
        skips = Skips(self.tree.chain)
        listed = []
        for (_folder, package), files in sorted(groups.items()):
            key = install_key(self.tree.chain, _folder + package)  # .app and .splits: one install, compared
            for ext, name in sorted(files.items()):
                if ext in ("app", "splits"):
                    yield in_install(member_or_problem(self.tree, name), key)
                elif (apk := apk_after_all(self.tree, name)) is not None:
                    yield in_install(apk, key)
                else:
                    skips.add(SWIFT_SKIPS[ext], name)
            # always listed: the scan retires it only for an APK *read as* this package from this backup
            # (a swapped .app hides nothing; review 69 F7), as Titanium's and Neo's records
            named = min(files.items(), key=lambda f: (f[0] in ("app", "splits"), f[1]))[1]  # not the APK's own chain
            record = listed_app(self.tree.chain + (named,), package,
                                "Swift Backup file names", note="package name from a file name")
            record.apk_files = tuple(self.tree.chain + (files[e],) for e in ("app", "splits") if e in files)
            listed.append(record)
        for name in names:
            if name not in claimed:
                yield member_or_problem(self.tree, name)
        yield from listed
        yield from skips.records()


class _Decompressed(io.RawIOBase):
    """A decompressing stream whose truncation/corruption errors are OSErrors with a code.

    The codec is the one the bytes start with (a ZIP is passed through as it is); the file
    name's suffix is only the fallback for a head no codec claims (review 54 F5: a plain APK or
    a bzip2 stream under a ``.apk.gz`` name was "corrupt")."""

    def __init__(self, raw, kind: str, budget: InflateBudget, name: str):
        super().__init__()
        head = read_head(raw, 16)
        self._raw, self._name = raw, name
        if is_zip(head):
            self._inner = Prefixed(head, raw)
        else:
            self._inner = decompressed(registry.compression(head) or kind, Prefixed(head, raw), budget)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        try:
            data = self._inner.read(len(buf))
        except EOFError:
            raise _coded("BACKUP_TRUNCATED", f"{self._name}: compressed APK ends early") from None
        except (OSError, lzma.LZMAError, ValueError) as exc:
            raise _coded("BACKUP_CORRUPT", f"{self._name}: cannot decompress: {exc}") from None
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        self._raw.close()
        super().close()


def _coded(code: str, message: str) -> OSError:
    exc = OSError(message)
    exc.code = code  # type: ignore[attr-defined]
    return exc


class TitaniumBackupReader:
    kind = "titanium-backup"

    def __init__(self, tree: Tree, budget: InflateBudget | None = None):
        self.tree = tree
        # the walker passes the outermost input's budget; alone, the walker's defaults (64 GiB, 200x)
        self.budget = budget if budget is not None else InflateBudget(64 << 30, 200)

    def entries(self) -> Iterator[Member | RecordedApp | InputProblem | Skipped]:
        names = self.tree.names()
        skips = Skips(self.tree.chain)
        records: dict[str, tuple[RecordedApp, set[str]]] = {}
        for name in names:
            m = TB_PROPS_RE.match(name)
            if m and is_package(m.group("pkg")):
                found, problems = self._properties(name, m.group("pkg"))
                yield from problems  # this one file's errors: every APK beside it is still read
                if not found and m.group("pkg") not in records:  # no copy read (another process writing it:
                    records[m.group("pkg")] = (listed_app(  # review 72 F6): the package from the file name,
                        self.tree.chain + (name,), m.group("pkg"), "Titanium Backup properties",  # as Neo's
                        note="metadata unreadable; package from the file name"), set())  # from its folder's
                for app, md5s in found:
                    prev = records.get(m.group("pkg"))
                    if prev is not None:  # another backup of the package, or another copy of this file
                        app.flags[:0] = [f for f in prev[0].flags if f not in app.flags]
                    records[m.group("pkg")] = (app, md5s | (prev[1] if prev else set()))
        for name in names:
            m = TB_APK_RE.match(name)
            if TB_PROPS_RE.match(name):
                continue
            if TB_DATA_RE.match(name):
                if (apk := apk_after_all(self.tree, name)) is not None:
                    yield apk
                else:
                    skips.add("app data archive (not scanned)", name)
            elif m is None:
                yield member_or_problem(self.tree, name)
            else:
                yield from self._apk(name, m.group("pkg"), m.group("md5"), m.group("codec"), records)
        for record, _md5s in records.values():  # listed by the scan unless an APK of that package was scanned
            yield record
        yield from skips.records()

    def _apk(self, name: str, package: str, md5: str, codec: str | None,
             records: dict[str, tuple[RecordedApp, set[str]]]) -> Iterator[Member | InputProblem]:
        recorded_md5s = records.get(package, (None, set()))[1]
        flags = []  # a fact about this APK: it travels with it into the identity's tamper indicators
        if recorded_md5s and md5 not in recorded_md5s:
            flags.append(tamper("BACKUP_APK_MD5_MISMATCH", f"the file name says MD5 {md5}, the backup's properties "
                                f"record {', '.join(sorted(recorded_md5s))}: tampered or mixed-up backup"))
        if codec not in CODECS:
            yield InputProblem(self.tree.chain + (name,), [error(
                "BACKUP_CODEC_UNSUPPORTED", f"{codec}-compressed APK: decompress it with {codec} first")])
            return
        inner = member_or_problem(self.tree, name)
        if isinstance(inner, InputProblem):
            yield inner
            return
        kind = CODECS[codec]
        if kind is None:
            inner.flags.extend(flags)
            yield inner
            return
        budget, opened = self.budget, []
        reopen = (lambda: WindowStream(*inner.window)) if inner.window is not None else inner.again
        yield Member(name=name, size=None, flags=flags,
                     open=lambda: opened.append(_Decompressed(inner.open(), kind, budget, name)) or opened[-1],
                     again=(lambda: _Decompressed(reopen(), kind, budget, name)) if reopen else None)  # polyglot look
        junk = trailing_issue(opened[-1]._inner) if opened else None  # the walker has read the member by now
        if junk is not None:
            yield InputProblem(self.tree.chain + (name,), [junk])

    def _properties(self, name: str, package: str) -> tuple[list[tuple[RecordedApp, set[str]]], list[InputProblem]]:
        """The record and recorded APK MD5 of every copy of a properties file (a ZIP may list its name
        twice: review 70 F4). The package is the file name's, the same in every copy; the MD5s of
        every copy are the package's, and each copy's record carries the fact that it has others."""
        found, problems = each_copy(self.tree, name, parse_java_properties)
        out = []
        for facts, props in found:
            md5 = props.get("app_apk_md5", "").strip().lower()
            app = listed_app(self.tree.chain + (name,), package, "Titanium Backup properties",
                             label=props.get("app_label"), version_code=props.get("app_version_code"),
                             version_name=props.get("app_version_name"))
            app.flags.extend(facts)
            out.append((app, {md5} if re.fullmatch(r"[0-9a-f]{32}", md5) else set()))
        return out, problems


def parse_java_properties(data: bytes) -> dict[str, str]:
    """``java.util.Properties.load`` essentials: comments, ``=``/``:``, escapes, continuations.

    What Java refuses (``Malformed \\uxxxx encoding``) is a :class:`MetadataError`
    ``BACKUP_METADATA_INVALID``; no other exception leaves this function, whatever the bytes."""
    text = data.decode("latin-1")
    out: dict[str, str] = {}
    logical = ""
    for raw in text.splitlines():
        line = raw.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        if _continues(line):
            logical += line[:-1]
            continue
        logical += line
        key, value = _split(logical)
        out[_unescape(key)] = _unescape(value)
        logical = ""
    if logical:
        key, value = _split(logical)
        out[_unescape(key)] = _unescape(value)
    return out


def _continues(line: str) -> bool:
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _split(line: str) -> tuple[str, str]:
    i = 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] in "=: \t":
            break
        i += 1
    key, rest = line[:i], line[i:].lstrip(" \t")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t")
    return key, rest


def _unescape(s: str) -> str:
    def sub(m: re.Match) -> str:
        c = m.group(1)
        if c == "u":  # "\u" without four hex digits: Java's Properties.load throws
            raise MetadataError("BACKUP_METADATA_INVALID", f"malformed \\uxxxx escape at character {m.start()}")
        if c.startswith("u"):
            return chr(int(c[1:], 16))
        return {"n": "\n", "t": "\t", "r": "\r", "f": "\f"}.get(c, c)
    return re.sub(r"\\(u[0-9a-fA-F]{4}|u|.)", sub, s)
