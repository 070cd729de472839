"""Which rules of a pack can say anything about one identity, without asking every rule.

Why: a pack of ~100 rules, each asked about every app, cost ~1 ms per app, most of it
rules that name another package. A rule yields evidence only through its exact package
names, its known certificates' digests, or a pattern (glob, regex, label, subject, issuer,
source stamp). So a pack is compiled once into exact package names -> rules and
certificate digests -> rules; rules with a pattern are always asked, but a rule whose only
pattern is a label is asked only when one of the pack's label patterns, combined, finds a label of
the app (the banned apps' names as label patterns, review 60 F5: ~35 rules a pack, asked of every
app that could match anything, were most of a match's time). The candidates are
then matched by the same code as before (:func:`apkscan.rules.matcher._rule_evidence`):
the index may only leave out rules that could not have matched, never decide anything.

Packs are read-only once loaded (the loader builds them before any match); an index is
kept per pack object (a few at a time) and holds the pack, so its ``id`` is not reused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from apkscan.rules.certview import CertView
from apkscan.rules.model import Rule, RulePack
from apkscan.rules.normalise import form_search, package_forms

DIGESTS = ("sha256", "sha1", "md5")  # what KnownCert.matches compares


class KnownIndex:
    """Known certificates by digest, so the few certificates of an APK find the ones they are
    (a pack knows ~60: asking each about each was most of the matching's time)."""

    def __init__(self, certs: Iterable[Any]):
        self.certs = list(certs)
        self.by_digest: dict[tuple[str, str], list[int]] = {}
        for pos, kc in enumerate(self.certs):
            for algo in DIGESTS:
                value = getattr(kc, algo)
                if value:
                    self.by_digest.setdefault((algo, value), []).append(pos)

    def sighted(self, digests: Iterable[tuple[str, str]]) -> list[Any]:
        """The known certificates matching any of these (algorithm, hex) digests, in their order."""
        hits = {pos for d in digests for pos in self.by_digest.get(d, ())}
        if not hits:
            return []
        return [self.certs[pos] for pos in sorted(hits)]


@dataclass(slots=True)
class PackIndex:
    """One pack's rules by what can select them, so an identity asks only the rules that could match."""

    by_package: dict[str, list[int]] = field(default_factory=dict)  # exact name and its folded forms -> rule positions
    by_digest: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (algo, hex) -> positions
    always: list[int] = field(default_factory=list)  # rules with a pattern other than labels: always asked
    by_label: list[int] = field(default_factory=list)  # rules whose only pattern is a label: asked on a label hit
    labels: Any = None  # those rules' label patterns combined (prefilter._combined), None: no such rule
    sdk: list[int] = field(default_factory=list)  # SDK rules: asked when DEX classes were read (--deep)
    exact: set[str] = field(default_factory=set)  # every exact package name of the pack
    certificates: KnownIndex = field(default_factory=lambda: KnownIndex(()))  # the pack's known certificates


def build(pack: RulePack) -> PackIndex:
    ix = PackIndex(certificates=KnownIndex(pack.certificates.values()))
    for pos, rule in enumerate(pack.rules):
        if rule.kind == "sdk":
            ix.sdk.append(pos)
        elif _has_pattern(rule):
            (ix.by_label if _labels_only(rule) else ix.always).append(pos)
        elif rule.file_hashes:  # an --iocs file digest: asked of every APK (one compare per digest)
            ix.always.append(pos)
        for key in dict.fromkeys(v for name in rule.packages for _how, v in package_forms(name)):  # folded forms too
            ix.by_package.setdefault(key, []).append(pos)
        ix.exact.update(rule.packages)
        for rc in rule.certificates:
            for algo in DIGESTS:
                value = getattr(rc.cert, algo)
                if value:
                    ix.by_digest.setdefault((algo, value), []).append(pos)
    if ix.by_label:
        from apkscan.rules.prefilter import _combined  # (prefilter imports this module)

        from apkscan.rules import regex_book

        ix.labels = _combined([p for i in ix.by_label for p in pack.rules[i].labels])
        regex_book.save()
    return ix


def _has_pattern(rule: Rule) -> bool:
    return bool(rule.package_globs or rule.package_regexes or rule.labels or rule.subjects
                or rule.issuers or rule.source_stamps)


def _labels_only(rule: Rule) -> bool:
    """Labels are the rule's only pattern: it yields evidence only through a label, its exact
    package names or its certificates' digests (the last two looked up by key here)."""
    return bool(rule.labels) and not (rule.package_globs or rule.package_regexes or rule.subjects
                                      or rule.issuers or rule.source_stamps)


_KEEP = 16
T = TypeVar("T")


def kept(cache: dict[int, tuple[Any, T]], obj: Any, build: Callable[[Any], T]) -> T:
    """``build(obj)``, kept in ``cache`` per object (packs and rule sets are read-only once
    loaded): keyed by ``id``, each entry holds its object so the id is not reused while kept;
    the oldest of :data:`_KEEP` goes first."""
    hit = cache.get(id(obj))
    if hit is not None and hit[0] is obj:
        return hit[1]
    if len(cache) >= _KEEP:
        del cache[next(iter(cache))]
    value = build(obj)
    cache[id(obj)] = (obj, value)
    return value


_CACHE: dict[int, tuple[RulePack, PackIndex]] = {}


def index_of(pack: RulePack) -> PackIndex:
    return kept(_CACHE, pack, build)


_VENDORS: dict[int, tuple[Any, dict[str, KnownIndex]]] = {}


def vendor_index(rules: Any, vendor: str) -> KnownIndex:
    """Every known certificate of ``vendor`` across the rule set's packs, indexed (kept per
    rule-set object, like the packs' indexes)."""
    return kept(_VENDORS, rules, _by_vendor)[vendor]


def _by_vendor(rules: Any) -> dict[str, KnownIndex]:
    by_vendor: dict[str, list[Any]] = {}
    for pack in rules.packs:
        by_vendor.setdefault(pack.vendor, []).extend(pack.certificates.values())
    return {v: KnownIndex(certs) for v, certs in by_vendor.items()}


def candidates(pack: RulePack, ix: PackIndex, packages: Iterable[str], view: CertView,
               sdk: bool = False, labels: Iterable[str] = ()) -> list[Rule]:
    """The rules of ``pack`` (in pack order) that could yield evidence for these package
    readings (every normalised form is looked up, as the matcher compares every form), these
    certificates (every role: signer, lineage, present, recorded) and these labels (asked as
    the matcher asks each rule's patterns, :func:`form_search`); SDK rules with ``sdk``."""
    hit = set(ix.always)
    if ix.labels is not None and any(form_search(ix.labels, label, label=True) for label in labels):
        hit.update(ix.by_label)
    if sdk:
        hit.update(ix.sdk)
    for pkg in packages:
        for _form, value in package_forms(pkg):
            hit.update(ix.by_package.get(value, ()))
    if ix.by_digest:
        for cert in _certificates(view):
            for algo in DIGESTS:
                value = getattr(cert, algo, None)
                if value:
                    hit.update(ix.by_digest.get((algo, value), ()))
    return [pack.rules[i] for i in sorted(hit)]


def _certificates(view: CertView) -> list[Any]:
    return [*view.verified_keys, *(s.certificate for s in view.present), *view.recorded]
