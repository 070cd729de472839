"""Keys a rule marks ``shared``: what they may back besides the package they corroborate.

Why: one key can sign several of a vendor's apps (ByteDance's "Micro Cao" key signs Douyin,
Toutiao, Xigua and TikTok's trill build), so it cannot say which of them an APK is. A rule
counts such a key only when its own package matched (:func:`apkscan.rules.matcher._rule_evidence`),
but the matcher also lends a rule the vendor's other keys and names: a rule matched by its
label alone took the shared key that way and became ``confirmed`` (label ``Toutiao`` on
com.example.tt), and the vendor-level finding the policies review the key by went away
(review 87 F5). :func:`backing` holds that evidence back from such a rule, and the vendor
finding keeps it.
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


def backing(evidence: list[Evidence], own: list[Evidence],
            shared: frozenset[str]) -> tuple[list[Evidence], list[Evidence]]:
    """(what of the vendor's keys and names ``evidence`` may back a rule with that did not match
    by its package, what is held back). Held back: every sighting of a shared key, and the
    publisher's name on a verified key (``subject``) unless a key no rule shares is among the
    evidence or the rule's ``own``: a name verified only through a shared key (it signed, or the
    app rotated from it) is as shared as the key."""
    held = [e for e in evidence if e.basis in KEY_BASES and e.matched in shared]
    if not held:
        return evidence, []
    if not any(e.basis in KEY_BASES and e.matched not in shared for e in evidence + own):
        held += [e for e in evidence if e.basis == "subject" and e.verified]
    return [e for e in evidence if e not in held], held
