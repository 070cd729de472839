"""Run Google's reference verifier (``apksigner verify``) and parse what it prints.

Shared by the fixture tests and the cross-checks against apkscan's own verifier. Only the
stable parts of apksigner's text output are used: the "Verifies" / "DOES NOT VERIFY"
verdict, the per-scheme "Verified using ..." lines, the signer certificate blocks and
ERROR / WARNING lines.

apksigner prints each signer certificate as a block of lines sharing one label (ApkSignerTool's
printCertificate): "Signer #N" for apksig's signer list, or, once the APK verified with v3.1,
"Signer (minSdkVersion=A[ (dev release=true)], maxSdkVersion=B)" for every v3.1 signer and then
every v3 signer in block order, with the range each signer declares (not the verdict's signer
list: which of them apksig names as the signer, the last v3.1 one, the text does not say).
Debian's apksigner 31.0.2 predates v3.1 and prints only the first form; ``APKSIGNER`` names
another apksigner executable (e.g. one built from current apksig) to run instead.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

_LABEL = (r"Signer (?:#(?P<index>\d+)|\(minSdkVersion=(?P<min>\d+)(?P<dev> \(dev release=true\))?"
          r", maxSdkVersion=(?P<max>\d+)\))")
_FIELDS = {
    "certificate DN": "dn",
    "certificate SHA-256 digest": "cert_sha256",
    "certificate SHA-1 digest": "cert_sha1",
    "certificate MD5 digest": "cert_md5",
    "key algorithm": "key_algorithm",
    "key size (bits)": "key_size",
    "public key SHA-256 digest": "public_key_sha256",
    "public key SHA-1 digest": "public_key_sha1",
    "public key MD5 digest": "public_key_md5",
}
_SIGNER_LINE = re.compile(rf"^(?P<label>{_LABEL}) (?P<field>{'|'.join(map(re.escape, _FIELDS))}): (?P<value>.*)$")
_SCHEME = re.compile(r"^Verified using (v\d(?:\.\d)?) scheme .*: (true|false)$")


def apksigner_command() -> str:
    """The apksigner to run: ``$APKSIGNER`` if set, else the one on PATH."""
    return os.environ.get("APKSIGNER") or "apksigner"


def apksigner_available() -> bool:
    return shutil.which(apksigner_command()) is not None


@functools.cache
def apksigner_knows_v31(probe: Path) -> bool:
    """Whether this apksigner knows APK Signature Scheme v3.1: a verifying APK's "Verified using"
    lines name it (Debian's 31.0.2 prints no v3.1 line)."""
    return "Verified using v3.1 scheme" in apksigner_verify(probe)["output"]


def parse_signer_blocks(output: str) -> list[dict]:
    """Every signer certificate block apksigner printed, in print order.

    Each block: ``label``, ``index`` (N of "Signer #N", else None), ``min_sdk`` / ``max_sdk`` /
    ``dev_release`` (the SDK-targeted form, else None), and the printed fields by their
    ``_FIELDS`` names (``key_size`` an int, None for "n/a"). A block starts at its "certificate
    DN" line, the first line printCertificate writes, so two signers sharing a label (the same
    range in v3.1 and v3) stay two blocks. "Source Stamp Signer" and lineage lines are not signers.
    """
    blocks: list[dict] = []
    for raw in output.splitlines():
        m = _SIGNER_LINE.match(raw.strip())
        if not m:
            continue
        field = _FIELDS[m.group("field")]
        if field == "dn" or not blocks or blocks[-1]["label"] != m.group("label") or field in blocks[-1]:
            blocks.append(_new_block(m))
        value: str | int | None = m.group("value")
        if field == "key_size":
            value = None if value == "n/a" else int(value)
        blocks[-1][field] = value
    return blocks


def _new_block(m: re.Match) -> dict:
    index, lo, hi = m.group("index"), m.group("min"), m.group("max")
    return {
        "label": m.group("label"),
        "index": int(index) if index else None,
        "min_sdk": int(lo) if lo else None,
        "max_sdk": int(hi) if hi else None,
        "dev_release": bool(m.group("dev")) if lo else None,
    }


def apksigner_verify(path: str | Path, min_sdk: int | None = None, *, max_sdk: int | None = None,
                     timeout: float = 120) -> dict:
    """``apksigner verify -v --print-certs`` on ``path``.

    Returns ``{"verified": bool, "signers_sha256": [hex, ...], "signer_blocks": [block, ...],
    "errors": [str, ...], "warnings": [str, ...], "schemes": {"v1": bool, ...}, "returncode":
    int, "output": str}``. ``signers_sha256`` are the "Signer #N" certificates in N order (empty
    where apksigner printed the SDK-targeted form; ``signer_blocks`` has every block, see
    :func:`parse_signer_blocks`). ``verified`` is True only when apksigner exits 0 and prints
    "Verifies". An apksigner crash (exception, no verdict) counts as not verified, with the
    exception text in ``errors``. ``min_sdk`` / ``max_sdk`` are passed as ``--min-sdk-version``
    / ``--max-sdk-version``.
    """
    cmd = [apksigner_command(), "verify", "-v", "--print-certs"]
    if min_sdk is not None:
        cmd += ["--min-sdk-version", str(min_sdk)]
    if max_sdk is not None:
        cmd += ["--max-sdk-version", str(max_sdk)]
    cmd.append(str(path))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          check=False)
    out = proc.stdout + proc.stderr
    errors: list[str] = []
    warnings: list[str] = []
    schemes: dict[str, bool] = {}
    verdict = False
    for raw in out.splitlines():
        line = raw.strip()
        if line == "Verifies":
            verdict = True
        elif m := _SCHEME.match(line):
            schemes[m.group(1)] = m.group(2) == "true"
        elif line.startswith("ERROR"):
            errors.append(line)
        elif line.startswith("WARNING"):
            warnings.append(line)
    if proc.returncode != 0 and not errors:
        # Exceptions (e.g. malformed ZIP) come as a Java stack trace or a one-line message.
        errors.append(next((ln for ln in out.splitlines() if ln.strip()), "apksigner failed"))
    blocks = parse_signer_blocks(proc.stdout)
    numbered = sorted((b["index"], b["cert_sha256"]) for b in blocks if b["index"] is not None and "cert_sha256" in b)
    return {
        "verified": verdict and proc.returncode == 0,
        "signers_sha256": [sha for _, sha in numbered],
        "signer_blocks": blocks,
        "errors": errors,
        "warnings": warnings,
        "schemes": schemes,
        "returncode": proc.returncode,
        "output": out,
    }


def apkscan_signer_blocks(verification) -> list[dict]:
    """The signer blocks apksigner would print for apkscan's verdict, by ApkSignerTool's rule:
    once v3.1 verified and counted, every v3.1 signer and then every v3 signer under its declared
    SDK range (and the v3.1 signer's rotation-targets-dev-release flag), else "Signer #N" for
    each certificate in the verdict's signer list. Fields as :func:`parse_signer_blocks`, but
    without ``dn`` (apkscan writes RFC 4514, Java its own X.500 form: a print difference)."""
    if verification is None or not verification.verified:
        return []
    if "v31" in verification.verified_using:
        out = []
        for name in ("v31", "v3"):
            scheme = verification.schemes.get(name)
            for s in scheme.signers if scheme else []:
                dev = name == "v31" and s.targets_dev_release
                label = f"Signer (minSdkVersion={s.min_sdk}{' (dev release=true)' if dev else ''}, maxSdkVersion={s.max_sdk})"
                out.append(_cert_fields(s.certificate, label=label, index=None, min_sdk=s.min_sdk,
                                        max_sdk=s.max_sdk, dev_release=dev))
        return out
    return [_cert_fields(c, label=f"Signer #{i}", index=i, min_sdk=None, max_sdk=None, dev_release=None)
            for i, c in enumerate(verification.signers, 1)]


def _cert_fields(cert, **block) -> dict:
    return {**block, "cert_sha256": cert.sha256, "cert_sha1": cert.sha1, "cert_md5": cert.md5,
            "key_algorithm": cert.key_algorithm, "key_size": cert.key_size,
            "public_key_sha256": cert.public_key_sha256, "public_key_sha1": cert.public_key_sha1,
            "public_key_md5": cert.public_key_md5}
