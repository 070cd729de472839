"""One app per split bundle: the base gives the package, every split is checked against it.

Android installs a split set only when it has one base (an APK whose manifest has no
``split`` attribute, or an empty one: ``splitName.length() == 0`` is a base to Android), and
every split has the base's package, signing certificates and versionCode, under a split name
no other member uses. A bundle that breaks this was assembled by someone (a repacked store
pull, a planted split). Each split was identified and verified on its own; here it is
attached to its base as a summary (chain, package, split name, sha256, verified signers, its
own verdict and findings), and everything Android would refuse gives the base a
``split-mismatch`` finding. Its strength says what it rests on, never ``confirmed`` (that is
a verified vendor key): ``strong`` for facts read and checked (packages, versionCodes, split
names, a signature that fails, verified signer sets that differ), ``weak`` when only the
signer certificates *present* could be compared (``--quick``, or signatures not read): such a
comparison is said as not verified, and a signature that was not checked is never said to
fail. Identical APKs (bundletool repeats them across variants) are counted once, the copies
as skipped. bundletool's variants (``splits/``, ``standalones/``, ``universal.apk``, ``instant/``)
are install sets of their own, but member names are claims: a bundle is taken for variants only
when its names say so *and* every base has the first base's package, versionCode and signers
(the same app, as bundletool writes it); then a second base and a split name given twice are
variants, and each split's own checks still apply. Otherwise (one base of another key or
package is enough) the bundle is one install set: every further base is flagged with what
differs, and split names must be distinct.
"""

from __future__ import annotations

import re

from apkscan.apk.model import ApkIdentity
from apkscan.issues import warning
from apkscan.open_sets import is_base
from apkscan.policy.model import Policy
from apkscan.policy.multi import decide_all, worse
from apkscan.rules.model import Evidence, Finding, RuleSet
from apkscan.sources.interface import Skipped

KIND = "split-mismatch"
DUPLICATE = "identical APK (same SHA-256) already scanned in this bundle or backup: a repeated member"
# bundletool's .apks holds several install sets (variants: splits/base-master.apk and
# splits/base-master_2.apk, standalones/, universal.apk, instant/), told apart only by its toc.pb
# (a claim): there, only each split's own checks apply, not the set's (one base, distinct names)
BUNDLETOOL = re.compile(r"((splits|standalones|instant|asset-slices)/.*|universal\.apk)\Z")
UNCHECKED = "not verified: content digests not checked or signatures not read"


def assemble(apps: list, key: str, policies: list[Policy], rules: RuleSet) -> tuple[list, list[Skipped]]:
    """``apps`` (AppResults of one bundle, in order) -> app records with their splits attached.

    Each policy decides on its own: the base's verdict under a policy is the worst of its
    own, each split's and each mismatch's under that policy. A second base of the install
    set stays an app of its own and gives the first base a mismatch."""
    unique, skipped = _unique(apps, key)
    bases = [a for a in unique if is_base(a.identity)]
    splits = [a for a in unique if not is_base(a.identity)]  # not "a not in bases": quadratic (review 33)
    if not bases:
        for a in splits:
            a.warnings.append(warning("CONTAINER_BUNDLE_NO_BASE", "split bundle without a base APK (no manifest without a split attribute)"))
        return splits, skipped
    one_set = not _variants(unique, bases)
    names: dict[tuple[int, str], str] = {}  # (base, split name) -> the member that gave it first
    by_package: dict = {}
    for b in bases:
        by_package.setdefault(_package(b.identity), b)
    for s in splits:
        base = by_package.get(_package(s.identity), bases[0])
        split_name = s.identity.manifest.split if s.identity.manifest else None
        first = names.setdefault((id(base), split_name), s.source) if split_name and one_set else s.source
        duplicate = [(f"split name {split_name!r} already given by {first}", "strong")] if first != s.source else []
        attach(base, s, policies, rules, extra=duplicate)
    installed = bases if one_set else bases[:1]
    for other in installed[1:]:
        _second_base_found(installed[0], other, policies, rules)
    return bases, skipped


def _second_base_found(first, other, policies: list[Policy], rules: RuleSet) -> None:
    """A second base in one install set: the first base gets the mismatch; so does the second
    when it claims the same package (either could be the one installed: an impostor base given
    after the genuine one must not read ``allowed`` on its own row). A whole other app stays an
    app of its own."""
    base, second = first.identity, other.identity
    same = _package(second) == _package(base)
    differs = mismatch(base, second) if same else []  # its signers too
    add_mismatch(first, other, [(_second_base(base, second), "strong"), *differs], policies, rules)
    if same:
        add_mismatch(other, first, [(_second_base(second, base), "strong"), *mismatch(second, base)], policies, rules)


def _variants(unique: list, bases: list) -> bool:
    """bundletool's variants: named so (a claim) and, by content, every base the same app as the
    first (package, versionCode, signers: :func:`mismatch` finds nothing). A base of another key
    under a bundletool name makes the bundle one install set again, its checks all on."""
    return any(_bundletool(a) for a in unique) and not any(mismatch(bases[0].identity, b.identity) for b in bases[1:])


def _unique(apps: list, key: str) -> tuple[list, list[Skipped]]:
    unique, dupes = [], []
    seen: set[str] = set()
    for a in apps:
        digest = a.identity.file.sha256 if a.identity.file else None
        if digest and digest in seen:
            dupes.append(a.source)
            continue
        seen.add(digest or a.source)
        unique.append(a)
    return unique, [Skipped((key,), DUPLICATE, len(dupes), dupes[:5])] if dupes else []


def _bundletool(app) -> bool:
    return len(app.chain) > 1 and BUNDLETOOL.match(app.chain[-1]) is not None


def _second_base(base: ApkIdentity, other: ApkIdentity) -> str:
    if _package(other) == _package(base):
        return f"a second base APK of {_package(base)!r} in the same install set (Android installs one)"
    return f"a whole other app ({_package(other)!r}, no split name) in the base's install set"


def attach(base, split, policies: list[Policy], rules: RuleSet, extra: list[tuple[str, str]] = ()) -> None:
    """Add ``split``'s summary to ``base``; a mismatch becomes a finding; verdicts are the worst."""
    reasons = [*mismatch(base.identity, split.identity), *extra]
    summary = {"source": split.source_dict(), "package": _package(split.identity),
               "split": split.identity.manifest.split if split.identity.manifest else None,
               "sha256": split.identity.file.sha256 if split.identity.file else None,
               "verified": split.identity.verified, "signers": sorted(signer_set(split.identity)),
               "verdict": split.verdict, "verdicts": {n: o.verdict for n, o in split.verdicts.items()},
               "findings": [f.to_dict() for f in split.findings], "mismatch": [r for r, _ in reasons]}
    base.splits.append(summary)
    outcomes = {name: worse(mine, split.verdicts[name]) for name, mine in base.verdicts.items()}
    base.set_outcomes(outcomes)
    add_mismatch(base, split, reasons, policies, rules)


def add_mismatch(base, member, reasons: list, policies: list[Policy], rules: RuleSet) -> None:
    """``base`` gets a ``split-mismatch`` finding for ``member`` (decided under every policy).
    It is the base's finding, decided with the base's identity; no allow-list entry decides it
    (:data:`~apkscan.policy.decide.NOT_ALLOWABLE`: the member's key says nothing of the base's)."""
    finding = mismatch_finding(base.identity, member.identity, member.source, reasons)
    if finding is None:
        return
    mismatched = decide_all(base.identity, [finding], policies, rules)
    base.findings.append(finding)
    base.set_outcomes({name: worse(mine, mismatched[name]) for name, mine in base.verdicts.items()})


def mismatch_finding(base: ApkIdentity, split: ApkIdentity, where: str, reasons: list | None = None) -> Finding | None:
    """The base's ``split-mismatch`` finding for ``split`` (None: Android would install it).
    ``reasons``: (text, strength) pairs, by default :func:`mismatch`'s."""
    reasons = mismatch(base, split) if reasons is None else reasons
    if not reasons:
        return None
    strength = "strong" if any(s == "strong" for _, s in reasons) else "weak"
    return Finding(rule="apkscan.split-mismatch", vendor="apkscan", app=_package(base) or "",
                   strength=strength, kind=KIND, evidence=_evidence(base, split),
                   message=f"split {where} " + "; ".join(r for r, _ in reasons), pack="apkscan")


def mismatch(base: ApkIdentity, split: ApkIdentity) -> list[tuple[str, str]]:
    """Why Android would refuse this split with this base, each reason with the strength of
    what it rests on (empty: consistent)."""
    out = []
    if _package(split) != _package(base):
        out.append((f"package {_package(split)!r} differs from the base's {_package(base)!r}", "strong"))
    codes = (_version_code(base), _version_code(split))
    if codes[0] != codes[1]:
        out.append((f"versionCode {codes[1]} differs from the base's {codes[0]}", "strong"))
    return out + _signer_reasons(base, split)


def _signer_reasons(base: ApkIdentity, split: ApkIdentity) -> list[tuple[str, str]]:
    """Verified signer sets compared when both were verified (or a checked signature failed);
    else the signer certificates present, said as not verified (``weak``)."""
    if not (unchecked(base) or unchecked(split)):
        if not split.verified:
            return [("split signature does not verify", "strong")]
        if not base.verified:
            return [("the base's signature does not verify (the split's does)", "strong")]
        return [] if signer_set(split) == signer_set(base) else [("verified signers differ from the base's", "strong")]
    mine, theirs = signers_present(base), signers_present(split)
    if not theirs or not mine:
        who = "split's" if not theirs else "base's"
        return [(f"the {who} signer certificates were not read: signers not compared ({UNCHECKED})", "weak")]
    if mine != theirs:
        return [(f"signer certificates present differ from the base's ({UNCHECKED})", "weak")]
    return []


def unchecked(identity: ApkIdentity) -> bool:
    """Its signature was not fully checked: ``--quick`` (content digests) or signatures not read."""
    c = identity.completeness
    return c.state.get("content_digests") == "not checked" or "signatures" in c.why


def signer_set(identity: ApkIdentity) -> set[str]:
    v = identity.verification
    return {c.sha256 for c in v.signers} if v and v.verified else set()


def signers_present(identity: ApkIdentity) -> set[str]:
    """The certificates in a signer's place (whether or not the signature was checked)."""
    v = identity.verification
    return {s.certificate.sha256 for s in v.sightings if s.role == "signer"} if v else set()


def _package(identity: ApkIdentity) -> str | None:
    return identity.manifest.package if identity.manifest else None


def _version_code(identity: ApkIdentity) -> int | None:
    return identity.manifest.version_code if identity.manifest else None


def _evidence(base: ApkIdentity, split: ApkIdentity) -> list[Evidence]:
    """Basis ``bundle``: facts about how the bundle was put together, not an identity (a
    policy selecting on ``package`` or ``certificate`` must not read a mismatch as a match)."""
    checked = not (unchecked(base) or unchecked(split))
    mine, theirs = (signer_set(base), signer_set(split)) if checked else (signers_present(base), signers_present(split))
    label = "(none verified)" if checked else "(none present)"
    out = [Evidence("split.package", _package(split) or "", "bundle", matched=_package(base) or ""),
           Evidence("split.signers" if checked else "split.signers_present", ",".join(sorted(theirs)) or label,
                    "bundle", matched=",".join(sorted(mine)), verified=split.verified)]
    if _version_code(split) != _version_code(base):
        out.append(Evidence("split.version_code", str(_version_code(split)), "bundle", matched=str(_version_code(base))))
    return out
