"""Text evidence: ``dumpsys package`` and ``pm list packages`` output (shared ``backup-formats.md`` §5).

Each package becomes a :class:`RecordedApp` without certificates (``origin="listed"``):
text names packages, it proves no signer. ``dumpsys package`` does carry, per package,
the 32-bit Java ``Arrays.hashCode`` of each signing certificate's DER
(``signatures=PackageSignatures{... signatures:[<h>, ...]}``); they are kept in the
record's ``note`` and in :attr:`TextEvidenceReader.hashcodes`, and
:func:`java_cert_hashcode` computes the same value for a known certificate so rules can
match it later. Such a hash is not cryptographic: it can be forged and only *points at*
a known certificate, never proves one.

Reading is line by line with a cap on line length, line count and bytes, and every line is
read in time linear in its length (no backtracking pattern: see :func:`signature_list`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from apkscan.issues import warning
from apkscan.sources.interface import InputProblem, RecordedApp

MAX_LINE = 16 * 1024
MAX_LINES = 5_000_000
MAX_BYTES = 1 << 30
MAX_APPS = 100_000
CHUNK = 64 * 1024
PACKAGE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.]{0,254}$")
BLOCK_RE = re.compile(r"^  Package \[([^\]\s]{1,255})\] \([0-9a-f]+\):")
SIGS_PREFIX = "signatures=PackageSignatures{"
HASH_RE = re.compile(r"^-?[0-9a-f]{1,8}$")
DUMPSYS_FIRST_LINES = ("Activity Resolver Table:", "Database versions:", "Packages:", "DUMP OF SERVICE package:",
                       "Verifiers:", "Intent Filter Verifier:", "Libraries:", "Features:",
                       "Domain verification status:")


def java_cert_hashcode(der: bytes) -> str:
    """``Integer.toHexString(Arrays.hashCode(der))``: what ``dumpsys package`` prints per signer."""
    h = 1
    for b in der:
        h = (31 * h + (b - 256 if b >= 0x80 else b)) & 0xFFFFFFFF
    return format(h, "x")


def looks_like_text_evidence(head: bytes) -> bool:
    """``pm list packages`` output, ``dumpsys package`` output, or a bugreport's main text."""
    if b"\0" in head:
        return False
    text = head.decode("utf-8", "replace").lstrip("\ufeff")
    first = text.lstrip().split("\n", 1)[0].rstrip("\r")
    return (first.startswith("package:") or first.startswith(DUMPSYS_FIRST_LINES)
            or first.startswith("== dumpstate:") or "\n  Package [" in text
            or (first.startswith("=====") and "== dumpstate:" in text[:1024]))


class TextEvidenceReader:
    """Packages named by ``pm list packages`` / ``dumpsys package`` text."""

    kind = "text-evidence"

    def __init__(self, stream: BinaryIO, chain: tuple[str, ...]):
        self.stream = stream
        self.chain = chain
        self.hashcodes: dict[str, list[str]] = {}
        self.unread_signatures = 0  # PackageSignatures lines without a readable signature list
        self._notes: list[str] = []

    def entries(self) -> Iterator[RecordedApp | InputProblem]:
        apps: dict[str, RecordedApp] = {}
        state = _DumpsysState()
        bad = 0
        for line in self._lines():
            if line.startswith("package:"):
                app = self._pm_line(line)
                bad += app is None
                if app is not None and len(apps) < MAX_APPS:
                    apps.setdefault(app.package, app)
                continue
            current = state.feed(line)
            if current is not None and current not in apps and len(apps) < MAX_APPS:
                apps[current] = RecordedApp(chain=self.chain, package=current, recorded_by="dumpsys package")
            if state.package is not None and state.package in apps:
                self._block_line(apps[state.package], line)
        for app in apps.values():
            hashes = self.hashcodes.get(app.package)
            if hashes:
                app.note = "signature hashcodes (Java Arrays.hashCode of the certificate DER, not proof): " + \
                    ", ".join(hashes)
            yield app
        if bad:
            yield InputProblem(self.chain, [warning("TEXT_LINES_UNREADABLE", f"{bad} 'package:' lines not understood")])
        if self.unread_signatures:
            yield InputProblem(self.chain, [warning("TEXT_LINES_UNREADABLE", f"{self.unread_signatures} "
                                                    "'PackageSignatures' lines without a signature list")])
        if len(apps) >= MAX_APPS:
            self._notes.append(f"more than {MAX_APPS} packages; the rest ignored")
        for note in self._notes:
            yield InputProblem(self.chain, [warning("TEXT_LIMIT_EXCEEDED", note)])

    def _lines(self) -> Iterator[str]:
        """Decoded lines, each at most MAX_LINE bytes, within MAX_LINES and MAX_BYTES."""
        for count, raw in enumerate(self._raw_lines(), 1):
            if count > MAX_LINES:
                self._notes.append(f"more than {MAX_LINES} lines; the rest ignored")
                return
            yield raw.decode("utf-8", "replace").rstrip("\r")

    def _raw_lines(self) -> Iterator[bytes]:
        buf, total, cut, skipping = b"", 0, 0, False
        while True:
            chunk = self.stream.read(CHUNK)
            total += len(chunk)
            if total > MAX_BYTES:
                self._notes.append(f"text larger than {MAX_BYTES} bytes; the rest ignored")
                chunk = b""
            if not chunk:
                break
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
        if app.version_code is None and (m := re.match(r"versionCode=(\d{1,19})\b", stripped)):
            app.version_code = int(m.group(1))
        elif app.version_name is None and stripped.startswith("versionName="):
            app.version_name = stripped[len("versionName="):][:256] or None
        elif app.package not in self.hashcodes and SIGS_PREFIX in stripped:
            listed = signature_list(stripped)
            if listed is None:
                self.unread_signatures += 1
                return
            self.hashcodes[app.package] = [h.strip() for h in listed.split(",") if HASH_RE.match(h.strip())]


def signature_list(line: str) -> str | None:
    """What ``signatures=PackageSignatures{... signatures:[<list>]`` holds, in one left-to-right pass.

    Same answer as the regex ``signatures=PackageSignatures\\{[^}]*?\\bsignatures:\\[([^\\]]*)\\]``
    (the first ``signatures:[`` at a word start before the block's ``}``, up to the next ``]``),
    which backtracked cubically: 16 KB of repeated prefixes took 2 s a line. Here a prefix whose
    block holds no list is skipped with its whole block (a later prefix inside that block has
    its block inside it, so no list either): every character is looked at a bounded number of times.
    """
    start = line.find(SIGS_PREFIX)
    while start >= 0:
        body = start + len(SIGS_PREFIX)
        end = line.find("}", body)
        end = len(line) if end < 0 else end
        at = line.find("signatures:[", body, end)
        while at > body and _word_char(line[at - 1]):  # the regex's \b: not inside a longer word
            at = line.find("signatures:[", at + 1, end)
        if at >= 0:
            close = line.find("]", at + len("signatures:["))
            return None if close < 0 else line[at + len("signatures:["):close]
        start = line.find(SIGS_PREFIX, end)
    return None


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


class _DumpsysState:
    """Where we are in ``dumpsys package`` output: only ``Packages:`` blocks count.

    In a bugreport the package service's dump sits between ``DUMP OF SERVICE package:`` and
    the next ``DUMP OF SERVICE``; other services' text is ignored.
    """

    def __init__(self):
        self.in_packages = False
        self.services_seen = False
        self.in_package_service = False
        self.package: str | None = None

    def feed(self, line: str) -> str | None:
        """The package whose block starts on ``line``, if any."""
        if line.startswith("DUMP OF SERVICE "):
            self.services_seen = True
            self.in_package_service = line.strip() == "DUMP OF SERVICE package:"
            self.in_packages, self.package = False, None
            return None
        if line and not line[0].isspace():
            self.in_packages = line.rstrip() == "Packages:" and (not self.services_seen or self.in_package_service)
            self.package = None
            return None
        if not self.in_packages:
            return None
        m = BLOCK_RE.match(line)
        if m:
            self.package = m.group(1) if PACKAGE_RE.match(m.group(1)) else None
            return self.package
        if line.startswith("  ") and not line.startswith("    ") and line.strip():
            self.package = None  # another 2-space item ends the block
        return None
