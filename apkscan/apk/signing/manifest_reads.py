"""apksig's reads of AndroidManifest.xml while it verifies: where they throw, apksigner verifies nothing.

``ApkVerifier`` reads the manifest through its local record (``LocalFileRecord``) up to three
times: minSdkVersion when no ``--min-sdk-version`` is given, targetSandboxVersion from API 26 once
the signing-block schemes verified (both throw when it cannot be read), and targetSdkVersion at the
end (an ``ApkFormatException`` there only skips the rule). Split from :mod:`.verifier`, which decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apkscan.apk.io.zipreader import ZipArchive
from apkscan.apk.manifest.android_manifest import MIN_SDK_BLOCKING_CODES, apksig_target_sandbox_version
from apkscan.apk.manifest.axml import AxmlRuntimeError
from apkscan.apk.model import ManifestInfo
from apkscan.apk.signing.common import SchemePlan, Sdk
from apkscan.issues import ApkFormatError, Issue, error

if TYPE_CHECKING:
    from apkscan.apk.signing.verifier import _Verdict

SIG_BLOCK_SCHEMES = ("v2", "v3", "v31")


def manifest_refused(zip: ZipArchive) -> str | None:
    """Why apksig refuses the local header of the first AndroidManifest.xml record, or None: each of
    its reads of the manifest then throws (review 92 F1), whatever the bytes the central record names."""
    entry = zip.entry("AndroidManifest.xml")
    try:
        if entry is not None:
            zip.check_local_header(entry)
    except ApkFormatError as exc:
        return exc.message
    return None


def min_sdk_of(zip: ZipArchive, manifest: ManifestInfo | None, given: int | None) -> tuple[int, bool, str | None]:
    """The range's floor, whether it is known (apksigner reads minSdkVersion from the manifest
    unless told, and refuses the APK when it cannot) and :func:`manifest_refused`."""
    refused = manifest_refused(zip)
    known = given is not None or (
        manifest is not None and not refused and not any(i.code in MIN_SDK_BLOCKING_CODES for i in manifest.errors)
    )
    if given is None:
        given = manifest.min_sdk if manifest and manifest.min_sdk is not None else 1
    return given, known, refused


def check_sandbox(verdict: _Verdict, plan: SchemePlan, manifest_axml: bytes | None, min_sdk_known: bool,
                  refused: str | None) -> None:
    """From API 26 apksig reads targetSandboxVersion, once the signing-block schemes verified; it
    throws when AndroidManifest.xml is missing, its local header ``refused`` or its walk meets an
    unchecked exception (review 73 F3). Without a known minSdkVersion apksig threw before (``MIN_SDK_UNKNOWN``)."""
    if not (verdict.ok and plan.max_sdk >= Sdk.O):
        return
    try:
        if refused:
            raise AxmlRuntimeError(refused)
        if manifest_axml is None:
            raise AxmlRuntimeError("AndroidManifest.xml is missing")
        sandbox = apksig_target_sandbox_version(manifest_axml)
    except AxmlRuntimeError as exc:
        if min_sdk_known:
            verdict.fail(apksig_throws(f"reading its targetSandboxVersion: {exc}"))
        return
    if sandbox > 1 and not any(s in verdict.used for s in SIG_BLOCK_SCHEMES):
        verdict.fail(error("NO_SIG_FOR_TARGET_SANDBOX_VERSION", f"targetSandboxVersion {sandbox} requires an APK Signature Scheme v2 or newer signature"))


def apksig_throws(why: str) -> Issue:
    return error("MANIFEST_NOT_APKSIG_READABLE", f"apksig throws on AndroidManifest.xml ({why}), so apksigner "
                 "verifies nothing")
