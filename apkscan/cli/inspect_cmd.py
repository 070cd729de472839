"""``apkscan inspect``: the verified identity of APK files, as text or JSON.

Inputs are read through the same sources as ``scan`` (files, folders of APKs), so a
missing file is ``INPUT_NOT_FOUND`` in both. Like ``apksigner verify``, an APK that
does not verify makes the exit code non-zero (1) unless ``--fail-on never``.
"""

from __future__ import annotations

from contextlib import closing

import click

from apkscan.apk.completeness import PARTLY_READ
from apkscan.apk.model import SCHEME_NAMES, ApkIdentity, Certificate
from apkscan.cli.common import FORCE_HELP, ExitCode, command_epilog, finish, not_an_input
from apkscan.cli.identify_options import HASHES_HELP, QUICK_HELP, SDK_LEVEL, check_sdk_range, parse_hashes
from apkscan.report.escape import safe as _safe  # one escaper for everything shown on a terminal

MAX_NOTED = 3  # recorded certificates named in one note


@click.command("inspect", epilog=command_epilog())
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "json_path", is_flag=False, flag_value="-", default=None, metavar="[FILE]",
              help="Write a JSON array, one object per APK, to FILE ('-' or no FILE: stdout).",
              callback=not_an_input)
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.option("--fail-on", type=click.Choice(["unverified", "never"]), default="unverified", show_default=True,
              help="Exit 1 when an APK does not verify (as apksigner does), or never.")
@click.option("--min-sdk-version", "min_sdk", type=SDK_LEVEL, default=None, help="Lowest Android API level to verify for (default: the APK's minSdkVersion).")
@click.option("--max-sdk-version", "max_sdk", type=SDK_LEVEL, default=2**31 - 1, show_default=False, help="Highest Android API level to verify for (default: no limit).")
@click.option("--idsig/--no-idsig", default=True, help="Verify a v4 signature from FILE.idsig beside the APK.")
@click.option("--quick", is_flag=True, help=QUICK_HELP)
@click.option("--hashes", default="sha256", show_default=True, callback=parse_hashes, metavar="LIST", help=HASHES_HELP)
def inspect_command(paths: tuple[str, ...], json_path: str | None, force: bool, fail_on: str,
                    min_sdk: int | None, max_sdk: int, idsig: bool, quick: bool, hashes: tuple[str, ...]) -> None:
    """Print package, version, label and verified signers of each APK in PATHS.

    PATHS are APK files or folders of APKs. Like 'apksigner verify -v --print-certs',
    plus what the manifest says and every certificate that is merely present.
    """
    from apkscan.cli.common import checked_outputs, write_json
    from apkscan.cli.signals import sigterm_as_interrupt

    from apkscan.cli.outputs import ResolvedInputs
    from apkscan.cli.tmp_dir import check_temp

    check_sdk_range(min_sdk, max_sdk)
    if any("://" in p for p in paths):  # file:// names a local file: checked and read as its path, as scan does
        from apkscan.cli.batch_opts import local_inputs
        paths = local_inputs(paths)
    real = ResolvedInputs(paths)
    chosen = checked_outputs({"force": force, "json_path": json_path}, real)
    check_temp(None, real, "set TMPDIR outside the inputs")  # spooled members never go into evidence
    identities: list[ApkIdentity] = []
    interrupted = False
    try:  # closing(): an interrupt closes the generator now, so its cleanup runs before we exit
        with sigterm_as_interrupt(), closing(_identities(paths, min_sdk, max_sdk, idsig, quick, hashes)) as found:
            for identity in found:
                identities.append(identity)
                if "json" not in chosen:
                    click.echo(("\n" if len(identities) > 1 else "") + format_identity(identity))
    except KeyboardInterrupt:
        interrupted = True
        click.echo(f"interrupted: {len(identities)} inputs finished", err=True)
    failed = []
    if "json" in chosen:
        failed = write_json([i.to_dict() for i in identities], chosen["json"])
    # not read as an APK at all (missing, not an APK, a backup without its password) or read in
    # part (a limit, a timeout, a fault: review 89 F2, an INTERNAL_ERROR exited 0): 3, as in scan;
    # read and not verified: 1, as apksigner
    unreadable = any(not i.readable or not i.completeness.has("manifest")
                     or any(e.code.startswith(PARTLY_READ) for e in i.errors) for i in identities)
    # an app bundle: nothing of it is verified (its upload signature is not checked): 1, as unverified
    unverified = any(not i.verified for i in identities if i.completeness.has("signatures") or i.origin == "bundle")
    finish(ExitCode.INCOMPLETE if unreadable else ExitCode.OK,
           ExitCode.FLAGGED if unverified and fail_on == "unverified" else ExitCode.OK,
           ExitCode.REPORT_FAILED if failed else ExitCode.OK,
           ExitCode.INTERRUPTED if interrupted else ExitCode.OK)


def _identities(paths, min_sdk, max_sdk, idsig, quick=False, hashes=("sha256",)):
    """One identity per input the sources yield; a problem becomes an identity with its errors."""
    from apkscan.apk.identify import identify  # deferred: keeps --help fast
    from apkscan.sources.files import FileSource
    from apkscan.sources.interface import InputFile, InputProblem, ScanInput

    from apkscan.cli.passwords import password_provider
    from apkscan.sources.names import name_text  # names written as scan writes them (\xff, \\)
    from apkscan.sources.walker import WalkOptions
    from apkscan.sources.zip_readings import TWO_READINGS

    # encrypted backups: APKSCAN_BACKUP_PASSWORD, else a prompt on a terminal (as scan does)
    items = FileSource(paths, WalkOptions(password=password_provider(None, None))).inputs()
    inspected: set[tuple[str, str]] = set()  # (outermost input, package) of every APK shown
    try:
        for item in items:
            if isinstance(item, InputProblem):
                failed = ApkIdentity(path=name_text(item.display), errors=list(item.issues))
                if item.issues:  # every part was stopped by the input's problem (review 62 L7)
                    failed.completeness.stopped(item.issues[0].code)
                yield failed
            elif isinstance(item, ScanInput):
                try:
                    identity = identify(item.path, display_path=name_text(item.display), min_sdk=min_sdk,
                                        max_sdk=max_sdk, idsig=idsig if item.length is None else False,  # no .idsig
                                        offset=item.offset, length=item.length, quick=quick, hashes=hashes,
                                        zip64=bool(item.reading))  # a ZIP's second reading: its own app
                    identity.tamper.extend(f for f in item.flags if f.code == TWO_READINGS)  # which reading it is
                    if identity.manifest is not None and identity.manifest.package:
                        inspected.add((item.chain[0] if item.chain else "", identity.manifest.package))
                    yield identity
                finally:
                    if item.cleanup:
                        _unlink(item.path)
            elif isinstance(item, InputFile):  # custody metadata of a scan run: nothing to verify
                continue
            else:  # records and skipped files (containers): said, never dropped silently
                click.echo(_note(item, inspected), err=True)
    finally:
        items.close()


def _note(item, inspected: set[tuple[str, str]]) -> str:
    """What was not verified and why: a record names its package and the certificates the
    device recorded (never verified here); a skip names how many files and a few of them.
    Every name is escaped (names come from folders, archives and the records themselves)."""
    from apkscan.sources.interface import CHAIN_SEPARATOR, RecordedApp
    from apkscan.sources.names import name_text

    if isinstance(item, RecordedApp):
        where = _named(name_text(item.display))
        seen = (item.chain[0] if item.chain else "", item.package) in inspected
        what = (f"recorded app {_named(item.package)} ({_safe(item.recorded_by)}): "
                + ("an APK of this package from this input is inspected above" if seen
                   else "no APK bytes to verify: a name in a record is a claim, not an identity"))
        # one its recorder could not verify is said so: never the device's signer (review 88 F2)
        certs = [_recorded_name(c) + (f" [{_safe(c.unverified)}: merely present, not the device's signer]"
                                      if c.unverified else "") for c in item.certificates[:MAX_NOTED]]
        if certs:
            more = f" and {len(item.certificates) - MAX_NOTED} more" if len(item.certificates) > MAX_NOTED else ""
            what += f"; certificate recorded by the device, NOT verified: {'; '.join(certs)}{more}"
        return f"note: {where}: {what}"
    where = _safe(name_text(CHAIN_SEPARATOR.join(getattr(item, "where", ()))))
    count, examples = getattr(item, "count", 1), [_safe(name_text(e)) for e in getattr(item, "examples", [])]
    files = f"{count} file{'s' if count != 1 else ''}" + (f", e.g. {', '.join(examples)}" if examples else "")
    return f"note: {where}: {_safe(getattr(item, 'reason', 'not inspected'))}: {files} not inspected"


def _recorded_name(cert) -> str:
    """A recorded certificate by what the record gives: its digest (of the DER when the record
    holds the certificate itself, as an adb ``_manifest`` does), and its subject if stated."""
    import hashlib

    if cert.sha256 or cert.der:
        name = f"sha256 {cert.sha256 or hashlib.sha256(cert.der).hexdigest()}"
    elif cert.sha1 or cert.md5:
        name = f"sha1 {cert.sha1}" if cert.sha1 else f"md5 {cert.md5}"
    else:
        name = "no digest in the record"
    return _named(name + (f" {cert.subject}" if cert.subject else ""))


def _unlink(path: str) -> None:
    import os

    try:
        os.unlink(path)
    except OSError:
        pass


def format_identity(identity: ApkIdentity) -> str:
    """A human summary, ordered like apksigner's verbose output."""
    d = identity.to_dict()
    out = [f"File: {_named(d['path'])}"]  # a file or member name: escapes, newlines, bytes not UTF-8
    if d["size"] is not None:
        more = "".join(f"  {name}: {d[key]}" for name, key in (("SHA-1", "sha1"), ("MD5", "md5")) if d.get(key))
        out.append(f"  Size: {d['size']} bytes  SHA-256: {d['sha256']}{more}")  # --hashes: SHA-1, MD5 too
    if d["package"] is not None:
        out.append(_fields(Package=d["package"], versionCode=d["version_code"], versionName=d["version_name"]))
        out.append(_fields(Label=d["label"], minSdk=d["min_sdk"], targetSdk=d["target_sdk"], split=d["split"]))
    v = identity.verification
    if v is not None:
        out.append(f"  Verifies: {'yes' if v.verified else 'NO'} (API levels {v.min_sdk}-{_sdk(v.max_sdk)})" + (f", using {', '.join(v.verified_using)}" if v.verified_using else ""))
        out.extend(_unchecked_notes(identity))
        for name in SCHEME_NAMES:
            s = v.schemes[name]
            if s.present:
                state = ("verified" if s.verified else
                         "NOT verified (signatures checked out, content not checked)" if s.signature_only else "NOT verified")
                out.append(f"  Scheme {name}: present, {state}")
        for n, cert in enumerate(v.signers, 1):
            out.extend(_cert_lines(f"Signer #{n}", cert))
        others = [c for c in v.certificates_present if c.sha256 not in {s.sha256 for s in v.signers}]
        for cert in others:
            roles, checked = _verified_roles(v, cert.sha256), _signature_only_roles(v, cert.sha256)
            title = (f"Certificate (verified as {', '.join(roles)})" if roles else
                     f"Certificate present (NOT verified; signature checked as {', '.join(checked)}, content not "
                     "checked)" if checked else "Certificate present (NOT verified)")
            out.extend(_cert_lines(title, cert))
        for n, node in enumerate(v.lineage, 1):
            out.append(f"  Lineage #{n}: {node.certificate.sha256} {_named(node.certificate.subject)} flags={','.join(node.flag_names) or '-'}")
        if v.source_stamp is not None:
            out.extend(_cert_lines("Source stamp" + (" (verified)" if v.source_stamp_verified else " (NOT verified)"), v.source_stamp))
        if v.unknown_blocks:
            out.append("  Unknown signing-block ids: " + ", ".join(f"0x{b:08x}" for b in v.unknown_blocks))
    by_scheme = [(name, issue) for name in SCHEME_NAMES for issue in d["schemes"][name]["errors"]]
    seen = {(i["code"], i["message"]) for _n, i in by_scheme}
    for issue in d["errors"]:  # apksigner's overall list repeats the schemes' errors: print each once
        if (issue["code"], issue["message"]) not in seen:
            out.append(f"  ERROR {issue['code']}: {_named(issue['message'])}")
    for name, issue in by_scheme:
        out.append(f"  ERROR ({name}) {issue['code']}: {_named(issue['message'])}")
    scheme_warnings = [(name, issue) for name in SCHEME_NAMES for issue in d["schemes"][name]["warnings"]]
    seen = {(i["code"], i["message"]) for _n, i in scheme_warnings}
    for issue in d["warnings"]:
        if (issue["code"], issue["message"]) not in seen:
            out.append(f"  WARNING {issue['code']}: {_named(issue['message'])}")
    for name, issue in scheme_warnings:
        out.append(f"  WARNING ({name}) {issue['code']}: {_named(issue['message'])}")
    for issue in d["tamper"]:
        out.append(f"  TAMPER {issue['code']}: {_named(issue['message'])}")
    return "\n".join(out)


def _unchecked_notes(identity: ApkIdentity) -> list[str]:
    """What of the signatures was not read or not checked, and why (a limit, a bundle, an SDK range, --quick)."""
    state, why = identity.completeness.state, identity.completeness.why.get("signatures", "")
    out = []
    if state.get("signatures") == "not read":  # a cap hit: partly read (review 24)
        out.append(f"  signatures: not read ({why}): a limit stopped verification, this is no verdict on them")
    elif identity.origin == "bundle":  # Play re-signs what it builds: the upload key is not what devices see
        out.append("  App bundle (.aab): its upload key's JAR signature is NOT verified here; Play re-signs the "
                   "APKs it builds with the app-signing key, so no certificate below is the key devices see")
    elif state.get("signatures") == "not checked":  # an SDK range apksigner refuses
        out.append(f"  signatures: not checked ({why}): certificates read, none verified over this range")
    if state.get("content_digests") == "not checked":
        out.append("  content_digests: not checked (--quick): signatures only, NOT a full verification")
    return out


def _named(value: object) -> str:
    """Text an APK or a record wrote (a label, package, subject, a message naming one), escaped,
    with its look-alike note: ``TikТok [look-alike: Т=U+0422]``, as the scan's reports show it (review 82 F5)."""
    if isinstance(value, str) and not value.isascii():  # ASCII has no look-alike: no import (start-up)
        from apkscan.report.lookalike import noted

        value = noted(value)
    return _safe(value)


def _fields(**values: object) -> str:
    """``  Name: value`` pairs, leaving out what the manifest does not say (no "None")."""
    return "  " + "  ".join(f"{k}: {_named(v)}" for k, v in values.items() if v is not None and v != "")


def _verified_roles(v, sha256: str) -> list[str]:
    """Where a certificate that is not in apksigner's signer list did verify, if anywhere."""
    roles = [f"{name} signer" for name, scheme in v.schemes.items()
             if any(s.verified and s.certificate and s.certificate.sha256 == sha256 for s in scheme.signers)]
    if v.verified and any(n.verified and n.certificate.sha256 == sha256 for n in v.lineage):
        roles.append("past key in the rotation lineage")
    return roles


def _signature_only_roles(v, sha256: str) -> list[str]:
    """``--quick``: the schemes whose signer with this certificate checked out over the signed data only."""
    return [f"{name} signer" for name, scheme in v.schemes.items()
            if any(s.signature_only and s.certificate and s.certificate.sha256 == sha256 for s in scheme.signers)]


def _cert_lines(title: str, cert: Certificate) -> list[str]:
    key = f"{cert.key_algorithm or '?'} {cert.key_size or ''}".strip()
    flags = []
    if cert.is_android_debug:
        flags.append("android-debug")
    flags.extend(cert.weaknesses)
    return [
        f"  {title}: {_named(cert.subject)}",
        f"    SHA-256: {cert.sha256}",
        f"    SHA-1: {cert.sha1}  MD5: {cert.md5}",
        f"    Key: {key}" + (f"  Flags: {', '.join(flags)}" if flags else ""),
    ]


def _sdk(n: int) -> str:
    return "max" if n >= 2**31 - 1 else str(n)
