"""Whether a rule set can say anything at all about one app, known from a few facts of it.

Why: most apps of a pull match no rule, yet matching one asked every pattern rule (globs,
regexes, labels, subjects: ~9 per app with the built-in packs), built its certificate view
and looked up every digest in every pack: ~100 us. Every piece of evidence the matcher can
produce (:mod:`apkscan.rules.matcher`, :mod:`apkscan.rules.keys`) rests on one of these
facts of the identity, so one combined test per fact kind says "nothing can match":

- a package reading, in any of its forms, that is a rule's exact name (or a folded form of
  one), or matches a rule's glob or regex (exclusions ignored: a superset);
- a label, in any form, that a rule's label pattern finds (a pattern in another script also with
  its letters mapped, on the skeleton: :func:`apkscan.rules.normalise.skeleton_side`);
- a digest of any certificate anywhere in the identity that is a known certificate's
  (a pack's, a rule's, a source stamp's);
- a subject matching a subject or publisher pattern, an issuer matching an issuer pattern
  (raw, or in a folded form: :mod:`apkscan.rules.names` makes such a match a claim),
  an ``O=`` value whose first distinctive word is a listed publisher name's first word, a
  subject whose attributes are a counterfeitable known certificate's subject;
- two package readings or more (the manifest-ambiguity finding needs no rule).

:func:`could_match` is True when any holds; False proves :func:`matcher.match_identity`
(without DEX classes) returns no finding: it tests every certificate in every role, where
the matcher tests each only in some, so it may say True for an app that then matches
nothing, never False for one that matches. :func:`facts_of` is what it reads, as plain
JSON-able values: the scan store keeps them beside the identity (sealed to it,
:mod:`apkscan.batch.store_facts`) so a rescan under new rules can ask without unpickling it.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from apkscan.rules.index import DIGESTS
from apkscan.rules.model import RuleSet
from apkscan.rules.normalise import forms, ignoring_case, listed_keys, publisher_key, skeleton, skeleton_side

FORMAT = 1  # of facts_of's value: a stored value of another format is not read


def facts_of(identity: Any) -> dict[str, Any]:
    """The facts :func:`could_match` reads, from every place matching could look."""
    m = identity.manifest
    readings: list[str] = []
    labels: list[str] = []
    if m is not None:
        readings = [r.value for r in m.package_readings]
        if m.package and m.package not in readings:
            readings.insert(0, m.package)
        labels = [v for v in (m.label, *m.labels.values(), *getattr(m, "other_labels", ())) if v]
    certs = list(identity.recorded_certificates)
    v = identity.verification
    if v is not None:
        certs += [*v.signers, *(n.certificate for n in v.lineage), *(s.certificate for s in v.sightings),
                  *v.certificates_present, *([v.source_stamp] if v.source_stamp is not None else [])]
    seen: dict[tuple[Any, ...], list[list[Any]]] = {}
    for c in certs:  # each distinct certificate once (the same one sits in several roles)
        digests = (c.sha256, c.sha1, c.md5)
        prior = seen.setdefault(digests, [])
        if all(x[3] != c.subject_attrs or x[4] != c.issuer_attrs for x in prior):
            prior.append([*digests, c.subject_attrs, c.issuer_attrs])
    return {"format": FORMAT, "sha256": identity.file.sha256 if identity.file else None,
            "ambiguous": m is not None and len(m.package_readings) >= 2,
            "packages": readings, "labels": labels, "certificates": [x for same in seen.values() for x in same]}


class Prefilter:
    """One rule set's facts of interest, combined per kind (built once per rule set object)."""

    def __init__(self, rules: RuleSet):
        self.names: set[str] = set()
        globs: list[str] = []
        self.regexes: list[re.Pattern[str]] = []
        labels: list[re.Pattern[str]] = []
        self.digests: set[tuple[str, str]] = set()
        self.subjects: list[Any] = []
        self.issuers: list[Any] = []
        self.firsts: set[str] = set()
        self.dns: set[frozenset[tuple[str, str]]] = set()
        known: list[Any] = []
        for pack in rules.packs:
            known += pack.certificates.values()
            self.subjects += pack.publishers
            self.firsts.update(k[0] for _n, k in listed_keys(tuple(pack.publisher_names)) if k)
            for rule in pack.rules:
                self.names.update(v for name in rule.packages for _how, v in forms(name))
                globs += rule.package_globs
                self.regexes += rule.package_regexes
                labels += rule.labels
                known += [rc.cert for rc in rule.certificates] + list(rule.source_stamps)
                self.subjects += rule.subjects
                self.issuers += rule.issuers
        self.labels = _either(labels), _either([ignoring_case(p) for p in labels])
        # a label pattern in another script is also asked of the skeleton with its letters mapped
        self.label_skeletons = _either([m for p in labels if (m := skeleton_side(p)) is not None])
        self.subject_attrs, self.issuer_attrs = _by_attr(self.subjects), _by_attr(self.issuers)
        self.globs = re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs)) if globs else None
        for kc in known:
            self.digests.update((a, d) for a in DIGESTS if (d := getattr(kc, a)))
            if kc.subject and (kc.serial or kc.not_before):  # what keys.counterfeit_findings compares
                from apkscan.rules.keys import _dn

                self.dns.add(_dn(kc.subject))

    def could_match(self, facts: dict[str, Any]) -> bool:
        """False: no rule of the set, nor the manifest-ambiguity check, can yield a finding."""
        if facts["ambiguous"]:
            return True
        for pkg in facts["packages"]:
            for _how, value in forms(pkg):
                if (value in self.names or (self.globs is not None and self.globs.match(value))
                        or any(p.search(value) for p in self.regexes)):
                    return True
        raw, folded = self.labels
        mapped = self.label_skeletons
        for label in facts["labels"] if raw else ():
            for how, value in forms(label):
                if ((raw if how == "raw" else folded).search(value)
                        or (how == "skeleton" and mapped is not None and mapped.search(value))):
                    return True
        return any(self._certificate(c) for c in facts["certificates"])

    def _certificate(self, cert: list[Any]) -> bool:
        if any(d and (a, d) in self.digests for a, d in zip(DIGESTS, cert[:3])):
            return True
        subject, issuer = cert[3], cert[4]
        if _names(self.subject_attrs, subject) or _names(self.issuer_attrs, issuer):
            return True
        for o in subject.get("O", []) if self.firsts else ():
            words = publisher_key(o).split()
            if words and words[0] in self.firsts:  # matcher._listed_name: words[:1] == a listed name's
                return True
        return bool(self.dns) and frozenset((k.upper(), skeleton(v)) for k, vs in subject.items()
                                            for v in vs) in self.dns


_KEPT: dict[int, tuple[RuleSet, Prefilter]] = {}


def prefilter_of(rules: RuleSet) -> Prefilter:
    """The rule set's prefilter, kept per rule-set object (read-only once loaded, like the indexes)."""
    hit = _KEPT.get(id(rules))
    if hit is None or hit[0] is not rules:
        if len(_KEPT) >= 16:
            del _KEPT[next(iter(_KEPT))]
        hit = _KEPT[id(rules)] = (rules, Prefilter(rules))
    return hit[1]


class _Any:
    """Patterns asked one by one (what :func:`_either` returns when they cannot be combined)."""

    __slots__ = ("patterns",)

    def __init__(self, patterns: list[re.Pattern[str]]):
        self.patterns = patterns

    def search(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns)


_GLOBAL_FLAGS = re.compile(r"^(?:\(\?[aiLmsux]+\))+")
_LETTERS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"), (re.ASCII, "a"))


def _either(patterns: list[re.Pattern[str]]) -> Any:
    """One regex whose ``search`` finds a match exactly when one of ``patterns``' does: each
    pattern a branch with its own flags scoped to it. Patterns that refer to groups by number
    or name, or are verbose or locale-bound, are not combined (asked one by one); None: none."""
    if not patterns:
        return None
    branches = []
    for p in patterns:
        body = _GLOBAL_FLAGS.sub("", p.pattern)
        if (p.flags & (re.VERBOSE | re.LOCALE) or "(?P=" in body or "(?(" in body
                or re.search(r"\\(?:\d|g)", body)):
            return _Any(list(patterns))
        letters = "".join(c for flag, c in _LETTERS if p.flags & flag)
        branches.append(f"(?{letters}:{body})" if letters else f"(?:{body})")
    try:
        return re.compile("|".join(branches))
    except re.error:
        return _Any(list(patterns))


def _by_attr(patterns: list[Any]) -> dict[str, tuple[Any, Any, Any]]:
    """Attribute -> the patterns' regexes for it, combined (raw; case ignored, for the folded
    forms; letters of another script mapped, for the skeleton: as ``names._folded_value`` asks):
    a name pattern can match only if its first attribute's regex finds a value (every listed
    attribute must), so asking that one of each pattern is a superset of asking them whole."""
    by: dict[str, list[re.Pattern[str]]] = {}
    for p in patterns:
        if p.attrs:
            attr, regex = next(iter(p.attrs.items()))
            by.setdefault(attr, []).append(regex)
    return {attr: (_either(regexes), _either([ignoring_case(r) for r in regexes]),
                   _either([m for r in regexes if (m := skeleton_side(r)) is not None]))
            for attr, regexes in by.items()}


def _names(by_attr: dict[str, tuple[Any, Any, Any]], name_attrs: dict[str, list[str]]) -> bool:
    for a, values in name_attrs.items():
        if a not in by_attr:
            continue
        raw, folded, mapped = by_attr[a]
        for v in values:
            if raw.search(v):
                return True
            for how, form in forms(v)[1:]:  # another case, width or look-alike letters: a claim, still a match
                if folded.search(form) or (how == "skeleton" and mapped is not None and mapped.search(form)):
                    return True
    return False
