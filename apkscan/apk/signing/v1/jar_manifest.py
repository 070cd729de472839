"""MANIFEST.MF / .SF parsing, as Android's JAR verifier does (the .SF -> MANIFEST.MF link:
:mod:`apkscan.apk.signing.v1.signature_file`).

The section byte ranges matter as much as the attributes: .SF files sign individual
manifest sections by digesting their exact bytes, so the parser tracks where each
section starts and ends, mirroring apksig's ``ManifestParser`` line by line (lone CR,
LF and CRLF all end a line; a line starting with a space continues the previous one;
an empty line ends a section). Which digest attributes Android checks depends on the
SDK range; :func:`digests_to_verify` mirrors apksig's ``getDigestsToVerify`` and
:func:`verify_sf` its ``verifySigFileAgainstManifest`` (issue names verbatim).
"""

from __future__ import annotations

import re
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from apkscan.apk.io.java_utf8 import ERRORS as JAVA_UTF8
from apkscan.apk.signing.common import Sdk
from apkscan.apk.signing.v1.java_text import FOLDED_MAX, decode_base64, jfold  # noqa: F401 - FOLDED_MAX re-exported
from apkscan.issues import ApkScanError, LimitExceeded

MANIFEST_NAME = "META-INF/MANIFEST.MF"

# MANIFEST.MF and .SF files hold one section per signed entry: 17 MB each for 65,000 entries
# with 190-byte names (a real apksigner-signed APK, review 18). apksig has no cap; these two
# bound memory instead, and hitting either is an input-level limit (the identity is partly
# read), never a "does not verify". MAX_ITEMS counts the attributes of one file (a section
# opens with one): a real manifest has 2-3 per entry (at most ~600,000 for ZipArchive's 200,000
# entries); 5 million one-line sections peaked at 1.74 GB (review 24), a million at about a fifth.
MAX_MANIFEST_SIZE = 64 << 20
MAX_ITEMS = 1_000_000


# JCA digest name -> hashlib name
HASHLIB_NAMES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
JCA_NAMES = {v: k for k, v in HASHLIB_NAMES.items()}

# Names accepted in Digest-Algorithms (upper-cased) -> canonical JCA name
_CANONICAL = {"MD5": "MD5", "SHA": "SHA-1", "SHA1": "SHA-1", "SHA-1": "SHA-1",
              "SHA-256": "SHA-256", "SHA-384": "SHA-384", "SHA-512": "SHA-512"}
# First SDK level whose JAR verifier understands a digest in MANIFEST.MF / .SF
_DIGEST_MIN_SDK = {"MD5": 0, "SHA-1": 0, "SHA-256": 0, "SHA-384": Sdk.GINGERBREAD, "SHA-512": Sdk.GINGERBREAD}
# JB MR2+ picks the strongest of these that is present
_JB_MR2_ALGS = ("SHA-512", "SHA-384", "SHA-256", "SHA-1")


class Section:
    """One manifest section: its attributes and the exact byte range it occupies.

    A *lazy* section (``parse(..., lazy=True)``: MANIFEST.MF's per-entry sections, one per
    entry) keeps its range, its name and a reference to the file's bytes, and parses its
    attributes again from those bytes when asked (v1 reads each once): 65,000 sections held as
    (name, value) tuples took ~20 MB. Equal sections compare equal whichever way they are kept.
    """

    __slots__ = ("start", "size", "name", "_src")

    def __init__(self, start: int, size: int, attributes: tuple[tuple[str, str], ...] = (), *,
                 name: str | None = None, data: bytes | None = None):
        self.start, self.size = start, size
        if data is None:
            self._src = tuple(attributes)
            # the value of a first attribute called Name (case-insensitive), else None
            self.name = self._src[0][1] if self._src and jfold(self._src[0][0]) == "name" else None
        else:
            self._src, self.name = data, name

    @property
    def attributes(self) -> tuple[tuple[str, str], ...]:
        if isinstance(self._src, tuple):
            return self._src
        return section_attributes(self._src[self.start : self.start + self.size])

    def get(self, name: str) -> str | None:
        """First attribute of that name, compared case-insensitively as Java's Attributes do."""
        lname = jfold(name)
        for key, value in self.attributes:
            if jfold(key) == lname:
                return value
        return None

    def _key(self):
        return self.start, self.size, self.attributes

    def __eq__(self, other) -> bool:
        return isinstance(other, Section) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Section(start={self.start}, size={self.size}, attributes={self.attributes!r})"


def section_attributes(chunk: bytes) -> tuple[tuple[str, str], ...]:
    """The attributes of one section's bytes (its first line taken whole, continuation lines
    joined, up to its closing empty line), as :func:`iter_sections` reads them."""
    attrs: list[tuple[str, str]] = []
    if b"\n " not in chunk and b"\r " not in chunk:  # no continuation line (the usual case)
        for text in chunk.splitlines():
            if not text:
                break
            attrs.append(_parse_attr(text.decode("utf-8", JAVA_UTF8)))
        return tuple(attrs)
    current: bytearray | None = None
    for text in chunk.splitlines():
        if not text:
            break
        if current is not None and text[:1] == b" ":
            current += memoryview(text)[1:]
            continue
        if current is not None:
            attrs.append(_parse_attr(current.decode("utf-8", JAVA_UTF8)))
        current = bytearray(text)
    if current is not None:
        attrs.append(_parse_attr(current.decode("utf-8", JAVA_UTF8)))
    return tuple(attrs)


_TOKEN = re.compile(r"[^ \t\n\r\f]+")  # between java.util.StringTokenizer's default delimiters (review 43 F3)
MAX_DIGEST_ALGORITHMS = 4096  # tokens of one Digest-Algorithms walked (a real one names one or two)
_LINE_END = re.compile(rb"\r\n?|\n")  # CRLF, a lone CR or LF, as apksig's ManifestParser


def _parse_attr(attr: str) -> tuple[str, str]:
    name, sep, value = attr.partition(": ")
    # names repeat in every section ("Name", "SHA-256-Digest"): one string each (a 65,000-entry
    # manifest and its .SF held ~15 MB of copies)
    return (sys.intern(name), value) if sep else (attr, "")


WINDOW = 1 << 20  # lines are split a window at a time (the lines of a whole file at once could be millions)


def parse(data: bytes, max_items: int = MAX_ITEMS, same_name=None, lazy: bool = False):
    """(main section, individual sections) of a manifest or signature file (``iter_sections``).
    ``lazy``: the individual sections as a ``Sections`` table (ranges and names); the main
    section is always parsed whole."""
    if lazy:
        sections = iter_sections(data, max_items, same_name, lazy=True)
        main, table = next(sections, None), Sections(data)
        for s in sections:
            table.append(s.start, s.size, s.name)
        return main, table
    sections = list(iter_sections(data, max_items, same_name))
    return (sections[0] if sections else None), sections[1:]


def iter_sections(data: bytes, max_items: int = MAX_ITEMS, same_name=None, lazy: bool = False):
    """Every section of a manifest or signature file in order, the main section first; one at a
    time, so a caller that looks at each once (the .SF check) holds one, not all.

    apksig's ManifestParser: lines end at CRLF, CR or LF; an empty line ends a section (and is
    part of it); empty lines between sections belong to none; a line starting with a space
    continues the attribute before it, unless it opens a section (then it is taken whole).
    Time is linear; memory is bounded by the caller's byte cap (``MAX_MANIFEST_SIZE``) and by
    ``max_items`` attributes (a section opens with one). apksig reads any count: past the bound
    ``LimitExceeded("INPUT_JAR_MANIFEST_LIMIT")`` is an input-level limit, never a verdict.
    ``same_name``: str -> an equal str already held (the ZIP entry's name), so that a section's
    Name is not a second copy of it (65,000 long names: ~16 MB). ``lazy``: sections after the
    first keep only their range and name (their other attributes are counted, not kept)."""
    start = pos = 0
    items = sections = 0
    attrs: list[tuple[str, str]] = []
    current: bytearray | None = None  # the attribute being read (None: between sections)
    kept = True  # whether it is kept (lazy: a later section's first attribute only)
    for line in _lines(data):
        end = pos + len(line)
        text = line.rstrip(b"\r\n")
        if text and (current is None or text[:1] != b" "):  # a new attribute (a section's first opens it)
            items += 1
            if items > max_items:
                raise LimitExceeded("INPUT_JAR_MANIFEST_LIMIT", f"more than {max_items} attributes in one MANIFEST.MF or "
                                    ".SF file: not parsed further (apksig has no such limit)")
        if not text:  # an empty line: ends the open section, or is skipped between sections
            if current is not None:
                yield _section(data, start, end - start, attrs, current if kept else None, same_name, lazy and sections > 0)
                sections += 1
                attrs, current = [], None
            pos = end
            continue
        if current is None:  # a section's first line, taken whole
            start, current, kept = pos, bytearray(text), True
        elif text[:1] == b" ":
            if kept:
                current += memoryview(text)[1:]
        else:
            if kept:
                attrs.append(_parse_attr(current.decode("utf-8", JAVA_UTF8)))
            kept = not lazy or sections == 0
            current = bytearray(text) if kept else _SKIPPED
        pos = end
    if current is not None:
        yield _section(data, start, pos - start, attrs, current if kept else None, same_name, lazy and sections > 0)


_SKIPPED = bytearray()  # stands for an attribute a lazy section does not keep (never written to)


def _section(data: bytes, start: int, size: int, attrs: list, last: bytearray | None, same_name, lazy: bool) -> Section:
    """The section just read: ``attrs`` and the ``last`` attribute still being read (None when
    it was not kept), or, ``lazy``, its range and name over ``data``."""
    if last is not None:
        attrs.append(_parse_attr(last.decode("utf-8", JAVA_UTF8)))
    attrs = list(_shared_name(attrs, same_name))
    if lazy:
        name = attrs[0][1] if jfold(attrs[0][0]) == "name" else None
        return Section(start, size, name=name, data=data)
    return Section(start, size, tuple(attrs))


def _shared_name(attrs: list[tuple[str, str]], same_name) -> tuple[tuple[str, str], ...]:
    if same_name is not None and jfold(attrs[0][0]) == "name":
        attrs[0] = (attrs[0][0], same_name(attrs[0][1]))
    return tuple(attrs)


def _lines(data: bytes, window: int | None = None):
    """Every line with its end (CRLF, CR or LF, as ``bytes.splitlines`` breaks), a window of
    the data at a time; a window ends after a line end (a CRLF is never cut in two)."""
    window = window or WINDOW
    pos, size = 0, len(data)
    while pos < size:
        stop = min(size, pos + window)
        if stop < size:
            cut = max(data.rfind(b"\n", pos, stop), data.rfind(b"\r", pos, stop))
            if cut < 0:  # one line longer than the window: up to its end
                found = _LINE_END.search(data, stop)
                stop = found.end() if found else size
            else:
                stop = cut + 2 if data[cut] == 0x0D and data[cut + 1:cut + 2] == b"\n" else cut + 1
        yield from data[pos:stop].splitlines(keepends=True)
        pos = stop


class Sections(Sequence):
    """A manifest's individual sections as ranges and names over its bytes (a ``Section`` is
    made when one is asked for): ~30 bytes a section, not an object each, and one index of the
    names for the pass's plan and v1 (each built a dict of 65,000 before).

    ``get(name)``: the first section of that name, as v1 reads it (a later one is a duplicate,
    which v1 reports and refuses)."""

    def __init__(self, data: bytes):
        self._data = data
        self._start, self._size = array("q"), array("q")
        self.names: list[str | None] = []
        self._first: dict[str, int] = {}

    def append(self, start: int, size: int, name: str | None) -> None:
        if name is not None:
            self._first.setdefault(name, len(self.names))
        self._start.append(start)
        self._size.append(size)
        self.names.append(name)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        return Section(self._start[i], self._size[i], name=self.names[i], data=self._data)

    def first(self, name: str) -> int | None:
        """The position of the first section of that name, or None."""
        return self._first.get(name)

    def get(self, name: str, default=None) -> Section | None:
        i = self._first.get(name)
        return default if i is None else self[i]

    def __contains__(self, name) -> bool:  # by name, as the dict it replaces
        return name in self._first


class ManifestOnce:
    """MANIFEST.MF entries read and parsed once per APK, for the file pass's plan and for v1
    (each read, inflated and parsed it before). A failure is kept and raised again to the next
    caller, at the point where that caller would have met it."""

    def __init__(self, zip):
        self._zip = zip
        self._read: dict[tuple[int, int], bytes | Exception] = {}
        self._parsed: dict[tuple[int, int], tuple[Section | None, Sections]] = {}

    def read(self, entry, limit: int) -> bytes:
        """``zip.read(entry, limit)``, once."""
        got = self._read.get((entry.index, limit))
        if got is None:
            try:
                got = self._zip.read(entry, limit)
            except Exception as exc:  # noqa: BLE001 - kept for the caller, raised below
                got = exc
            self._read[(entry.index, limit)] = got
        if isinstance(got, Exception):
            raise got
        return got

    def parse(self, entry, limit: int) -> tuple[Section | None, Sections]:
        """(main section, individual sections: ``Sections``, shared read-only), parsed once."""
        key = (entry.index, limit)
        got = self._parsed.get(key)
        if got is None:
            got = self._parsed[key] = parse(self.read(entry, limit), same_name=self._entry_name, lazy=True)
        return got

    def _entry_name(self, name: str) -> str:
        entry = self._zip.entry(name)
        return name if entry is None else entry.name


@dataclass(frozen=True, slots=True)
class NamedDigest:
    """A digest from a manifest or signature file, with the JCA name of its algorithm."""

    algorithm: str  # JCA name: "SHA-1", "SHA-256", ...
    digest: bytes


def attribute_name(algorithm: str, suffix: str) -> str:
    return ("SHA1" if algorithm == "SHA-1" else algorithm) + suffix


def digests_to_verify(section: Section, suffix: str, min_sdk: int, max_sdk: int,
                      source: str = MANIFEST_NAME) -> list[NamedDigest]:
    """The digests Android checks for ``section`` over [min_sdk, max_sdk] (apksig's rules).

    Before JB MR2 (18) Android walks ``Digest-Algorithms`` (default "SHA SHA1") and uses
    the first supported one present; from 18 it picks the strongest of SHA-512/384/256/1.
    Both apply when the range spans 18. An empty result means "no usable digest". A chosen
    digest that is not valid Base64 raises ``JAR_SIG_MALFORMED_DIGEST``: apksig's
    ``java.util.Base64`` decoder throws there and apksigner verifies nothing (review 73 F2).
    ``source`` names the file (MANIFEST.MF or the .SF) in that error.
    """
    result: list[NamedDigest] = []
    first: dict[str, str] = {}  # a lazy section is parsed once here, not per attribute asked
    for key, value in section.attributes:
        first.setdefault(jfold(key), value)
    get = lambda name: first.get(jfold(name))  # noqa: E731 - as Section.get: case-insensitive, the first
    if min_sdk < Sdk.JELLY_BEAN_MR2:
        algs = get("Digest-Algorithms")
        for n, token in enumerate(_TOKEN.finditer(algs if algs is not None else "SHA SHA1")):  # never listed whole
            if n == MAX_DIGEST_ALGORITHMS:  # 20M tokens took 1.6 GB as a list (review 45 F5); Java walks them all
                raise LimitExceeded("INPUT_JAR_MANIFEST_LIMIT", f"a Digest-Algorithms attribute names more than "
                                    f"{MAX_DIGEST_ALGORITHMS} algorithms before one apkscan can use")
            alg = token.group()
            value = get(alg + suffix)
            if value is None:
                continue
            canonical = _CANONICAL.get(alg.upper())
            if canonical is None or _DIGEST_MIN_SDK[canonical] > min_sdk:
                continue
            result.append(NamedDigest(canonical, _decoded(value, alg + suffix, section, source)))
            break
        if not result:
            return result
    if max_sdk >= Sdk.JELLY_BEAN_MR2:
        for alg in _JB_MR2_ALGS:
            value = get(attribute_name(alg, suffix))
            if value is None:
                continue
            digest = _decoded(value, attribute_name(alg, suffix), section, source)
            if not any(d.algorithm == alg and d.digest == digest for d in result):
                result.append(NamedDigest(alg, digest))
            break
    return result


def _decoded(value: str, attribute: str, section: Section, source: str) -> bytes:
    digest = decode_base64(value)
    if digest is None:
        where = "main section" if section.name is None else f"section {section.name[:200]!r}"
        raise ApkScanError("JAR_SIG_MALFORMED_DIGEST", f"{attribute} of the {where} of {source} is not valid Base64 "
                           f"({value[:60]!r}): apksig's decoder throws there, so apksigner verifies nothing")
    return digest
