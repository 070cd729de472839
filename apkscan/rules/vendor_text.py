"""What a finding says about a vendor's identity in words: the ``<pack>.vendor`` message, and the
note a finding resting on a self-asserted publisher name carries (review 65 M2). Kept apart from
:mod:`apkscan.rules.matcher`, which decides the evidence; this only words it.
"""

from __future__ import annotations

from apkscan.key_fields import key_kind, on_verified_key, whose_key
from apkscan.rules.model import Evidence, RulePack


def vendor_message(pack: RulePack, evidence: list[Evidence]) -> str:
    note = self_asserted(pack.vendor, evidence)
    if note and all(e.basis == "subject" for e in evidence):
        return note
    if note:
        return f"signed with or carrying a known {pack.vendor} identity; {note}"
    if all(e.basis == "certificate-present" for e in evidence):
        return (f"a known {pack.vendor} certificate is present, but nothing could be verified: "
                "weak, never confirmed")
    if all(e.basis == "subject-present" and on_verified_key(e.field) for e in evidence):
        return (f"{whose_key([e.field for e in evidence])} names {pack.vendor} as publisher, but its key is "
                f"none of {pack.vendor}'s known keys (or the name is not a listed one, or not in O=): a claim")
    if all(e.basis == "subject-present" for e in evidence):
        return (f"a certificate naming {pack.vendor} as publisher is present but is not a "
                "verified signer")
    return f"signed with or carrying a known {pack.vendor} identity"


def self_asserted(vendor: str | None, evidence: list[Evidence]) -> str:
    """What a finding resting on a signer's publisher name (basis ``subject``: only for a vendor
    with no known key, Kaspersky) must say: the name is the signer's own word (review 65 M2).
    Nothing when a known key of the vendor is among the evidence: the key makes the finding (a
    Toutiao signed by ByteDance's key with O=ByteDance was told no ByteDance key is known)."""
    if not any(e.basis == "subject" for e in evidence):
        return ""
    if any(e.basis in ("certificate", "certificate-recorded") for e in evidence):
        return ""  # a known key makes the finding: "no signing key is known" would be false
    named = [e.field for e in evidence if e.basis == "subject"]
    whose = ("the verified signer's" if any(key_kind(f) == "signer" for f in named)
             else whose_key(named, possessive=True))
    return (f"{whose} O= is a listed {vendor} publisher name, which is self-asserted "
            f"(anyone can write it into a key); no {vendor} signing key is known, so the name stands in "
            "for one: strong, never confirmed")
