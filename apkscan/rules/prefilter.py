"""Whether a rule set can say anything at all about one app, known from a few facts of it.

Why: most apps of a pull match no rule, yet matching one asked every pattern rule (globs,
regexes, labels, subjects: ~9 per app with the built-in packs), built its certificate view
and looked up every digest in every pack: ~100 us. Every piece of evidence the matcher can
produce (:mod:`apkscan.rules.matcher`, :mod:`apkscan.rules.keys`) rests on one of these
facts of the identity, so one combined test per fact kind says "nothing can match":

- a package reading, in any of its forms, that is a rule's exact name (or a folded form of
  one), or matches a rule's glob or regex (exclusions ignored: a superset);
- a label, in any form, that a rule's label pattern finds (a pattern in another script also with
  its letters mapped, on the skeleton: :func:`apkscan.rules.normalise.skeleton_side`), asked
  as the matcher asks it, by the same function (:func:`apkscan.rules.normalise.form_search`);
- a digest of any certificate anywhere in the identity that is a known certificate's
  (a pack's, a rule's, a source stamp's);
- a subject matching a subject or publisher pattern, an issuer matching an issuer pattern
  (raw, or in a folded form: :mod:`apkscan.rules.names` makes such a match a claim; both
  through ``form_search``),
  an ``O=`` value whose first distinctive word is a listed publisher name's first word, a
  ``CN``/``OU`` value that is either or that a publisher's ``O=`` pattern finds (a claim:
  :func:`apkscan.rules.names._outside_o`), a subject whose attributes are a counterfeitable
  known certificate's subject;
- two package readings or more (the manifest-ambiguity finding needs no rule);
- a whole-file digest (SHA-256, and SHA-1 or MD5 when the run computed them: ``--hashes``) that
  is an ``--iocs`` file indicator's; a digest the identity does not hold is one the matcher cannot
  match either (it reads the same ``identity.file``), so an MD5 indicator no longer makes every
  app a candidate, nor a rescan after a feed change unpickle every stored identity (review 91).

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

from apkscan.rules import regex_book
from apkscan.rules.index import DIGESTS, KnownIndex, kept
from apkscan.rules.keys import counterfeit_subject, dn_of_attrs
from apkscan.rules.model import RuleSet
from apkscan.rules.names import OUTSIDE_O
from apkscan.rules.normalise import FormPatterns, bounded_text, form_patterns, form_search, listed_keys, package_forms, publisher_key, publisher_keys

FORMAT = 2  # of facts_of's value: a stored value of another format is not read (2: "sha1", "md5")


def facts_of(identity: Any) -> dict[str, Any]:
    """The facts :func:`could_match` reads, from every place matching could look."""
    m = identity.manifest
    readings: list[str] = []
    labels: list[str] = []
    if m is not None:
        readings = [r.value for r in m.package_readings]
        if m.package and m.package not in readings:
            readings.insert(0, m.package)
        labels = [v for v in (m.label, *m.labels.values(), *getattr(m, "other_labels", ()),
                                   *getattr(m, "launcher_labels", ())) if v]
    certs = [*identity.recorded_certificates, *(c for c, _why in identity.recorded_unverified)]
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
    f = identity.file
    return {"format": FORMAT, "sha256": f.sha256 if f else None, "sha1": f.sha1 if f else None,
            "md5": f.md5 if f else None,
            "ambiguous": m is not None and len(m.package_readings) >= 2,
            "packages": readings, "labels": labels, "certificates": [x for same in seen.values() for x in same]}


class Prefilter:
    """One rule set's facts of interest, combined per kind (built once per rule set object)."""

    def __init__(self, rules: RuleSet):
        self.names: set[str] = set()
        globs: list[str] = []
        self.regexes: list[re.Pattern[str]] = []
        labels: list[re.Pattern[str]] = []
        subjects: list[Any] = []
        issuers: list[Any] = []
        self.firsts: set[str] = set()
        known: list[Any] = []
        files: list[tuple[str, str]] = []
        for pack in rules.packs:
            known += pack.certificates.values()
            subjects += pack.publishers
            self.firsts.update(k[0] for _n, k in listed_keys(tuple(pack.publisher_names)) if k)
            for rule in pack.rules:
                self.names.update(v for name in rule.packages for _how, v in package_forms(name))
                globs += rule.package_globs
                self.regexes += rule.package_regexes
                labels += rule.labels
                # a rule's own certificates are the matcher's evidence whether or not the pack
                # registers them (the loader and the STIX reader do): asked here either way
                known += [rc.cert for rc in rule.certificates] + list(rule.source_stamps)
                subjects += rule.subjects
                issuers += rule.issuers
                files += rule.file_hashes
        self.labels = _combined(labels)  # asked as matcher._label_evidence asks each pattern
        self.subject_attrs, self.issuer_attrs = _by_attr(subjects), _by_attr(issuers)
        # a publisher's O= patterns, asked of CN/OU values too (names._outside_o)
        self.outside_o = _combined([p.attrs["O"] for pack in rules.packs for p in pack.publishers
                                    if "O" in p.attrs])
        self.globs = regex_book.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs)) if globs else None
        self.digests = KnownIndex(known).by_digest  # (algorithm, hex) of every known certificate
        # --iocs file digests, as (algorithm, hex): asked of the facts' digest of that algorithm
        self.files = set(files)
        self.file_algos = tuple(sorted({a for a, _d in files}))
        self.dns = {dn for kc in known if (dn := counterfeit_subject(kc)) is not None}
        regex_book.save()

    def could_match(self, facts: dict[str, Any]) -> bool:
        """False: no rule of the set, nor the manifest-ambiguity check, can yield a finding."""
        if facts["ambiguous"] or any((a, facts.get(a)) in self.files for a in self.file_algos):
            return True
        for pkg in facts["packages"]:
            for _how, value in package_forms(pkg):
                if (value in self.names or (self.globs is not None and self.globs.match(value))
                        or any(p.search(bounded_text(value)) for p in self.regexes)):
                    return True
        asked = self.labels
        for label in facts["labels"] if asked is not None else ():
            if form_search(asked, label, label=True):
                return True
        return any(self._certificate(c) for c in facts["certificates"])

    def _certificate(self, cert: list[Any]) -> bool:
        if any(d and (a, d) in self.digests for a, d in zip(DIGESTS, cert[:3])):
            return True
        subject, issuer = cert[3], cert[4]
        if _names(self.subject_attrs, subject) or _names(self.issuer_attrs, issuer):
            return True
        if _publisher_names(self.firsts, self.outside_o, subject):
            return True
        return bool(self.dns) and dn_of_attrs(subject) in self.dns


class Publishers:
    """Whether a certificate's subject can be publisher evidence of one pack
    (:func:`apkscan.rules.names.publisher_evidence`): a superset test, asked as
    :meth:`Prefilter._certificate` asks the names of every pack, of this pack's publisher
    patterns and listed names alone. Why: every app that could match something was asked every
    pack's publisher names, certificate by certificate (~45% of a match's time)."""

    def __init__(self, pack: Any):
        self.firsts = {k[0] for _n, k in listed_keys(tuple(pack.publisher_names)) if k}
        self.attrs = _by_attr(pack.publishers)
        self.outside_o = _combined([p.attrs["O"] for p in pack.publishers if "O" in p.attrs])

    def could(self, subject: dict[str, list[str]]) -> bool:
        """False: no publisher pattern nor listed name of the pack finds anything in ``subject``
        (its ``O=``, or a name written in ``CN``/``OU``: ``names._outside_o``)."""
        return _names(self.attrs, subject) or _publisher_names(self.firsts, self.outside_o, subject)


def _publisher_names(firsts: set[str], outside_o: FormPatterns | None, subject: dict[str, list[str]]) -> bool:
    """Whether a listed publisher name (its first word: ``names._listed_name`` compares
    ``words[:1]``) is in the subject's O, CN or OU, or an O= pattern finds a CN/OU value."""
    for attr in ("O", *OUTSIDE_O):
        for value in subject.get(attr, []):
            for _form, text in publisher_keys(value) if firsts else ():  # names._listed_name's forms
                words = publisher_key(text).split()
                if words and words[0] in firsts:
                    return True
            if attr != "O" and outside_o is not None and form_search(outside_o, value):
                return True
    return False


_PUBLISHERS: dict[int, tuple[Any, Publishers]] = {}


def publishers_of(pack: Any) -> Publishers:
    """The pack's :class:`Publishers`, kept per pack object (read-only once loaded)."""
    return kept(_PUBLISHERS, pack, Publishers)


_KEPT: dict[int, tuple[RuleSet, Prefilter]] = {}


def prefilter_of(rules: RuleSet) -> Prefilter:
    """The rule set's prefilter, kept per rule-set object (read-only once loaded, like the indexes)."""
    return kept(_KEPT, rules, Prefilter)


class _Any:
    """Patterns asked one by one (what :func:`_either` returns when they cannot be combined)."""

    __slots__ = ("patterns",)

    def __init__(self, patterns: list[re.Pattern[str]]):
        self.patterns = patterns

    def search(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns)

    def match(self, text: str) -> bool:
        return any(p.match(text) for p in self.patterns)


class _Split:
    """Patterns anchored at the start, asked there only (``match``), and the others searched.

    Why: the label patterns of the banned apps' names are whole labels (``^Lemon[ ._-]?8$``);
    ``re`` tries every branch of one combined ``search`` at every position of the text, which
    made ``could_match`` ~2.5x slower with ~40 of them (review 60 F5); at the start only, a
    branch fails at its first letter."""

    __slots__ = ("anchored", "rest")

    def __init__(self, anchored: Any, rest: Any):
        self.anchored, self.rest = anchored, rest

    def search(self, text: str) -> bool:
        return bool(self.anchored.match(text) or (self.rest is not None and self.rest.search(text)))


def _anchored(p: re.Pattern[str]) -> bool:
    """Whether every match of ``p`` starts at the text's start, so ``match`` answers as ``search``:
    its body begins with ``^`` that no top-level ``|`` escapes, and ``^`` is not MULTILINE's."""
    body = _GLOBAL_FLAGS.sub("", p.pattern)
    if p.flags & _LINE_FLAGS or not body.startswith("^") or "(?#" in body:
        return False  # a comment's text is no structure: ``^a(?#(|)b|z`` has a top-level | (final review 4)
    depth, i, in_class = 0, 1, False
    while i < len(body):
        c = body[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1 if body[i + 1:i + 2] == "^" else 0
            i += 1 if body[i + 1:i + 2] == "]" else 0  # a ] first in a class is a literal
        elif c in "()":
            depth += 1 if c == "(" else -1
        elif c == "|" and depth == 0:
            return False
        i += 1
    return True


_GLOBAL_FLAGS = re.compile(r"^(?:\(\?[aiLmsux]+\))+")
_LETTERS = ((int(re.IGNORECASE), "i"), (int(re.MULTILINE), "m"), (int(re.DOTALL), "s"), (int(re.ASCII), "a"))
_LINE_FLAGS = int(re.MULTILINE | re.VERBOSE)  # ints: each & of a RegexFlag builds an enum member (~1 us)
_UNJOINED = int(re.VERBOSE | re.LOCALE)


def _either(patterns: list[re.Pattern[str]]) -> Any:
    """Something whose ``search`` finds a match exactly when one of ``patterns``' does: the
    :func:`_anchored` ones combined and asked at the start only, the others combined
    (:func:`_joined`); None: no patterns."""
    if not patterns:
        return None
    at_start = [_anchored(p) for p in patterns]  # each asked once (a pass over its text)
    if not any(at_start):
        return _joined(patterns)
    return _Split(_joined([p for p, a in zip(patterns, at_start) if a]),
                  _joined([p for p, a in zip(patterns, at_start) if not a]))


def _joined(patterns: list[re.Pattern[str]]) -> Any:
    """One regex that finds a match where one of ``patterns`` does (at the same place): each
    pattern a branch with its own flags scoped to it. Patterns that refer to groups by number
    or name, or are verbose or locale-bound, are not combined (asked one by one); None: none."""
    if not patterns:
        return None
    branches = []
    for p in patterns:
        body = _GLOBAL_FLAGS.sub("", p.pattern)
        if (p.flags & _UNJOINED or "(?P=" in body or "(?(" in body
                or re.search(r"\\(?:\d|g)", body)):
            return _Any(list(patterns))
        letters = "".join(c for flag, c in _LETTERS if p.flags & flag)
        branches.append(f"(?{letters}:{body})" if letters else f"(?:{body})")
    try:
        return regex_book.compile("|".join(branches))
    except re.error:
        return _Any(list(patterns))


def _combined(patterns: list[re.Pattern[str]]) -> FormPatterns | None:
    """:func:`~apkscan.rules.normalise.form_patterns` of every pattern, each part combined
    (:func:`_either`): :func:`~apkscan.rules.normalise.form_search` then finds a form exactly
    when it finds one for some pattern alone. None: no patterns."""
    if not patterns:
        return None
    each = [form_patterns(p) for p in patterns]
    return FormPatterns(_either([f.raw for f in each]), _either([f.folded for f in each]),
                        _either([f.mapped for f in each if f.mapped is not None]))


def _by_attr(patterns: list[Any]) -> dict[str, FormPatterns]:
    """Attribute -> the patterns' regexes for it, :func:`_combined` (asked as
    ``names._folded_value`` and ``NamePattern.match`` ask each): a name pattern can match only
    if its first attribute's regex finds a value (every listed attribute must), so asking that
    one of each pattern is a superset of asking them whole."""
    by: dict[str, list[re.Pattern[str]]] = {}
    for p in patterns:
        if p.attrs:
            attr, regex = next(iter(p.attrs.items()))
            by.setdefault(attr, []).append(regex)
    return {attr: asked for attr, regexes in by.items() if (asked := _combined(regexes)) is not None}


def _names(by_attr: dict[str, FormPatterns], name_attrs: dict[str, list[str]]) -> bool:
    """Whether a value of an attribute, in any form, is found by that attribute's patterns
    (another case, width or look-alike letters make a claim in the matcher: still a match)."""
    for a, values in name_attrs.items():
        asked = by_attr.get(a)
        for v in values if asked is not None else ():
            if form_search(asked, v):
                return True
    return False
