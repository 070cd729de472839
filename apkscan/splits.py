"""One app per split bundle: the base gives the package, every split is checked against it.

Android installs a split only when its package and signing certificates equal the
base's; a bundle that breaks this was assembled by someone (a repacked store pull, a
planted split). Each split was identified and verified on its own; here it is attached to
its base as a summary (chain, package, split name, sha256, verified signers, its own
verdict), and a split whose package or *verified* signer set differs from the base's
gives the base a ``split-mismatch`` finding (an unverified split never matches: its
verified signer set is empty). Identical APKs (bundletool repeats them across variants)
are counted once, the copies as skipped.
"""

from __future__ import annotations

from apkscan.apk.model import ApkIdentity
from apkscan.issues import warning
from apkscan.policy.model import Policy
from apkscan.policy.multi import decide_all, worse
from apkscan.rules.model import Evidence, Finding, RuleSet
from apkscan.sources.interface import Skipped

KIND = "split-mismatch"
DUPLICATE = "identical APK already scanned in this bundle (bundletool variants)"


def assemble(apps: list, key: str, policies: list[Policy], rules: RuleSet) -> tuple[list, list[Skipped]]:
    """``apps`` (AppResults of one bundle, in order) -> app records with their splits attached.

    Each policy decides on its own: the base's verdict under a policy is the worst of its
    own, each split's and each mismatch's under that policy."""
    unique, dupes = [], []
    seen: set[str] = set()
    for a in apps:
        digest = a.identity.file.sha256 if a.identity.file else None
        if digest and digest in seen:
            dupes.append(a.source)
            continue
        seen.add(digest or a.source)
        unique.append(a)
    skipped = [Skipped((key,), DUPLICATE, len(dupes), dupes[:5])] if dupes else []
    bases = [a for a in unique if a.identity.manifest and a.identity.manifest.split is None]
    splits = [a for a in unique if a not in bases]
    if not bases:
        for a in splits:
            a.warnings.append(warning("CONTAINER_BUNDLE_NO_BASE", "split bundle without a base APK (no manifest without a split attribute)"))
        return splits, skipped
    for s in splits:
        base = next((b for b in bases if _package(b.identity) == _package(s.identity)), bases[0])
        attach(base, s, policies, rules)
    return bases, skipped


def attach(base, split, policies: list[Policy], rules: RuleSet) -> None:
    """Add ``split``'s summary to ``base``; a mismatch becomes a finding; verdicts are the worst."""
    reasons = mismatch(base.identity, split.identity)
    summary = {"source": split.source_dict(), "package": _package(split.identity),
               "split": split.identity.manifest.split if split.identity.manifest else None,
               "sha256": split.identity.file.sha256 if split.identity.file else None,
               "verified": split.identity.verified, "signers": sorted(signer_set(split.identity)),
               "verdict": split.verdict, "verdicts": {n: o.verdict for n, o in split.verdicts.items()},
               "findings": [f.to_dict() for f in split.findings], "mismatch": reasons}
    base.splits.append(summary)
    finding = mismatch_finding(base.identity, split.identity, split.source)
    mismatched = decide_all(split.identity, [finding], policies, rules) if finding is not None else {}
    if finding is not None:
        base.findings.append(finding)
    outcomes = {}
    for name, mine in base.verdicts.items():
        outcome = worse(mine, split.verdicts[name])
        outcomes[name] = worse(outcome, mismatched[name]) if name in mismatched else outcome
    base.set_outcomes(outcomes)


def mismatch_finding(base: ApkIdentity, split: ApkIdentity, where: str) -> Finding | None:
    """The base's ``split-mismatch`` finding for ``split`` (None: Android would install it)."""
    reasons = mismatch(base, split)
    if not reasons:
        return None
    return Finding(rule="apkscan.split-mismatch", vendor="apkscan", app=_package(base) or "",
                   strength="confirmed", kind=KIND, evidence=_evidence(base, split),
                   message=f"split {where} " + "; ".join(reasons), pack="apkscan")


def mismatch(base: ApkIdentity, split: ApkIdentity) -> list[str]:
    """Why Android would refuse this split with this base (empty: consistent)."""
    out = []
    if _package(split) != _package(base):
        out.append(f"package {_package(split)!r} differs from the base's {_package(base)!r}")
    if not split.verified:
        out.append("split signature does not verify")
    elif signer_set(split) != signer_set(base):
        out.append("verified signers differ from the base's")
    return out


def signer_set(identity: ApkIdentity) -> set[str]:
    v = identity.verification
    return {c.sha256 for c in v.signers} if v and v.verified else set()


def _package(identity: ApkIdentity) -> str | None:
    return identity.manifest.package if identity.manifest else None


def _evidence(base: ApkIdentity, split: ApkIdentity) -> list[Evidence]:
    """Basis ``bundle``: facts about how the bundle was put together, not an identity (a
    policy selecting on ``package`` or ``certificate`` must not read a mismatch as a match)."""
    return [Evidence("split.package", _package(split) or "", "bundle", matched=_package(base) or ""),
            Evidence("split.signers", ",".join(sorted(signer_set(split))) or "(none verified)", "bundle",
                     matched=",".join(sorted(signer_set(base))), verified=split.verified)]
