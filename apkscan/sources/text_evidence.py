"""Text evidence: ``dumpsys package`` and ``pm list packages`` output (shared ``backup-formats.md`` §5).

Each package becomes a :class:`RecordedApp` without certificates (``origin="listed"``):
text names packages, it proves no signer. ``dumpsys package`` does carry, per package,
the 32-bit Java ``Arrays.hashCode`` of each signing certificate's DER
(``signatures=PackageSignatures{... signatures:[<h>, ...]}``); they are kept in the
record's ``note`` and in :attr:`TextEvidenceReader.hashcodes`, and
:func:`java_cert_hashcode` computes the same value for a known certificate so rules can
match it later. Such a hash is not cryptographic: it can be forged and only *points at*
a known certificate, never proves one.

Detection (:func:`scan_for_listing`, called by the walker for any text) is in
:mod:`apkscan.sources.text_detect`. Reading is line by line with a cap on line length, line count and bytes, and every line is
read in time linear in its length (no backtracking pattern: see :func:`signature_list`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import BinaryIO

from apkscan.issues import warning
from apkscan.sources.dumpsys_state import (PACKAGE_RE, SIGS_PREFIX, DumpsysState, Unread, kept_hashcodes,
                                          names_a_package, signature_list)
from apkscan.sources.interface import DUMPSYS, MAX_DEVICE_RECORDS, PM_LIST, InputProblem, RecordedApp, Skipped
from apkscan.sources.text_detect import CHUNK, MAX_BYTES, take
from apkscan.sources.text_encodings import HEAD, Transcoder, misaligned, realigned, text_encoding

__all__ = ["TextEvidenceReader", "java_cert_hashcode", "signature_list"]

MAX_LINE = 16 * 1024
MAX_LINES = 5_000_000
_BLANK_RUN = re.compile(rb"\n(?:\r?\n)+")
MAX_APPS = MAX_DEVICE_RECORDS
GARBLED = ("\x00", "\ufeff", "\ufffe")  # in a line (past a BOM starting it): a decoding change not followed
# (so is UTF-16 read one byte off: text_encodings.misaligned)
# a package every 'User N:' line of whose block says installed=false is on no user of the device
# ('pm uninstall --user 0' of a preinstalled app, review 41 F3): a field forging such a line cannot
# remove the real one, which says true, so one true keeps it listed
_USER_INSTALLED = re.compile(r"User \d{1,9}: .*?\binstalled=(true|false)\b")
NOT_INSTALLED = "package installed for no user (installed=false on every 'User N:' line of its dumpsys block)"
EMPTY_SKIP = "text marked like a device listing that names no package on any line (source code, notes)"


def java_cert_hashcode(der: bytes) -> str:
    """``Integer.toHexString(Arrays.hashCode(der))``: what ``dumpsys package`` prints per signer."""
    h = 1
    for b in der:
        h = (31 * h + (b - 256 if b >= 0x80 else b)) & 0xFFFFFFFF
    return format(h, "x")


class _Reading:
    """One reading of the text: its lines, the packages they name, and every line it drops."""

    def __init__(self, chain: tuple[str, ...]):
        self.chain = chain
        self.apps: dict[str, RecordedApp] = {}
        self.state = DumpsysState()
        self.bad = Unread()  # 'package:' lines not understood
        self.stray = Unread()  # other non-blank lines, which only dumpsys/bugreport structure explains
        self.garbled = Unread()  # lines in another encoding than the one read: no structure explains them
        self.hidden: set[str] = set()  # packages read so far only from a hidden section's block
        self.capped = Unread()  # packages past MAX_APPS, ignored (counted, the first kept; said by _warnings)
        self.names_one = False  # a line names a dotted package after a listing's mark (read or not)
        self.hashcodes: dict[str, list[str]] = {}
        self.unread_signatures = 0  # PackageSignatures lines without a readable signature list
        self.installed: dict[str, set[bool]] = {}  # package -> the installed= values of its 'User N:' lines
        self.notes: list[str] = []
        self.buf, self.cut, self.skipping, self.count = b"", 0, False, 0  # the line being split, and counts

    def feed(self, chunk: bytes, final: bool, nul_led: bool = False) -> None:
        """Read the whole lines of UTF-8 ``chunk`` (the rest kept for the next). ``nul_led``: one NUL
        starting a line is dropped (the 8-bit reading: UTF-16LE's line break is LF then NUL)."""
        if self.count > MAX_LINES:  # past its line budget: said once, the rest not split
            return
        # blank lines say nothing: dropped at C speed, never counted (5M of them hid what followed: review 45 F6)
        parts = _BLANK_RUN.sub(b"\n", self.buf + chunk).split(b"\n")
        self.buf = parts.pop()
        for part in parts:
            if self.skipping:  # the remainder of an over-long line
                self.skipping = False
            elif nul_led and part.find(b"\0", 1) >= 0:  # UTF-16 text read as 8-bit: nothing to add, counted
                self.count += 1
            else:
                self._raw(part, nul_led)
        if self.skipping:
            self.buf = b""
        elif len(self.buf) > MAX_LINE:  # keep the start of an endless line, drop the rest up to its LF
            self._raw(self.buf, nul_led)
            self.cut, self.skipping, self.buf = self.cut + 1, True, b""
        if final:
            if self.buf:
                self._raw(self.buf, nul_led)
            self.buf = b""
            if self.cut:
                self.notes.append(f"{self.cut} lines longer than {MAX_LINE} bytes were cut")
        if self.count > MAX_LINES:
            self.notes.append(f"more than {MAX_LINES} lines; the rest ignored")  # once: no feed after it

    def _raw(self, raw: bytes, nul_led: bool) -> None:
        self.count += 1
        if self.count > MAX_LINES:  # said by feed
            return
        raw = raw[1 if nul_led and raw.startswith(b"\0") else 0:][:MAX_LINE]
        line = raw.decode("utf-8", "replace").rstrip("\r")
        self.line(line[1:] if line.startswith("\ufeff") else line)  # a BOM starting a line marks, says nothing

    def line(self, line: str) -> None:
        apps, state = self.apps, self.state
        if any(ch in line for ch in GARBLED) or misaligned(line):
            self.garbled.add(line, 1 + line.count("\u0a00"))  # the lines a LF read one byte off joined
            return
        self.names_one = self.names_one or names_a_package(line)
        if line.startswith("package:"):
            app = _pm_line(self.chain, line)
            if app is None:
                self.bad.add(line)
            elif len(apps) < MAX_APPS or app.package in apps:
                apps.setdefault(app.package, app)
            else:
                self.capped.add(app.package)
            return
        current = state.feed(line)
        if line.strip() and not state.structured:
            self.stray.add(line)
        if current is not None and current in apps and state.in_hidden:
            state.package = None  # the updated app's own block (under Packages:) is the one read
        elif current is not None and current not in apps and len(apps) >= MAX_APPS:
            self.capped.add(current)  # said whatever is deleted later (review 47 F2: gone packages made room unsaid)
        elif current is not None and (current not in apps or current in self.hidden):
            # a block read first under a hidden section (forged before the real one, review 41 F8)
            # gives way to the package's own block: its fields are the ones kept
            self.hidden.discard(current)
            self.hashcodes.pop(current, None)
            self.installed.pop(current, None)
            apps[current] = RecordedApp(chain=self.chain, package=current, recorded_by=DUMPSYS)
            if state.in_hidden:
                self.hidden.add(current)
        if state.package is not None and state.package in apps:
            self._block_line(apps[state.package], line)

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
            self.hashcodes[app.package] = kept_hashcodes(listed)

    def take(self, other: _Reading) -> list[str]:
        """The packages only ``other`` (a second reading of the same text) names, added to these;
        for one both name, the ``User N:`` lines of both count (one installed=true keeps it) and a
        field this reading lacks is taken from ``other`` (a block the change of encoding cut)."""
        only = [package for package in other.apps if package not in self.apps]
        room = max(0, MAX_APPS - len(self.apps))
        for package in only[room:]:  # the rest ignored, as MAX_APPS says, and said
            self.capped.add(package)
        self.capped.count += other.capped.count
        self.capped.first = self.capped.first or other.capped.first
        only = only[:room]
        for package in only:
            self.apps[package] = other.apps[package]
        for package, app in other.apps.items():
            mine = self.apps.get(package)
            if mine is not None and mine is not app:
                mine.version_code = app.version_code if mine.version_code is None else mine.version_code
                mine.version_name = mine.version_name or app.version_name
            if mine is not None and package in other.hashcodes:
                self.hashcodes.setdefault(package, other.hashcodes[package])
            if mine is not None and package in other.installed:
                self.installed.setdefault(package, set()).update(other.installed[package])
        self.names_one = self.names_one or other.names_one
        return only


def _pm_line(chain: tuple[str, ...], line: str) -> RecordedApp | None:
    rest = line[len("package:"):]
    first, _, tail = rest.partition(" ")
    package = first.rsplit("=", 1)[-1]  # the path holds '==': the package follows the LAST '='
    if not PACKAGE_RE.match(package):
        return None
    version = re.search(r"\bversionCode:(\d{1,19})\b", tail)
    installer = re.search(r"\binstaller=(\S+)", tail)
    note = f"installer {installer.group(1)}" if installer and installer.group(1) != "null" else ""
    return RecordedApp(chain=chain, package=package, recorded_by=PM_LIST,
                       version_code=int(version.group(1)) if version else None, note=note)


class TextEvidenceReader:
    """Packages named by ``pm list packages`` / ``dumpsys package`` text.

    Where 8-bit text changes encoding mid-way (:class:`Transcoder`), which reading is right is not
    guessed: from there it is read as the decoder reads it and as 8-bit text (and by a later decoder
    of another alignment), each reading with its own line state and budgets; a package named only
    by another reading than the first is listed too (weak, as all text is, its note says which) and
    ``TEXT_READ_TWO_WAYS`` says where (byte offsets), as it does 8-bit marks in the decoded text."""

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
        self.reading = _Reading(chain)
        self.hashcodes = self.reading.hashcodes
        self._notes: list[str] = []
        self._transcoder: Transcoder | None = None

    def entries(self) -> Iterator[RecordedApp | InputProblem]:
        readings = [self.reading]  # the first; from a change mid-text the 8-bit one, then later decoders'
        for outputs, born, final in self._chunks():
            for i in born:  # a reading begun: the line state up to this chunk, of the first or the 8-bit one
                readings.append(copy.deepcopy(readings[0 if i == 1 else 1]))
                readings[-1].notes, readings[-1].cut = [], 0  # what is cut before, the first says
            for i, (reading, out) in enumerate(zip(readings, outputs)):
                reading.feed(out, final, nul_led=i == 1)
            if all(reading.count > MAX_LINES for reading in readings):
                break  # each reading past its line budget: the rest is not read
        reading, only = self.reading, []
        for i, other in enumerate(readings[1:], 1):
            only += [(package, i) for package in reading.take(other)]
            self._notes += [f"{self._way(i)}: {note}" for note in other.notes]
        for package, i in only:
            reading.apps[package].note = "; ".join(filter(None, (reading.apps[package].note,
                                                                 f"named only when the text is read {self._way(i)}")))
        self._notes[:0] = reading.notes
        apps = reading.apps
        gone = [p for p, states in reading.installed.items() if states == {False} and p in apps]
        for package in gone:  # installed for no user ('pm uninstall --user 0'): not on the device's users
            del apps[package]
        if gone:
            yield Skipped(self.chain, NOT_INSTALLED, len(gone), gone[:3])
        for app in apps.values():
            hashes = reading.hashcodes.get(app.package)
            if hashes:
                app.note = "; ".join(filter(None, (app.note, "signature hashcodes (Java Arrays.hashCode of the "
                                                   "certificate DER, not proof): " + ", ".join(hashes))))
            yield app
        t = self._transcoder
        two = ([self._two_ways([p for p, _ in only])]
               if len(readings) > 1 and (only or t.marks_8bit or len(readings) > 2) else [])
        yield from self._warnings(reading, len(apps), two)

    def _way(self, i: int) -> str:
        """How the ``i``-th reading (1: the 8-bit one, then later decoders') reads the text."""
        at, order = self._transcoder.starts[max(0, i - 1)]
        return f"as 8-bit text from byte {at}" if i == 1 else f"as {order} from byte {at}"

    def _two_ways(self, only: list[str]):
        t = self._transcoder
        more = "".join(f"; and {self._way(i)} (a line of NULs or a BOM no decoder read)"
                       for i in range(2, len(t.starts) + 1))
        marks = f"; {t.marks_8bit} 'package:' or 'Package [' marks in its 8-bit text" if t.marks_8bit else ""
        named = (f"{len(only)} packages named only by another reading than the first, listed "
                 f"(first: {only[0]!r})") if only else "no package named only by another reading than the first"
        return warning("TEXT_READ_TWO_WAYS", f"read two ways from byte {t.forked_at}, where a line holding NULs "
                       f"or a BOM reads as {t.starts[0][1]} text: as that and as 8-bit text{more}; {named}{marks}")

    def _warnings(self, reading: _Reading, apps: int, said: list) -> Iterator[InputProblem | Skipped]:
        """Every line dropped is said: a listing's line that names no package is not silence. All of
        one text's issues are one input error (``said``: those found before), so one file counts as
        one input (review 62 L2: a one-line listing counted as 2)."""
        bad, blocks, stray, garbled = reading.bad, reading.state.bad_blocks, reading.stray, reading.garbled
        outside, before, t = reading.state.outside, reading.state.before, self._transcoder
        if not apps and self._nothing_listed(reading):
            if said:
                yield InputProblem(self.chain, said)
            yield Skipped(self.quiet_in, EMPTY_SKIP, 1, [self.chain[-1]])
            return
        if garbled.count:
            said.append(warning("TEXT_LINES_UNREADABLE", garbled.say("lines holding NUL bytes or a byte-order mark "
                                                                     "(another text encoding), or UTF-16 read one "
                                                                     "byte off, not understood")
                                        + realigned(garbled.first)))
        if t is not None and t.marks_8bit and t.forked_at is None:  # else the 8-bit reading read them
            said.append(warning("TEXT_LINES_UNREADABLE", f"{t.marks_8bit} 'package:' or 'Package [' "
                                f"marks in 8-bit text inside {t.encoding} text (another encoding appended), not read"))
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
        if reading.unread_signatures:
            said.append(warning("TEXT_LINES_UNREADABLE", f"{reading.unread_signatures} "
                                "'PackageSignatures' lines without a signature list"))
        if reading.capped.count:
            self._notes.append(f"more than {MAX_APPS} packages; {reading.capped.count} more package lines ignored (first: "
                               f"{reading.capped.first!r})")
        said += [warning("TEXT_LIMIT_EXCEEDED", note) for note in self._notes]
        if said:
            yield InputProblem(self.chain, said)

    def _nothing_listed(self, reading: _Reading) -> bool:
        """Text met in a folder that named no package: nothing in it is a listing (see ``quiet_in``)."""
        return (self.quiet_in is not None and not reading.names_one and not reading.garbled.count
                and not self._notes and not reading.unread_signatures
                and not (self._transcoder and self._transcoder.marks_8bit))

    def _chunks(self) -> Iterator[tuple[list[bytes], list[int], bool]]:
        """The stream as UTF-8 bytes, at most :data:`MAX_BYTES` read from it: each chunk as every reading
        reads it, the readings begun in it, and whether it is the last. UTF-16/32 text (PowerShell 5's
        ``>``) is transcoded chunk by chunk, and a change from UTF-8 to UTF-16/32 further on (PowerShell
        5's ``>>``) is followed, and read as 8-bit text too (:class:`Transcoder`)."""
        chunk = b"".join(take(self.stream, CHUNK))  # a whole first chunk: the encoding is judged as detection did
        transcoder = self._transcoder = Transcoder(text_encoding(chunk[:HEAD]) or "utf-8")
        total = 0
        while chunk:
            total += len(chunk)  # bytes read, not bytes transcoded: a UTF-16 file is not read to twice the cap
            if total > MAX_BYTES:
                self._notes.append(f"text larger than {MAX_BYTES} bytes; the rest ignored")
                chunk = chunk[:len(chunk) - (total - MAX_BYTES)]
                transcoder.feed(chunk, final=True)
                yield transcoder.outputs, transcoder.born, True
                return
            transcoder.feed(chunk)
            yield transcoder.outputs, transcoder.born, False
            chunk = self.stream.read(CHUNK)
        transcoder.feed(b"", final=True)
        yield transcoder.outputs, transcoder.born, True
