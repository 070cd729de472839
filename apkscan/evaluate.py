"""One identified APK -> :class:`AppResult`: its findings, a verdict per policy, and whether it
counts as scanned, partly scanned or not at all (decided by what ``identify`` states it read).

Apart from :mod:`apkscan.scan` (the run: sources, workers, signals, the result) because the
store's lane (:mod:`apkscan.batch.results`) and the pool's workers ask the same questions of one
identity.
"""

from __future__ import annotations

from apkscan.apk.completeness import PARTLY_READ
from apkscan.apk.model import ApkIdentity
from apkscan.issues import Issue, Severity
from apkscan.policy.multi import decide_all
from apkscan.policy.model import Policy
from apkscan.result import AppResult
from apkscan.rules.matcher import match_identity
from apkscan.rules.model import RuleSet

def evaluate(identity: ApkIdentity, rules: RuleSet, policy: Policy | list[Policy], *, source: str,
             container: str | None = None, dex_path: str | None = None,
             dex_window: tuple[int, int | None] = (0, None), chain: tuple[str, ...] = (),
             dex_deadline: float | None = None, dex_zip64: bool = False) -> AppResult:
    """Findings and a verdict per policy for one identified APK (``dex_path`` set = ``--deep``;
    ``dex_deadline``: the input's time budget, a ``time.monotonic()`` value; ``dex_zip64``: the
    DEX files of the ZIP's second reading, as ``identity`` was read)."""
    classes = None
    warnings: list[Issue] = []
    if dex_path is not None:
        from apkscan.rules.dex import dex_pass  # only --deep pays for it

        classes, warnings, cut = dex_pass(dex_path, window=dex_window, deadline=dex_deadline, zip64=dex_zip64)
        _dex_part(identity, cut)
    findings = match_identity(identity, rules, classes)
    policies = policy if isinstance(policy, list) else [policy]
    app = AppResult(source=source, container=container, identity=identity, findings=findings,
                    warnings=warnings, chain=chain)
    app.set_outcomes(decide_all(identity, findings, policies, rules))
    return app


def _dex_part(identity: ApkIdentity, cut: Issue | None) -> None:
    """``--deep``: the ``dex`` part of ``completeness``, ``not read`` with the code that cut the
    pass short (a limit, the deadline), so the input counts as partly scanned (review 27 F6)."""
    c = identity.completeness
    if cut is None:
        c.done("dex")
    else:
        c.state["dex"], c.why["dex"] = "not read", cut.code


def unscannable(identity: ApkIdentity) -> bool:
    """Nothing to match at all: no manifest was read (``identify`` marks it read only when a
    package came out of it: an empty manifest is not an "allowed" app). Decided by what identify
    states it read, not by error codes: a timed-out APK whose manifest was read is still matched."""
    return not identity.completeness.has("manifest")


def incomplete(identity: ApkIdentity) -> list[Issue]:
    """Input-level errors of a readable APK (limits, timeouts, internal errors): scanned in part;
    a ``--deep`` DEX pass cut short too (SDK rules saw only part of the classes)."""
    out = [i for i in identity.errors if i.code.startswith(PARTLY_READ)]
    c = identity.completeness
    if c.state.get("dex") == "not read":
        out.append(Issue(c.why.get("dex", "DEX_LIMIT_EXCEEDED"), "--deep: the DEX pass stopped before "
                         "every classes*.dex Android loads was read; SDK rules saw part of the classes",
                         Severity.WARNING))
    return out
