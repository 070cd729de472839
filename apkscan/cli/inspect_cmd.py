"""``apkscan inspect``: the verified identity of APK files, as text or JSON."""

from __future__ import annotations

import json
import sys

import click

from apkscan.apk.model import SCHEME_NAMES, ApkIdentity, Certificate

EXIT_OK = 0
EXIT_UNREADABLE = 3  # same meaning as for ``scan``: some inputs could not be read


@click.command("inspect")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per file.")
@click.option("--min-sdk-version", "min_sdk", type=int, default=None, help="Lowest Android API level to verify for (default: the APK's minSdkVersion).")
@click.option("--max-sdk-version", "max_sdk", type=int, default=2**31 - 1, show_default=False, help="Highest Android API level to verify for (default: no limit).")
@click.option("--idsig/--no-idsig", default=True, help="Verify a v4 signature from FILE.idsig beside the APK.")
def inspect_command(files: tuple[str, ...], as_json: bool, min_sdk: int | None, max_sdk: int, idsig: bool) -> None:
    """Print package, version, label and verified signers of each APK FILE.

    Like ``apksigner verify -v --print-certs``, plus what the manifest says and
    every certificate that is merely present. Exit code 0 when every file could be
    read as an APK (verified or not), 3 otherwise.
    """
    from apkscan.apk.identify import identify  # deferred: keeps --help fast

    identities = [identify(f, min_sdk=min_sdk, max_sdk=max_sdk, idsig=idsig) for f in files]
    if as_json:
        json.dump([i.to_dict() for i in identities], sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        for n, identity in enumerate(identities):
            if n:
                click.echo()
            click.echo(format_identity(identity))
    sys.exit(EXIT_OK if all(i.readable for i in identities) else EXIT_UNREADABLE)


def format_identity(identity: ApkIdentity) -> str:
    """A human summary, ordered like apksigner's verbose output."""
    d = identity.to_dict()
    out = [f"File: {d['path']}"]
    if d["size"] is not None:
        out.append(f"  Size: {d['size']} bytes  SHA-256: {d['sha256']}")
    if d["package"] is not None:
        out.append(f"  Package: {d['package']}  versionCode: {d['version_code']}  versionName: {d['version_name']}")
        out.append(f"  Label: {_safe(d['label'])}  minSdk: {d['min_sdk']}  targetSdk: {d['target_sdk']}" + (f"  split: {d['split']}" if d["split"] else ""))
    v = identity.verification
    if v is not None:
        out.append(f"  Verifies: {'yes' if v.verified else 'NO'} (API levels {v.min_sdk}-{_sdk(v.max_sdk)})" + (f", using {', '.join(v.verified_using)}" if v.verified_using else ""))
        for name in SCHEME_NAMES:
            s = v.schemes[name]
            if s.present:
                out.append(f"  Scheme {name}: present, {'verified' if s.verified else 'NOT verified'}")
        for n, cert in enumerate(v.signers, 1):
            out.extend(_cert_lines(f"Signer #{n}", cert))
        others = [c for c in v.certificates_present if c.sha256 not in {s.sha256 for s in v.signers}]
        for cert in others:
            roles = _verified_roles(v, cert.sha256)
            title = f"Certificate (verified as {', '.join(roles)})" if roles else "Certificate present (NOT verified)"
            out.extend(_cert_lines(title, cert))
        for n, node in enumerate(v.lineage, 1):
            out.append(f"  Lineage #{n}: {node.certificate.sha256} {_safe(node.certificate.subject)} flags={','.join(node.flag_names) or '-'}")
        if v.source_stamp is not None:
            out.extend(_cert_lines("Source stamp" + (" (verified)" if v.source_stamp_verified else " (NOT verified)"), v.source_stamp))
        if v.unknown_blocks:
            out.append("  Unknown signing-block ids: " + ", ".join(f"0x{b:08x}" for b in v.unknown_blocks))
    for issue in d["errors"]:
        out.append(f"  ERROR {issue['code']}: {_safe(issue['message'])}")
    for name in SCHEME_NAMES:
        for issue in d["schemes"][name]["errors"]:
            out.append(f"  ERROR ({name}) {issue['code']}: {_safe(issue['message'])}")
    for issue in d["warnings"]:
        out.append(f"  WARNING {issue['code']}: {_safe(issue['message'])}")
    for issue in d["tamper"]:
        out.append(f"  TAMPER {issue['code']}: {_safe(issue['message'])}")
    return "\n".join(out)


def _verified_roles(v, sha256: str) -> list[str]:
    """Where a certificate that is not in apksigner's signer list did verify, if anywhere."""
    roles = [f"{name} signer" for name, scheme in v.schemes.items()
             if any(s.verified and s.certificate and s.certificate.sha256 == sha256 for s in scheme.signers)]
    if v.verified and any(n.verified and n.certificate.sha256 == sha256 for n in v.lineage):
        roles.append("past key in the rotation lineage")
    return roles


def _cert_lines(title: str, cert: Certificate) -> list[str]:
    key = f"{cert.key_algorithm or '?'} {cert.key_size or ''}".strip()
    flags = []
    if cert.is_android_debug:
        flags.append("android-debug")
    flags.extend(cert.weaknesses)
    return [
        f"  {title}: {_safe(cert.subject)}",
        f"    SHA-256: {cert.sha256}",
        f"    SHA-1: {cert.sha1}  MD5: {cert.md5}",
        f"    Key: {key}" + (f"  Flags: {', '.join(flags)}" if flags else ""),
    ]


def _sdk(n: int) -> str:
    return "max" if n >= 2**31 - 1 else str(n)


def _safe(text: object) -> str:
    """Hostile APK text must not drive the terminal: escape control characters."""
    s = "" if text is None else str(text)
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in s)
