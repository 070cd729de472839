"""What the CSV and SARIF say of a recorded app's certificate (a device's record, no APK bytes).

Why: a recorded app has no verified signer, so the CSV's ``publisher`` and ``signer_cert_sha256``
are empty and SARIF said "signer unverified", while the HTML and JSON named the certificate the
record gives. A reader of those formats could not tell which key the verdict rests on, nor that a
device (or AndroidQF, which could not verify it) is its only witness (review 90). The words follow
the HTML's: a recorded signer is the device's word, never verified by apkscan; one its recorder
could not verify is merely present, not a signer. Everything here comes from a saved document, so
it is hostile text: the name carries its look-alike note, and each format escapes the rest.
"""

from __future__ import annotations

from typing import Any

from apkscan.report.lookalike import noted


def _by(a: Any) -> str:
    return a.app.identity.recorded_by or "a record"


def said(a: Any) -> str | None:
    """``recorded by the device (AndroidQF packages.json), not verified by apkscan: musical.ly Inc.``
    for a recorded signer; ``recorded by AndroidQF packages.json, NOT verified: <why>; merely present,
    not a signer: <name>`` for one its recorder could not verify; None when the app is not recorded."""
    if not a.recorded:
        return None
    name = noted(a.recorded_publisher) or "(no name in the record)"
    if a.recorded_why is None:
        return f"recorded by the device ({_by(a)}), not verified by apkscan: {name}"
    return f"recorded by {_by(a)}, NOT verified: {a.recorded_why}; merely present, not a signer: {name}"


def said_with_key(a: Any) -> str | None:
    """:func:`said` with the certificate's SHA-256 (a record may give none): a SARIF message's signer."""
    text = said(a)
    if text is None:
        return None
    return f"{text} (certificate SHA-256 {a.recorded_sha256 or 'not in the record'})"


def properties(a: Any) -> dict[str, Any] | None:
    """SARIF ``properties.recordedCertificate``: the stored text as JSON keeps it (no notes)."""
    if not a.recorded:
        return None
    out = {"sha256": a.recorded_sha256, "recordedBy": _by(a), "name": a.recorded_publisher,
           "verifiedByApkscan": False, "recorderCouldNotVerify": a.recorded_why is not None,
           "why": a.recorded_why}
    return {k: v for k, v in out.items() if v is not None}
