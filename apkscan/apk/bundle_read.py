"""Fill an identity from an app bundle's ZIP (:mod:`apkscan.apk.bundle`): its modules' proto
manifests and the certificates its JAR signature carries, present only.

Apart from :mod:`apkscan.apk.identify` so that the APK path stays as it is: ``identify`` hands a
ZIP with no ``AndroidManifest.xml`` at its root and a bundle's layout here.
"""

from __future__ import annotations

from apkscan.apk import bundle
from apkscan.apk.model import ApkIdentity, CertificateSighting, ManifestInfo, PackageReading, SchemeResult, \
    VerificationResult, SCHEME_NAMES
from apkscan.apk.io.zipreader import ZipArchive
from apkscan.apk.manifest.app_label import ambiguity as label_ambiguity
from apkscan.apk.manifest.package_id import ambiguity
from apkscan.apk.manifest.proto_xml import ProtoXmlError, parse
from apkscan.apk.signing.verifier import MAX_SDK
from apkscan.issues import ApkScanError, Issue, error, warning

MAX_SIG_BLOCK = 1 << 20


def read_bundle(zip: ZipArchive, identity: ApkIdentity) -> None:
    """Manifest facts of every module (base first), the signature's certificates as present."""
    identity.origin = "bundle"
    names = [e.name for e in zip.entries]
    identity.manifest = _manifest(zip, names, identity)
    if identity.manifest.package:
        identity.completeness.done("manifest")
    else:
        identity.completeness.why["manifest"] = identity.manifest.errors[0].code if identity.manifest.errors \
            else "MANIFEST_NO_PACKAGE"
    identity.verification = _signatures(zip, names, identity)
    code = "BUNDLE_UPLOAD_SIGNATURE_NOT_VERIFIED"
    identity.completeness.skip("signatures", code)
    identity.completeness.why["content_digests"] = code  # stays "not read": no scheme checks them


def _manifest(zip: ZipArchive, names: list[str], identity: ApkIdentity) -> ManifestInfo:
    info = ManifestInfo()
    modules = bundle.module_manifests(names)
    if len(modules) > bundle.MAX_MODULES:
        identity.warnings.append(warning("BUNDLE_TOO_MANY_MODULES", f"{len(modules)} module manifests; the first "
                                         f"{bundle.MAX_MODULES} are read"))
        modules = modules[:bundle.MAX_MODULES]
    if not modules or modules[0][0] != "base":
        info.errors.append(bundle.missing_base())
    read: list[tuple[str, dict]] = []  # (module, facts) of every record read, base first
    records = [(module, name, r) for module, name in dict.fromkeys(modules) for r in zip.named(name)]
    for module, name, record in records[:bundle.MAX_MODULES]:  # a name listed twice: each record a reading
        facts = _module(zip, record, name, info, identity)  # (Java's ZipFile, bundletool's, takes the last)
        if facts is not None:
            read.append((module, facts))
    base = next((facts for module, facts in read if module == "base"), None)
    if base is None:
        if not info.errors:
            info.errors.append(bundle.missing_base())
        return info
    _fill(info, base, identity)
    if not base["package"]:
        info.errors.append(error("MANIFEST_NO_PACKAGE", f"{bundle.BASE_MANIFEST} names no package"))
    _modules(info, read, identity)
    return info


def _module(zip: ZipArchive, record, name: str, info: ManifestInfo, identity: ApkIdentity) -> dict | None:
    """One module manifest's facts (``record``: its central-directory entry, ``name``), or None with
    its coded error (the others are still read)."""
    try:
        data = zip.read(record, bundle.MAX_PROTO_MANIFEST)
        return bundle.read_module(parse(data), name, info.errors)
    except ProtoXmlError as exc:
        info.errors.append(error(exc.code, f"{name}: {exc.message}"))
    except ApkScanError as exc:
        issue = exc.to_issue()
        (identity.errors if issue.code.startswith(("INPUT_", "ZIP_")) else info.errors).append(issue)
    except RecursionError:  # nesting is capped below the interpreter's limit; kept as a coded error anyway
        info.errors.append(error("BUNDLE_MANIFEST_MALFORMED", f"{name}: nested too deep to read"))
    return None


def _fill(info: ManifestInfo, base: dict, identity: ApkIdentity) -> None:
    info.package, info.version_code, info.version_name = base["package"], base["version_code"], base["version_name"]
    info.min_sdk, info.target_sdk, info.debuggable = base["min_sdk"], base["target_sdk"], base["debuggable"]
    if base["label"] is not None:
        info.label = base["label"]
        info.labels = {"": base["label"]}
    if base["label_other"] is not None:
        info.other_labels = [base["label_other"]]
        info.label_notes = [f"the plain string of android:label reads {base['label_other']!r}, its compiled "
                            f"string {base['label']!r}"]
        identity.tamper.append(label_ambiguity(info))
    if base["label_ref"]:
        identity.warnings.append(warning("BUNDLE_LABEL_NOT_READ", f"the label is resource 0x{base['label_ref']:08x} "
                                         "of resources.pb, which is not read: no label is matched"))
        identity.completeness.skip("resources", "BUNDLE_LABEL_NOT_READ")
    else:
        identity.completeness.done("resources")


def _modules(info: ManifestInfo, read: list[tuple[str, dict]], identity: ApkIdentity) -> None:
    """Every module's package is a reading of the bundle's package: one that differs is a tamper
    fact, and rules match it too. The modules read are named in the identity's note."""
    readings: dict[str, str] = {}
    for module, facts in read:  # base first
        where = f"{module}/manifest/AndroidManifest.xml"
        others = [(v, where + ", another package attribute") for v in facts["package_others"]]
        for value, how in ((facts["package"], where), (facts["package_compiled"], where + ", compiled string"), *others):
            if value and value not in readings:
                readings[value] = how
    if len(readings) > 1:  # a module of another package (bundletool refuses it), two readings of one attribute
        info.package_readings = [PackageReading(v, how) for v, how in readings.items()]
        identity.tamper.append(ambiguity(info))
    listed = ", ".join(dict.fromkeys(m + (f" (split {f['split']!r})" if f["split"] else "") for m, f in read))
    identity.record_note = f"{bundle.KIND}: modules read: {listed}"


def _signatures(zip: ZipArchive, names: list[str], identity: ApkIdentity) -> VerificationResult:
    """The certificates of each JAR signature block, present only (never verified here)."""
    from apkscan.apk.crypto.certificates import certificate_from_der
    from apkscan.apk.crypto import pkcs7

    v = VerificationResult(False, identity.manifest.min_sdk or 1, MAX_SDK,
                           {name: SchemeResult(name) for name in SCHEME_NAMES})
    blocks = bundle.signature_blocks(names)
    v1 = v.schemes["v1"]
    v1.present = bool(blocks)
    for name in blocks:
        try:
            sd = pkcs7.parse_signed_data(zip.read(zip.entry(name), MAX_SIG_BLOCK))
            certs = [certificate_from_der(der) for der in sd.certificates]
        except (ApkScanError, ValueError, IndexError) as exc:
            v1.errors.append(_unreadable(name, exc))
            continue
        for c in certs:
            if c.sha256 not in {p.sha256 for p in v.certificates_present}:
                v.certificates_present.append(c)
            v.sightings.append(CertificateSighting(c, f"app bundle upload signature {name}", "signer", False))
    if blocks:
        v.warnings.append(bundle.not_verified_issue())
    return v


def _unreadable(name: str, exc: Exception) -> Issue:
    return error("BUNDLE_SIGNATURE_UNREADABLE", f"{name}: its PKCS#7 block could not be read ({exc})")
