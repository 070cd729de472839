"""Where a line of ``dumpsys package`` output sits: which blocks are apps, which lines are dropped.

A package's own fields (versionName, label, a MIME type) are printed as the app wrote them, so a
newline in one prints a line at column 0: a forged section header. The state here decides which
``  Package [name] (hash):`` blocks are apps and counts every header it does not read, so no block
vanishes unsaid (:mod:`apkscan.sources.text_evidence` reads the lines and says the counts). Also
here: what a ``PackageSignatures`` line lists, and whether a line names a package after a mark.
"""

from __future__ import annotations

import re

from apkscan.sources.text_encodings import DUMPSYS_FIRST_LINES

MAX_EXAMPLE = 80
PACKAGE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.]{0,254}$")
BLOCK_RE = re.compile(r"^  Package \[([^\]\s]{1,255})\] \([0-9a-f]+\):")
SIGS_PREFIX = "signatures=PackageSignatures{"
_TOKEN = re.compile(r"[ \t]*(\S*)")
_DOTTED = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+")


class Unread:
    """A count of dropped lines and the first one (bounded), for the warning."""

    def __init__(self):
        self.count = 0
        self.first = ""

    def add(self, line: str, lines: int = 1) -> None:
        if not self.count:
            self.first = line[:MAX_EXAMPLE]
        self.count += lines

    def say(self, what: str) -> str:
        return f"{self.count} {what} (first: {self.first!r})"


class DumpsysState:
    """Where we are in ``dumpsys package`` output: ``Packages:`` (and ``Hidden system packages:``)
    blocks are the apps, in whichever ``DUMP OF SERVICE`` of a bugreport they sit (only the package
    service prints them, and a package's field can print a fake service header). A package block
    header outside those sections, once dumpsys structure was seen, is read and counted after a
    ``Packages:`` section began (``outside``: a field printing a line at column 0 ended it, and
    the blocks after it must not vanish nor be named only in a count: review 40 F6), counted only
    before one (``before``).
    """

    def __init__(self):
        self.in_packages = False
        self.structured = False  # a dumpsys/bugreport section was seen: other lines are other sections
        self.bad_blocks = Unread()  # "  Package [...]" lines of the Packages section that name no package
        self.outside = Unread()  # package block headers after a Packages: section began, outside it (read, counted)
        self.before = Unread()  # package block headers past structure, before any Packages: section (counted)
        self.in_hidden = False  # "Hidden system packages:": updated system apps' originals, listed under Packages:
        self.seen_packages = False  # a Packages: section began: a block header after it is real
        self.package: str | None = None

    def feed(self, line: str) -> str | None:
        """The package whose block starts on ``line``, if any."""
        if line.startswith(DUMPSYS_FIRST_LINES + ("DUMP OF SERVICE ", "== dumpstate:", "=====")):
            self.structured = True
        if line.startswith("DUMP OF SERVICE "):
            self.in_packages, self.package = False, None
            return None
        if line and not line[0].isspace():
            # a Packages: section is read in whichever service it sits: only the package service prints
            # one, and a package's field can print a fake 'DUMP OF SERVICE x:' before it (review 41 F2);
            # the hidden originals of updated system apps are read like Packages: blocks (the app is
            # listed once): a package's field can print this header too, and the blocks after it are real
            self.in_hidden = line.rstrip() == "Hidden system packages:"
            self.in_packages = line.rstrip() == "Packages:" or self.in_hidden
            self.seen_packages = self.seen_packages or self.in_packages
            self.package = None
            return None
        if not self.in_packages:  # a block header here was cut from its section (a package's versionName or
            if not (self.structured and BLOCK_RE.match(line)):  # label can print a line at column 0, or
                return None  # 'DUMP OF SERVICE x'): read once a Packages: section began, and counted
            if not self.seen_packages:  # before any Packages: section: counted only (review 40 F6)
                self.before.add(line)
                return None
            self.outside.add(line)
        m = BLOCK_RE.match(line)
        if m:
            self.package = m.group(1) if PACKAGE_RE.match(m.group(1)) else None
            if self.package is None:
                self.bad_blocks.add(line)
            return self.package
        if line.startswith("  Package ["):  # a package block whose header does not read: said, not dropped
            self.bad_blocks.add(line)
        if line.startswith("  ") and not line.startswith("    ") and line.strip():
            self.package = None  # another 2-space item ends the block
        return None


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


def names_a_package(line: str) -> bool:
    """A ``package:`` or ``Package [`` mark anywhere in ``line`` (indented, quoted, after a path and
    ``=``) followed by a dotted package name, as every app's is (Android requires a dot). Linear:
    each mark's token is read once."""
    for mark in ("package:", "Package ["):
        at = line.find(mark)
        while at >= 0:
            token = _TOKEN.match(line, at + len(mark))
            if _DOTTED.match(token.group(1).rsplit("=", 1)[-1]):
                return True
            at = line.find(mark, token.end())
    return False


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


HASH_RE = re.compile(r"^-?[0-9a-f]{1,8}$")  # a signature's hashcode as dumpsys prints it
MAX_HASHCODES = 16  # kept per package: a real one lists one or a few


def kept_hashcodes(listed: str) -> list[str]:
    """The hashcodes of a ``signatures:[...]`` list, the first :data:`MAX_HASHCODES` kept and the
    rest counted (``and N more``): a field can list thousands, and 18,000 packages listing 4,000
    each took 7.5 GB in the walker (review 45 F3)."""
    parts = listed.split(",", MAX_HASHCODES)
    kept = [h.strip() for h in parts[:MAX_HASHCODES] if HASH_RE.match(h.strip())]
    more = listed.count(",") + 1 - MAX_HASHCODES
    return kept + ([f"and {more} more"] if more > 0 else [])
