"""Text evidence: ``dumpsys package`` and ``pm list packages`` output (shared ``backup-formats.md`` §5).

Each package becomes a :class:`RecordedApp` without certificates (``origin="listed"``):
text names packages, it proves no signer. ``dumpsys package`` does carry, per package,
the 32-bit Java ``Arrays.hashCode`` of each signing certificate's DER
(``signatures=PackageSignatures{... signatures:[<h>, ...]}``); they are kept in the
record's ``note`` and in :attr:`TextEvidenceReader.hashcodes`, and
:func:`java_cert_hashcode` computes the same value for a known certificate so rules can
match it later. Such a hash is not cryptographic: it can be forged and only *points at*
a known certificate, never proves one.

Detection (:func:`scan_for_listing`, called by the walker for any text) looks for a listing's
mark through the whole text, streamed in bounded memory within a byte and the walk's time budget.
Reading is line by line with a cap on line length, line count and bytes, and every line is
read in time linear in its length (no backtracking pattern: see :func:`signature_list`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from apkscan.issues import warning
from apkscan.sources import walkclock
from apkscan.sources.dumpsys_state import (PACKAGE_RE, SIGS_PREFIX, DumpsysState, Unread, names_a_package,
                                          signature_list)
from apkscan.sources.interface import InputProblem, RecordedApp, Skipped
from apkscan.sources.streams import IterStream, Prefixed
from apkscan.sources.text_encodings import (DUMPSYS_FIRST_LINES, HEAD, Transcoder, decode, misaligned, realigned,
                                            text_encoding)

__all__ = ["TextEvidenceReader", "ListingScan", "looks_like_text_evidence", "scan_for_listing", "spool_source",
           "text_encoding", "java_cert_hashcode", "signature_list"]

MAX_LINE = 16 * 1024
MAX_LINES = 5_000_000
MAX_BYTES = 1 << 30
MAX_APPS = 100_000
LEADING_JUNK_LINES = 8  # lines before a dumpsys header that detection tolerates (a header's name alone is generic)
CHUNK = 64 * 1024
SCAN_BYTES = 1 << 20  # the first bytes of a text scan_for_listing keeps (all its marks are looked for there)
ANYWHERE_TEXT = ("  Package [", "\npackage:", "DUMP OF SERVICE package:")  # listing marks anywhere in a text
ANYWHERE_MARKS = tuple(mark.encode() for mark in ANYWHERE_TEXT)
OVERLAP = max(map(len, ANYWHERE_MARKS)) - 1  # of a chunk's text kept with the next: a mark across them is seen
GARBLED = ("\x00", "\ufeff", "\ufffe")  # in a line (past a BOM starting it): a decoding change not followed
# (so is UTF-16 read one byte off: text_encodings.misaligned)
# a package every 'User N:' line of whose block says installed=false is on no user of the device
# ('pm uninstall --user 0' of a preinstalled app, review 41 F3): a field forging such a line cannot
# remove the real one, which says true, so one true keeps it listed
_USER_INSTALLED = re.compile(r"User \d{1,9}: .*?\binstalled=(true|false)\b")
NOT_INSTALLED = "package installed for no user (installed=false on every 'User N:' line of its dumpsys block)"
EMPTY_SKIP = "text marked like a device listing that names no package on any line (source code, notes)"
HASH_RE = re.compile(r"^-?[0-9a-f]{1,8}$")


def java_cert_hashcode(der: bytes) -> str:
    """``Integer.toHexString(Arrays.hashCode(der))``: what ``dumpsys package`` prints per signer."""
    h = 1
    for b in der:
        h = (31 * h + (b - 256 if b >= 0x80 else b)) & 0xFFFFFFFF
    return format(h, "x")


def looks_like_text_evidence(head: bytes) -> bool:
    """``pm list packages`` output, ``dumpsys package`` output, or a bugreport's main text.

    Text (:func:`text_encoding`) whose head carries a listing's mark (:func:`listing_marked`).
    Junk around it (``WARNING: linker ...`` from ``adb shell``) is counted by the reader as not
    understood (``TEXT_LINES_UNREADABLE``). Marks past the head: :func:`scan_for_listing`."""
    text = _head_text(head)
    return text is not None and listing_marked(text)


def listing_marked(text: str) -> bool:
    """A ``package:`` line, a ``Package [`` block header or ``DUMP OF SERVICE package:`` anywhere,
    or a dumpsys/bugreport header among the first :data:`LEADING_JUNK_LINES` + 1 lines after leading
    blank ones (those names are generic alone: only near the top do they mark dumpsys output). Linear in ``text``."""
    if any(mark in text for mark in ANYWHERE_TEXT):
        return True
    top = text.lstrip().split("\n", LEADING_JUNK_LINES + 1)[:LEADING_JUNK_LINES + 1]
    lines = [line.rstrip("\r") for line in top]
    first = lines[0]
    return (any(line.startswith(("package:", "== dumpstate:") + DUMPSYS_FIRST_LINES) for line in lines)
            or (first.startswith("=====") and "== dumpstate:" in text[:1024]))


def _head_text(head: bytes) -> str | None:
    encoding = text_encoding(head)
    if encoding is None:
        return None
    return decode(head, encoding).lstrip("\ufeff")


@dataclass(slots=True)
class ListingScan:
    """What :func:`scan_for_listing` saw: ``kept``, the first bytes (at most :data:`SCAN_BYTES` + 1,
    held in memory); ``read``, the bytes read in all (past ``kept``: read the text again from its
    start); ``end``, whether that was the whole text (else cut by the byte budget, or not read on)."""

    kept: bytes
    encoding: str | None
    marked: bool
    read: int
    end: bool


def scan_for_listing(stream: BinaryIO, onward: bool = True, budget: int | None = None) -> ListingScan:
    """Look for a listing's mark (:func:`listing_marked` on the first :data:`SCAN_BYTES`, then its
    anywhere marks) through the whole text, with bounded memory: chunk by chunk with an overlap,
    through the same :class:`Transcoder` the reader uses (UTF-8/16/32, a change of encoding further
    on; 8-bit marks inside UTF-16/32 text count, the reader says they are not read). Bounded by
    ``budget`` bytes (:data:`MAX_BYTES`, what the reader reads) and the walk's time budget
    (``walkclock``). ``onward=False``: only the first bytes are looked at (a stream the caller must
    copy first, to read it again). One byte more than looked at is read, to tell the end."""
    budget = MAX_BYTES if budget is None else budget
    kept = b"".join(_take(stream, SCAN_BYTES + 1))
    encoding = text_encoding(kept[:HEAD])
    end = len(kept) <= SCAN_BYTES
    if encoding is None:
        return ListingScan(kept, None, False, len(kept), end)
    transcoder = Transcoder(encoding)
    out = transcoder.feed(kept, final=end)
    marked = listing_marked(out.decode("utf-8", "replace").lstrip("\ufeff")) or transcoder.marks_8bit > 0
    read, tail = len(kept), out[-OVERLAP:]
    while onward and not marked and not end and read <= budget:
        walkclock.check()
        chunk = stream.read(CHUNK)
        end, read = not chunk, read + len(chunk)
        out = tail + transcoder.feed(chunk, final=end)
        marked = any(mark in out for mark in ANYWHERE_MARKS) or transcoder.marks_8bit > 0
        tail = out[-OVERLAP:]
    return ListingScan(kept, encoding, marked, read, end)


def spool_source(scan: ListingScan, stream: BinaryIO, budget: int | None = None) -> BinaryIO:
    """The text a scan that was not read on (``onward=False``) looked at, as a stream to copy
    (temporary space): its first bytes, then the rest, up to ``budget`` + 1 bytes."""
    budget = MAX_BYTES if budget is None else budget
    return IterStream(_take(Prefixed(scan.kept, stream), budget + 1))


def _take(stream: BinaryIO, limit: int) -> Iterator[bytes]:
    while limit > 0:
        chunk = stream.read(min(CHUNK, limit))
        if not chunk:
            return
        limit -= len(chunk)
        yield chunk


class TextEvidenceReader:
    """Packages named by ``pm list packages`` / ``dumpsys package`` text."""

    kind = "text-evidence"

    def __init__(self, stream: BinaryIO, chain: tuple[str, ...], quiet_in: tuple[str, ...] | None = None):
        """``quiet_in``: the folder or container a text *met* there (not given) sits in. Marked
        text of it that names no package and holds no line naming one, in no other encoding, within
        the limits (a source file, notes quoting ``package:<name>``) is counted as skipped there, not
        ``TEXT_EVIDENCE_EMPTY``: a device's real listing names its packages on lines the reader reads or
        counts (:func:`names_a_package`), so it can never read so."""
        self.stream = stream
        self.chain = chain
        self.quiet_in = quiet_in
        self.names_one = False  # a line names a dotted package after a listing's mark (read or not)
        self.hashcodes: dict[str, list[str]] = {}
        self.unread_signatures = 0  # PackageSignatures lines without a readable signature list
        self.installed: dict[str, set[bool]] = {}  # package -> the installed= values of its 'User N:' lines
        self._notes: list[str] = []
        self._transcoder: Transcoder | None = None

    def entries(self) -> Iterator[RecordedApp | InputProblem]:
        apps: dict[str, RecordedApp] = {}
        state = DumpsysState()
        bad = Unread()  # 'package:' lines not understood
        stray = Unread()  # other non-blank lines, which only dumpsys/bugreport structure explains
        garbled = Unread()  # lines in another encoding than the one read: no structure explains them
        hidden: set[str] = set()  # packages read so far only from a hidden section's block
        for line in self._lines():
            if any(ch in line for ch in GARBLED) or misaligned(line):
                garbled.add(line, 1 + line.count("\u0a00"))  # the lines a LF read one byte off joined
                continue
            self.names_one = self.names_one or names_a_package(line)
            if line.startswith("package:"):
                app = self._pm_line(line)
                if app is None:
                    bad.add(line)
                elif len(apps) < MAX_APPS:
                    apps.setdefault(app.package, app)
                continue
            current = state.feed(line)
            if line.strip() and not state.structured:
                stray.add(line)
            if current is not None and current in apps and state.in_hidden:
                state.package = None  # the updated app's own block (under Packages:) is the one read
            elif current is not None and (current not in apps or current in hidden) and len(apps) < MAX_APPS:
                # a block read first under a hidden section (forged before the real one, review 41 F8)
                # gives way to the package's own block: its fields are the ones kept
                hidden.discard(current)
                self.hashcodes.pop(current, None)
                self.installed.pop(current, None)
                apps[current] = RecordedApp(chain=self.chain, package=current, recorded_by="dumpsys package")
                if state.in_hidden:
                    hidden.add(current)
            if state.package is not None and state.package in apps:
                self._block_line(apps[state.package], line)
        gone = [p for p, states in self.installed.items() if states == {False} and p in apps]
        for package in gone:  # installed for no user ('pm uninstall --user 0'): not on the device's users
            del apps[package]
        if gone:
            yield Skipped(self.chain, NOT_INSTALLED, len(gone), gone[:3])
        for app in apps.values():
            hashes = self.hashcodes.get(app.package)
            if hashes:
                app.note = "signature hashcodes (Java Arrays.hashCode of the certificate DER, not proof): " + \
                    ", ".join(hashes)
            yield app
        yield from self._warnings(bad, state.bad_blocks, stray, len(apps), garbled, state.outside, state.before)

    def _warnings(self, bad: Unread, blocks: Unread, stray: Unread, apps: int,
                  garbled: Unread, outside: Unread, before: Unread) -> Iterator[InputProblem | Skipped]:
        """Every line dropped is said: a listing's line that names no package is not silence."""
        if not apps and self._nothing_listed(garbled):
            yield Skipped(self.quiet_in, EMPTY_SKIP, 1, [self.chain[-1]])
            return
        said = []
        if garbled.count:
            said.append(warning("TEXT_LINES_UNREADABLE", garbled.say("lines holding NUL bytes or a byte-order mark "
                                                                     "(another text encoding), or UTF-16 read one "
                                                                     "byte off, not understood")
                                        + realigned(garbled.first)))
        if self._transcoder is not None and self._transcoder.marks_8bit:
            said.append(warning("TEXT_LINES_UNREADABLE", f"{self._transcoder.marks_8bit} 'package:' or 'Package [' "
                                f"marks in 8-bit text inside {self._transcoder.encoding} text (another encoding "
                                "appended), not read"))
        if bad.count:
            said.append(warning("TEXT_LINES_UNREADABLE", bad.say("'package:' lines not understood")))
        if blocks.count:
            said.append(warning("TEXT_LINES_UNREADABLE", blocks.say("'Package [...]' block headers not understood")))
        if outside.count:
            said.append(warning("TEXT_LINES_UNREADABLE", outside.say("'Package [...]' block headers outside the package "
                                                                     "service's Packages: section (a field printed a "
                                                                     "line that ended it?), read as listed apps")))
        if before.count:
            said.append(warning("TEXT_LINES_UNREADABLE", before.say("'Package [...]' block headers before any Packages: "
                                                                    "section, not read")))
        if stray.count:  # once dumpsys/bugreport structure starts, other lines are its sections: only those before
            said.append(warning("TEXT_LINES_UNREADABLE", stray.say("lines that are no 'package:' line and no "
                                                                   "dumpsys structure, not understood")))
        if not apps:
            said.append(warning("TEXT_EVIDENCE_EMPTY", "read as pm list / dumpsys package text, but it names no "
                                "package"))
        if self.unread_signatures:
            said.append(warning("TEXT_LINES_UNREADABLE", f"{self.unread_signatures} "
                                "'PackageSignatures' lines without a signature list"))
        if apps >= MAX_APPS:
            self._notes.append(f"more than {MAX_APPS} packages; the rest ignored")
        said += [warning("TEXT_LIMIT_EXCEEDED", note) for note in self._notes]
        for issue in said:
            yield InputProblem(self.chain, [issue])

    def _nothing_listed(self, garbled: Unread) -> bool:
        """Text met in a folder that named no package: nothing in it is a listing (see ``quiet_in``)."""
        return (self.quiet_in is not None and not self.names_one and not garbled.count and not self._notes
                and not self.unread_signatures and not (self._transcoder and self._transcoder.marks_8bit))

    def _lines(self) -> Iterator[str]:
        """Decoded lines, each at most MAX_LINE bytes, within MAX_LINES and MAX_BYTES; a BOM dropped."""
        for count, raw in enumerate(self._raw_lines(), 1):
            if count > MAX_LINES:
                self._notes.append(f"more than {MAX_LINES} lines; the rest ignored")
                return
            line = raw.decode("utf-8", "replace").rstrip("\r")
            yield line[1:] if line.startswith("\ufeff") else line  # a BOM starting a line marks, says nothing

    def _chunks(self) -> Iterator[bytes]:
        """The stream as UTF-8 bytes, at most :data:`MAX_BYTES` read from it: UTF-16/32 text (PowerShell
        5's ``>``) is transcoded chunk by chunk, and a change from UTF-8 to UTF-16/32 further on
        (PowerShell 5's ``>>``) is followed (:class:`Transcoder`)."""
        chunk = b"".join(_take(self.stream, CHUNK))  # a whole first chunk: the encoding is judged as detection did
        transcoder = self._transcoder = Transcoder(text_encoding(chunk[:HEAD]) or "utf-8")
        total = 0
        while chunk:
            total += len(chunk)  # bytes read, not bytes transcoded: a UTF-16 file is not read to twice the cap
            if total > MAX_BYTES:
                self._notes.append(f"text larger than {MAX_BYTES} bytes; the rest ignored")
                chunk = chunk[:len(chunk) - (total - MAX_BYTES)]
                yield transcoder.feed(chunk, final=True)
                return
            yield transcoder.feed(chunk)
            chunk = self.stream.read(CHUNK)
        yield transcoder.feed(b"", final=True)

    def _raw_lines(self) -> Iterator[bytes]:
        buf, cut, skipping = b"", 0, False
        for chunk in self._chunks():
            parts = (buf + chunk).split(b"\n")
            buf = parts.pop()
            for part in parts:
                if skipping:  # the remainder of an over-long line
                    skipping = False
                    continue
                yield part[:MAX_LINE]
            if skipping:
                buf = b""
            elif len(buf) > MAX_LINE:  # keep the start of an endless line, drop the rest up to its LF
                yield buf[:MAX_LINE]
                cut, skipping, buf = cut + 1, True, b""
        if buf and not skipping:
            yield buf[:MAX_LINE]
        if cut:
            self._notes.append(f"{cut} lines longer than {MAX_LINE} bytes were cut")

    def _pm_line(self, line: str) -> RecordedApp | None:
        rest = line[len("package:"):]
        first, _, tail = rest.partition(" ")
        package = first.rsplit("=", 1)[-1]  # the path holds '==': the package follows the LAST '='
        if not PACKAGE_RE.match(package):
            return None
        version = re.search(r"\bversionCode:(\d{1,19})\b", tail)
        installer = re.search(r"\binstaller=(\S+)", tail)
        note = f"installer {installer.group(1)}" if installer and installer.group(1) != "null" else ""
        return RecordedApp(chain=self.chain, package=package, recorded_by="pm list packages",
                           version_code=int(version.group(1)) if version else None, note=note)

    def _block_line(self, app: RecordedApp, line: str) -> None:
        stripped = line.strip()
        if stripped.startswith("User ") and (m := _USER_INSTALLED.match(stripped)):
            self.installed.setdefault(app.package, set()).add(m.group(1) == "true")
        elif app.version_code is None and (m := re.match(r"versionCode=(\d{1,19})\b", stripped)):
            app.version_code = int(m.group(1))
        elif app.version_name is None and stripped.startswith("versionName="):
            app.version_name = stripped[len("versionName="):][:256] or None
        elif app.package not in self.hashcodes and SIGS_PREFIX in stripped:
            listed = signature_list(stripped)
            if listed is None:
                self.unread_signatures += 1
                return
            self.hashcodes[app.package] = [h.strip() for h in listed.split(",") if HASH_RE.match(h.strip())]
