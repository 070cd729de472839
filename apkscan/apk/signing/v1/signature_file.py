"""The .SF file checked against MANIFEST.MF, as Android's JAR verifier does (apksig's
``verifySigFileAgainstManifest``, issue names verbatim): the digest of the whole manifest or of
its main section and each named section, and the stripping protection (``X-Android-APK-Signed``).
A digest apksig decodes that is not valid Base64 raises (``JAR_SIG_MALFORMED_DIGEST``): apksig
throws there, so the whole verification ends, not this signer's alone.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from dataclasses import dataclass, field

from apkscan.apk.signing.common import Sdk
from apkscan.apk.signing.v1.jar_manifest import (
    HASHLIB_NAMES,
    MANIFEST_NAME,
    Section,
    Sections,
    digests_to_verify,
    iter_sections,
)
from apkscan.issues import Issue, error, warning

SCHEME_TITLES = {2: "APK Signature Scheme v2", 3: "APK Signature Scheme v3"}


@dataclass(slots=True)
class SfCheck:
    """Outcome of checking one .SF file against MANIFEST.MF."""

    main: Section | None = None
    entries: set[str] = field(default_factory=set)  # entry names the .SF covers
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    ignored: bool = False  # Android skips this signer instead of rejecting the APK


def verify_sf(sf_bytes: bytes, sf_name: str, manifest: bytes, main: Section | None, sections: dict[str, Section],
              min_sdk: int, max_sdk: int, found_ids: frozenset[int]) -> SfCheck:
    """Check a .SF file's digests of MANIFEST.MF and its stripping protection."""
    out = SfCheck()
    # one at a time: a .SF holds a section per entry; names shared with MANIFEST.MF's (one copy each)
    # lazy: a section's digests are parsed only when the whole manifest's digest did not verify
    sf_sections = iter_sections(sf_bytes, same_name=_names_of(sections), lazy=True)
    sf_main = next(sf_sections, None)
    out.main = sf_main
    if sf_main is None or sf_main.get("Signature-Version") is None:
        out.errors.append(error("JAR_SIG_MISSING_VERSION_ATTR_IN_SIG_FILE", f"malformed {sf_name}: missing Signature-Version attribute"))
        out.ignored = True
        return out
    if max_sdk >= Sdk.N:  # N+ rejects APKs whose v2+ signature was stripped
        _check_stripping(sf_main, sf_name, max_sdk, found_ids, out)
        if out.errors:
            return out
    created_by = sf_main.get("Created-By")
    signtool = created_by is not None and "signtool" in created_by
    whole_ok = _manifest_digest(sf_main, sf_name, signtool, manifest, min_sdk, max_sdk, out)
    if not signtool:
        start, size = (main.start, main.size) if main else (0, 0)
        for d in digests_to_verify(sf_main, "-Digest-Manifest-Main-Attributes", min_sdk, max_sdk, sf_name):
            if digest(d.algorithm, manifest[start:start + size]) != d.digest:
                out.errors.append(error("JAR_SIG_MANIFEST_MAIN_SECTION_DIGEST_DID_NOT_VERIFY", f"{d.algorithm} digest of {MANIFEST_NAME} main section does not match the digest specified in {sf_name}"))
    if out.errors:
        return out
    for number, sf_section in enumerate(sf_sections, 1):
        name = sf_section.name
        if name is None:
            out.errors.append(error("JAR_SIG_UNNNAMED_SIG_FILE_SECTION", f"malformed {sf_name}: invidual section #{number} does not have a name"))
            out.ignored = True
            return out
        if name in out.entries:
            out.errors.append(error("JAR_SIG_DUPLICATE_SIG_FILE_SECTION", f"duplicate section in {sf_name}: {name}"))
            out.ignored = True
            return out
        out.entries.add(name)
        if whole_ok:  # the whole manifest verified: per-entry sections need not
            continue
        section = sections.get(name)
        if section is None:
            out.errors.append(error("JAR_SIG_NO_ZIP_ENTRY_DIGEST_IN_SIG_FILE", f"no digest for {name} in {sf_name}"))
            out.ignored = True
            continue
        _section_digest(sf_section, sf_name, signtool, section, manifest, min_sdk, max_sdk, out)
    return out


def _names_of(sections):
    """str -> the equal name MANIFEST.MF's sections hold (one copy of each name), or the str."""
    if isinstance(sections, Sections):  # without making a Section per name
        return lambda n: n if (i := sections.first(n)) is None else sections.names[i]
    return lambda n: n if (s := sections.get(n)) is None else s.name


def _check_stripping(sf_main: Section, sf_name: str, max_sdk: int, found_ids: frozenset[int], out: SfCheck) -> None:
    value = sf_main.get("X-Android-APK-Signed")
    if value is None:
        if found_ids:
            out.warnings.append(warning("JAR_SIG_NO_APK_SIG_STRIP_PROTECTION", f"{sf_name} does not protect against APK Signature Scheme v2 stripping"))
        return
    supported = SCHEME_TITLES if max_sdk >= Sdk.P else {2: SCHEME_TITLES[2]}
    expected = set()
    for token in value.split(","):
        scheme_id = java_int(java_trim(token))
        if scheme_id is None:
            continue
        if scheme_id in supported:
            expected.add(scheme_id)
        else:
            out.warnings.append(warning("JAR_SIG_UNKNOWN_APK_SIG_SCHEME_ID", f"{sf_name} references unknown APK signature scheme ID: {scheme_id}"))
    for scheme_id in sorted(expected - found_ids):
        out.errors.append(error("JAR_SIG_MISSING_APK_SIG_REFERENCED", f"{sf_name} indicates the APK is signed using {supported[scheme_id]} but no such signature was found. Signature stripped?"))


def _manifest_digest(sf_main: Section, sf_name: str, signtool: bool, manifest: bytes, min_sdk: int, max_sdk: int, out: SfCheck) -> bool:
    expected = digests_to_verify(sf_main, "-Digest" if signtool else "-Digest-Manifest", min_sdk, max_sdk, sf_name)
    if not expected:
        out.warnings.append(warning("JAR_SIG_NO_MANIFEST_DIGEST_IN_SIG_FILE", f"{sf_name} does not specify digest of {MANIFEST_NAME}"))
        return False
    ok = True
    for d in expected:
        if digest(d.algorithm, manifest) != d.digest:  # only a warning: sections may still verify
            out.warnings.append(warning("JAR_SIG_ZIP_ENTRY_DIGEST_DID_NOT_VERIFY", f"{d.algorithm} digest of {MANIFEST_NAME} does not match the digest specified in {sf_name}"))
            ok = False
    return ok


def _section_digest(sf_section: Section, sf_name: str, signtool: bool, section: Section, manifest: bytes,
                    min_sdk: int, max_sdk: int, out: SfCheck) -> None:
    name = sf_section.name
    expected = digests_to_verify(sf_section, "-Digest", min_sdk, max_sdk, sf_name)
    if not expected:
        out.errors.append(error("JAR_SIG_NO_ZIP_ENTRY_DIGEST_IN_SIG_FILE", f"no digest for {name} in {sf_name}"))
        return
    start, size = section.start, section.size
    if signtool and size >= 2 and manifest[start + size - 2:start + size] == b"\n\n":
        size -= 1  # signtool digests sections without their final blank line
    for d in expected:
        if digest(d.algorithm, manifest[start:start + size]) != d.digest:
            out.errors.append(error("JAR_SIG_MANIFEST_SECTION_DIGEST_DID_NOT_VERIFY", f"{d.algorithm} digest of {MANIFEST_NAME} section for {name} does not match the digest specified in {sf_name}"))


def digest(algorithm: str, data: bytes) -> bytes:
    return hashlib.new(HASHLIB_NAMES[algorithm], data).digest()


def java_int(text: str) -> int | None:
    """Integer.parseInt: optional sign, decimal digits (any script's, as Character.digit reads
    them: '٢' is 2), any number of leading zeros, 32-bit range. Java reads UTF-16 code units, so a
    digit outside the BMP (U+1D7DA '𝟚', a surrogate pair) is no digit there (review 89 F3), and
    5,000 leading zeros are 0 (review 89 F1: Python's int() refuses over 4,300 digits)."""
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or not digits.isdecimal() or max(digits) > "\uffff":
        return None
    significant = digits.lstrip("0" if digits.isascii() else _zero_digits())
    if len(significant) > 10:  # 2**31 has 10 digits
        return None
    value = int(text[:1] + significant if text[:1] == "-" and significant else significant or "0")
    return value if -(1 << 31) <= value < (1 << 31) else None


@functools.cache
def _zero_digits() -> str:
    """Every BMP character that is a decimal digit 0 (each script's DIGIT ZERO): built on first
    need (~15 ms; never for ASCII digits, so not at start-up)."""
    return "".join(c for c in map(chr, range(0x10000)) if c.isdecimal() and unicodedata.decimal(c) == 0)


_JAVA_BLANKS = "".join(map(chr, range(0x21)))  # what String.trim() strips: every char up to the space


def java_trim(text: str) -> str:
    return text.strip(_JAVA_BLANKS)


def apk_signed_ids(sf_main: Section | None) -> set[int]:
    """Scheme ids listed in X-Android-APK-Signed."""
    value = sf_main.get("X-Android-APK-Signed") if sf_main else None
    ids = (java_int(java_trim(t)) for t in (value or "").split(","))
    return {i for i in ids if i is not None}
