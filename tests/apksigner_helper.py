"""Run Google's reference verifier (``apksigner verify``) and parse what it prints.

Shared by the fixture tests and the cross-checks against apkscan's own verifier. Only the
stable parts of apksigner's text output are used: the "Verifies" / "DOES NOT VERIFY"
verdict, the per-scheme "Verified using ..." lines, "Signer #N certificate SHA-256 digest"
lines and ERROR / WARNING lines.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

_SIGNER_SHA256 = re.compile(r"^Signer #(\d+) certificate SHA-256 digest: ([0-9a-f]{64})$")
_SCHEME = re.compile(r"^Verified using (v\d(?:\.\d)?) scheme .*: (true|false)$")


def apksigner_available() -> bool:
    return shutil.which("apksigner") is not None


def apksigner_verify(path: str | Path, min_sdk: int | None = None, *,
                     timeout: float = 120) -> dict:
    """``apksigner verify -v --print-certs`` on ``path``.

    Returns ``{"verified": bool, "signers_sha256": [hex, ...], "errors": [str, ...],
    "warnings": [str, ...], "schemes": {"v1": bool, ...}, "returncode": int, "output": str}``.
    ``verified`` is True only when apksigner exits 0 and prints "Verifies". An apksigner
    crash (exception, no verdict) counts as not verified, with the exception text in
    ``errors``. ``min_sdk`` is passed as ``--min-sdk-version``.
    """
    cmd = ["apksigner", "verify", "-v", "--print-certs"]
    if min_sdk is not None:
        cmd += ["--min-sdk-version", str(min_sdk)]
    cmd.append(str(path))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          check=False)
    out = proc.stdout + proc.stderr
    signers: list[tuple[int, str]] = []
    errors: list[str] = []
    warnings: list[str] = []
    schemes: dict[str, bool] = {}
    verdict = False
    for raw in out.splitlines():
        line = raw.strip()
        if line == "Verifies":
            verdict = True
        elif m := _SIGNER_SHA256.match(line):
            signers.append((int(m.group(1)), m.group(2)))
        elif m := _SCHEME.match(line):
            schemes[m.group(1)] = m.group(2) == "true"
        elif line.startswith("ERROR"):
            errors.append(line)
        elif line.startswith("WARNING"):
            warnings.append(line)
    if proc.returncode != 0 and not errors:
        # Exceptions (e.g. malformed ZIP) come as a Java stack trace or a one-line message.
        errors.append(next((ln for ln in out.splitlines() if ln.strip()), "apksigner failed"))
    return {
        "verified": verdict and proc.returncode == 0,
        "signers_sha256": [sha for _, sha in sorted(signers)],
        "errors": errors,
        "warnings": warnings,
        "schemes": schemes,
        "returncode": proc.returncode,
        "output": out,
    }
