"""Certificate names and numbers in the forms other Android forensic tools write.

Why: results are joined with AndroidQF acquisitions and MVT output, and a subject string
that differs only in layout does not join. AndroidQF's ``packages.json`` (which MVT
reads as is) writes each APK certificate as avast/apkverifier's ``CertInfo``:
``Subject``/``Issuer`` as ``C=.., ST=.., L=.., O=.., OU=.., CN=..`` (that fixed order,
several values of one attribute joined with ``;``, separated by ``", "``, only those six
attributes, the last CN) and ``SerialNumber`` as a decimal integer. apksigner
``--print-certs`` prints public-key digests of the SubjectPublicKeyInfo DER in
lower-case hex, as :mod:`apkscan.apk.crypto.certificates` computes them.
"""

from __future__ import annotations

ANDROIDQF_ORDER = ("C", "ST", "L", "O", "OU")


def androidqf_name(attrs: dict[str, list[str]]) -> str:
    """``C=US, ST=California, O=WhatsApp Inc., CN=Brian Acton`` from ``{short name: [values]}``."""
    parts = [f"{key}={';'.join(attrs[key])}" for key in ANDROIDQF_ORDER if attrs.get(key)]
    common = attrs.get("CN")
    if common:
        parts.append(f"CN={common[-1]}")  # Go's pkix.Name keeps the last CommonName
    return ", ".join(parts)


def serial_decimal(serial_hex: str) -> str:
    """The serial in decimal (a string: JSON numbers lose precision past 2**53)."""
    if not serial_hex:
        return ""
    try:
        return str(int(serial_hex, 16))
    except ValueError:
        return ""
