"""Keys a rule marks ``shared``: what a merely present sighting of one may back besides the
package it corroborates.

Why: one key can sign several of a vendor's apps (ByteDance's "Micro Cao" key signs Douyin,
Toutiao, Xigua and TikTok's trill build), so it cannot say which of them an APK is. A rule
counts such a key only when its own package matched (:func:`apkscan.rules.matcher._rule_evidence`),
but the matcher also lends a rule the vendor's other keys and names. A verified signer
(``certificate``) or one the device recorded as the app's signer (``certificate-recorded``) is
lent: the label is inside the bytes the vendor signed, so it is the vendor's own word (label
``TikTok`` signed by ByteDance is TikTok). A sighting merely present (``certificate-present``:
``--quick``, signatures not read; or a certificate AndroidQF recorded with ``verified_certificate``
false, which it writes when the APK's signature failed: review 88 F2) is not: anyone can paste the
key's DER into an APK, so a label would launder it into ``confirmed`` (label ``Toutiao`` on
com.example.tt) and the vendor finding the policies review the key by would go away (review 87
F5). :func:`backing` holds such a sighting back, and the vendor finding keeps it.
"""

from __future__ import annotations

from apkscan.rules.index import kept
from apkscan.rules.model import Evidence, RulePack

KEY_BASES = ("certificate", "certificate-recorded", "certificate-present")  # a known key's sighting

_CACHE: dict[int, tuple[RulePack, frozenset[str]]] = {}


def shared_ids(pack: RulePack) -> frozenset[str]:
    """Ids of the known certificates any rule of ``pack`` marks ``shared`` (kept per pack object)."""
    return kept(_CACHE, pack, lambda p: frozenset(rc.cert.id for r in p.rules for rc in r.certificates
                                                  if rc.shared))


def held_back(e: Evidence, shared: frozenset[str]) -> bool:
    """Whether ``e`` is a shared key merely present: the sighting :func:`backing` holds back."""
    return e.basis == "certificate-present" and e.matched in shared


def backing(evidence: list[Evidence], own: list[Evidence],
            shared: frozenset[str]) -> tuple[list[Evidence], list[Evidence]]:
    """(what of the vendor's keys and names ``evidence`` may back a rule with that did not match
    by its package, what is held back). Held back: a shared key only present, and then the
    publisher's name on a verified key (``subject``) unless another key sighting is among the
    evidence or the rule's ``own`` (a key no rule shares, or a shared one verified or recorded):
    a name whose only key is the present shared one is as unproven as that key."""
    held = [e for e in evidence if held_back(e, shared)]
    if not held:
        return evidence, []
    if not any(e.basis in KEY_BASES and not held_back(e, shared) for e in evidence + own):
        held += [e for e in evidence if e.basis == "subject" and e.verified]
    return [e for e in evidence if e not in held], held
