"""Certificate names as evidence: publisher and subject/issuer patterns on certificates.

A name in a certificate is written by whoever made the key, so where it counts is decided
here: on a verified signer that is one of the vendor's known keys (or a vendor that lists no
keys, Kaspersky) a matching name is ``subject`` evidence; on any other key, on a certificate
merely present, or when it only *looks* like the pattern (another case, width or look-alike
letters: review 53 F1) it is a claim (``subject-present``), never proof. A publisher name
written in ``CN=`` or ``OU=`` instead of ``O=`` is a claim too, whoever's key it is (review 60
F3: it went unseen, so a signer ``CN=AO Kaspersky Lab`` was silently ``allowed``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from apkscan.apk.model import Certificate
from apkscan.key_fields import key_kind
from apkscan.rules.certview import CertView
from apkscan.rules.index import KnownIndex
from apkscan.rules.keys import is_known
from apkscan.rules.model import Evidence, KnownCert, NamePattern, RulePack
from apkscan.rules.display_order import reordered
from apkscan.rules.normalise import bounded_text, form_patterns, form_search, listed_keys, publisher_key, publisher_keys

# Where else a publisher's name is written in a subject: a claim there, never the O= identity.
OUTSIDE_O = ("CN", "OU")
# Said where a name matched only as a bidi-aware viewer orders it (review 79 F1).
DISPLAYED = "read in display order (bidi controls reorder the stored text)"


def as_claim(e: Evidence, location: str | None = None) -> Evidence:
    """A subject/issuer that copies the vendor's name on a key that is not the vendor's."""
    if e.basis not in ("subject", "issuer") or not e.verified:
        return e
    basis = "subject-present" if e.basis == "subject" else e.basis  # policies never see it as proof
    place = location or _claim_place(e)
    if DISPLAYED in (e.location or "") and DISPLAYED not in place:  # still says it matched as shown
        place = f"{place}; {DISPLAYED}"
    return Evidence(e.field, e.value, basis, e.matched, False, e.confidence, e.normalised, e.locale, place)


def _claim_place(e: Evidence) -> str:
    """Where a name taken as a claim sat: the signer, the lineage node or other verified signer, said so."""
    if key_kind(e.field) == "signer":
        return "verified signer whose key is none of the vendor's known keys: the name is a claim"
    return f"{e.location}; its key is none of the vendor's known keys: the name is a claim"


def name_evidence(patterns: list[NamePattern], view: CertView, which: str,
                   foreign: Callable[[Certificate], bool] = lambda c: False) -> list[Evidence]:
    """Subject/issuer patterns on verified keys (signers, lineage nodes, other verified signers:
    :meth:`CertView.named_keys`); on a ``foreign``
    key (none of the vendor's known keys) the name is a claim (:func:`as_claim`)."""
    out: list[Evidence] = []
    keys = view.named_keys()
    for pattern in patterns:
        for key in keys:
            cert, where = key.certificate, key.where
            attrs = cert.subject_attrs if which == "subject" else cert.issuer_attrs
            hits, shown = pattern.match(attrs), None
            if not hits and (shown := _displayed(attrs)) is not None:
                hits = pattern.match(shown[0])  # as shown: weighs as the plain spelling would
            if hits:
                back = shown[1] if shown is not None else {}
                found = [Evidence(f"{key.field}.{which}.{attr}", back.get((attr, value), value), which,
                                  pattern.attrs[attr].pattern, True,
                                  normalised=value if (attr, value) in back else None,
                                  location=f"{where}; {DISPLAYED}" if (attr, value) in back else where)
                         for attr, value in hits]
                out += [as_claim(e) for e in found] if foreign(cert) else found
                break  # one key per pattern is enough evidence
            looks = _folded_name_hits(pattern, attrs)
            if looks:  # another case, width or look-alike letters: a claim, whoever's key it is
                out += [as_claim(Evidence(f"{key.field}.{which}.{attr}", value, which, pattern.attrs[attr].pattern,
                                           True, normalised=folded),
                                  f"{where}; the name only looks like the vendor's (another case, width "
                                  "or look-alike letters): a claim") for attr, value, folded in looks]
                break
    return out


def _displayed(attrs: dict[str, list[str]]) -> tuple[dict[str, list[str]], dict[tuple[str, str], str]] | None:
    """(attributes with each value's display-order reading added, (attribute, reading) -> the
    stored value), or None when no value reads in another order."""
    shown: dict[str, list[str]] = {}
    back: dict[tuple[str, str], str] = {}
    for attr, values in attrs.items():
        shown[attr] = list(values)
        for v in values:
            d = reordered(v)
            if d is not None:
                shown[attr].append(d)
                back.setdefault((attr, d), v)
    return (shown, back) if back else None


def _folded_name_hits(pattern: NamePattern, attrs: dict[str, list[str]]) -> list[tuple[str, str, str]] | None:
    """(attribute, value, folded form) when every attribute of ``pattern`` matches a value's
    normalised or skeleton form (case ignored; a pattern in Cyrillic on the skeleton side too)
    and at least one only there: ``O=Musical.ly Inc.``, ``O=musicаl.ly Inc.`` with a Cyrillic
    ``а``, ``O=Ｔencent`` copy a vendor's name as a reader sees it (review 53 F1)."""
    hits: list[tuple[str, str, str]] = []
    folded_only = False  # an attribute found only with case ignored (``O=bytedance pte. ltd.`` is its own folded form)
    for attr, regex in pattern.attrs.items():
        raw = next((v for v in attrs.get(attr, []) if regex.search(bounded_text(v))), None)
        if raw is not None:
            hits.append((attr, raw, raw))
            continue
        found = _folded_value(regex, attrs.get(attr, []))
        if found is None:
            return None
        hits.append((attr, *found))
        folded_only = True
    return hits if folded_only else None


def _folded_value(regex: re.Pattern[str], values: list[str]) -> tuple[str, str] | None:
    """(value, its folded form) of the first value whose normalised or skeleton form matches."""
    asked = form_patterns(regex)
    for value in values:
        found = form_search(asked, value, folded_only=True)  # the prefilter's search too
        if found:
            return value, found[1]
    return None


def foreign_keys(vendor_known: list[KnownCert] | KnownIndex, view: CertView) -> Callable[[Certificate], bool]:
    """Whether a verified signer's name is only a claim: the vendor lists known keys and neither
    the signer nor a verified lineage node is one of them (review 27 F3: a ByteDance name on
    another key was a ``strong`` identity). A vendor that lists no key (Kaspersky) keeps names."""
    certs = vendor_known.certs if isinstance(vendor_known, KnownIndex) else vendor_known
    if not certs:
        return lambda cert: False
    if any(is_known(c, vendor_known) for _, c in view.lineage):
        return lambda cert: False  # rotated from a vendor key: the app is the vendor's (confirmed)
    return lambda cert: not is_known(cert, vendor_known)


def own_keys(vendor_known: list[KnownCert] | KnownIndex, view: CertView) -> Callable[[Certificate], bool]:
    """Whether a verified signer is the vendor's own (one of its known keys, or any signer of an
    APK rotated from one): its ``CN``/``OU`` make no claim, the key already says who it is. A
    vendor that lists no key (Kaspersky) has none."""
    certs = vendor_known.certs if isinstance(vendor_known, KnownIndex) else vendor_known
    if not certs:
        return lambda cert: False
    if any(is_known(c, vendor_known) for _, c in view.lineage):
        return lambda cert: True
    return lambda cert: is_known(cert, vendor_known)


def _listed_name(pack: RulePack, value: str) -> tuple[str | None, bool, str]:
    """(listed publisher name, whole, form) for an ``O=`` value: ``whole`` when the normalised name
    *is* a listed legal name; a name that only begins with a listed name's first word ("Kaspersky
    Fan Club", an unlisted affiliate) is returned with ``whole`` False: a claim (review 27 F4).
    ``form``: ``raw``, or ``display-order`` when only the value as a bidi-aware viewer shows it
    names one (:func:`~apkscan.rules.normalise.publisher_keys`; review 79 F1)."""
    keys = listed_keys(tuple(pack.publisher_names))
    first: tuple[str | None, bool, str] = (None, False, "raw")
    for form, text in publisher_keys(value):
        words = publisher_key(text).split()
        hit = next((n for n, k in keys if k and words == k), None)
        if hit is not None:
            return hit, True, form
        if first[0] is None:
            first = (next((n for n, k in keys if k and words[:1] == k[:1]), None), False, form)
    return first


def publisher_evidence(pack: RulePack, view: CertView,
                        foreign: Callable[[Certificate], bool] = lambda c: False,
                        own: Callable[[Certificate], bool] = lambda c: False) -> list[Evidence]:
    """Publisher subject patterns and listed names on verified keys (:meth:`CertView.named_keys`:
    ``subject``; a claim,
    ``subject-present``, on a ``foreign`` signer or for a name that only starts like a listed
    one), and on certificates present but not verified (``subject-present``, weak); a name in
    ``CN``/``OU`` of a certificate whose ``O=`` names no publisher, unless ``own`` (the
    vendor's key): ``subject-present`` (:func:`_outside_o`)."""
    out = name_evidence(pack.publishers, view, "subject", foreign)
    candidates = [(k.certificate, k.where, k.field) for k in view.named_keys()]
    # a known certificate out of place is a planted/forged finding, not a name claim
    others = [(s.certificate, s.describe()) for s in view.present]
    others += [(c, f"recorded by {view.recorded_by or 'the device'}, not verified by apkscan")
               for c in view.recorded]
    candidates += [(c, where, "present") for c, where in others
                   if not any(kc.matches(c) for kc in pack.certificates.values())]
    for cert, where, prefix in candidates:
        verified = prefix != "present"
        for value in cert.subject_attrs.get("O", []):
            name, whole, form = _listed_name(pack, value)
            if name is None and not verified:
                name = next((p.describe() for p in pack.publishers
                             if p.match(cert.subject_attrs) or _folded_name_hits(p, cert.subject_attrs)), None)
            if name is None or any(e.value == value and e.field.startswith(f"{prefix}.") for e in out):
                continue
            shown = dict(publisher_keys(value))[form]
            e = Evidence(f"{prefix}.subject.O", value,
                         "subject" if verified else "subject-present", name, verified,
                         normalised=publisher_key(shown), location=where if form == "raw" else f"{where}; {DISPLAYED}")
            if verified and not whole:
                e = as_claim(e, f"{e.location}; not a listed {pack.vendor} legal name, only begins "
                                 f"like {name}: the name is a claim")
            elif verified and foreign(cert):
                e = as_claim(e)
            out.append(e)
        if not (verified and own(cert)):
            out += _outside_o(pack, cert, where, prefix)
    return out


def _outside_o(pack: RulePack, cert: Certificate, where: str, prefix: str) -> list[Evidence]:
    """The vendor's publisher name in ``CN``/``OU`` (a listed name or its first word, or a
    publisher ``O=`` pattern, in any form) of a certificate whose ``O=`` names no publisher:
    one ``subject-present`` claim, weak. Never ``subject``: only ``O=`` is the publisher."""
    attrs = cert.subject_attrs
    if any(_listed_name(pack, o)[0] for o in attrs.get("O", [])) or any(
            p.match(attrs) or _folded_name_hits(p, attrs) for p in pack.publishers):
        return []  # the O= (or a pattern on CN/OU itself) already says it, above
    regexes = [p.attrs["O"] for p in pack.publishers if "O" in p.attrs]
    for attr in OUTSIDE_O:
        for value in attrs.get(attr, []):
            name, folded = _listed_name(pack, value)[0], publisher_key(value)
            found = None if name else next((r for r in regexes if form_search(form_patterns(r), value)), None)
            if name or found is not None:
                return [Evidence(f"{prefix}.subject.{attr}", value, "subject-present",
                                 name or found.pattern, False, normalised=folded,
                                 location=f"{where}; {pack.vendor}'s name in {attr}=, not O=: a claim")]
    return []
