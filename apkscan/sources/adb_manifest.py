"""The ``_manifest`` file of one app in an adb backup: package and recorded certificates.

Format (AOSP ``AppMetadataBackupWriter.getManifestBytes``), LF-separated text: manifest
version ``1``, package, versionCode, platform SDK, installer (may be empty), ``1``/``0``
(APK included), N, then N certificates as lower-case hex DER. Everything in it is a
claim written by the device (or by whoever edited the file): it is parsed strictly and
bounded, and becomes a :class:`RecordedApp`, never a verified identity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from apkscan.sources.interface import RecordedApp, RecordedCertificate

MAX_MANIFEST_BYTES = 256 * 1024
MAX_SIGNATURES = 16  # Android apps have one signer; lineage is not in the _manifest
MAX_PACKAGE = 255
# ASCII digits only: str.isdigit() also accepts "²" and lstrip("-") accepts "--5", both of
# which int() then refuses with a bare ValueError that dropped the whole backup.
NUMBER_RE = re.compile(r"-?[0-9]{1,19}")


class ManifestError(ValueError):
    """The _manifest is not in the documented format."""


@dataclass(frozen=True, slots=True)
class AppManifest:
    package: str
    version_code: int
    platform_sdk: int
    installer: str
    apk_included: bool
    certificates: tuple[bytes, ...]

    def recorded_app(self, chain: tuple[str, ...], note: str = "") -> RecordedApp:
        details = f"platform SDK {self.platform_sdk}, installer {self.installer or 'none'}"
        return RecordedApp(chain=chain, package=self.package, recorded_by="adb backup _manifest",
                           version_code=self.version_code,
                           certificates=[RecordedCertificate(der=d) for d in self.certificates],
                           note=f"{note}; {details}" if note else details)


def parse_manifest(data: bytes) -> AppManifest:
    """Parse ``data``; raises :class:`ManifestError` with a message for users."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"_manifest larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError("_manifest is not UTF-8 text") from None
    lines = text.split("\n")
    if len(lines) < 7:
        raise ManifestError(f"_manifest has {len(lines)} lines, at least 7 expected")
    if lines[0] != "1":
        raise ManifestError(f"_manifest version {lines[0][:20]!r} (known: 1)")
    package = lines[1]
    if not package or len(package) > MAX_PACKAGE or not package.isprintable() or " " in package:
        raise ManifestError(f"_manifest package {package[:60]!r} is not a package name")
    version_code = _number(lines[2], "versionCode")
    sdk = _number(lines[3], "platform SDK")
    if lines[5] not in ("0", "1"):
        raise ManifestError(f"_manifest APK flag {lines[5][:20]!r} (expected 0 or 1)")
    count = _number(lines[6], "signature count")
    if count > MAX_SIGNATURES or len(lines) < 7 + count:
        raise ManifestError(f"_manifest announces {count} signatures but holds {max(0, len(lines) - 7)} lines")
    certs = tuple(_der(lines[7 + i], i) for i in range(count))
    return AppManifest(package, version_code, sdk, lines[4][:MAX_PACKAGE], lines[5] == "1", certs)


def _number(raw: str, what: str) -> int:
    if NUMBER_RE.fullmatch(raw) is None:
        raise ManifestError(f"_manifest {what} {raw[:20]!r} is not a number")
    return int(raw)


def _der(raw: str, index: int) -> bytes:
    try:
        der = bytes.fromhex(raw)
    except ValueError:
        raise ManifestError(f"_manifest signature {index + 1} is not hexadecimal") from None
    if not der or der[0] != 0x30:
        raise ManifestError(f"_manifest signature {index + 1} is not a DER certificate")
    return der
