"""What matching and deciding made of a stored identity: the scan store's result keys and the
store-backed form of :func:`apkscan.scan.evaluate` (without ``--deep``).

A warm rescan (same rule set, same policies, same code) takes the findings and verdicts from
the store; after a policy change it takes the findings and decides again; otherwise it
matches. Keys: :func:`result_keys`; rows: :mod:`apkscan.batch.store`.
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING

from apkscan.batch import store
from apkscan.policy.multi import decide_all
from apkscan.result import AppResult
from apkscan.rules import matcher

if TYPE_CHECKING:
    from apkscan.apk.model import ApkIdentity
    from apkscan.policy.model import Policy
    from apkscan.rules.model import RuleSet
    from apkscan.scan import ScanSettings
    from apkscan.sources.interface import ScanInput


def result_keys(rules: RuleSet, policies: list[Policy]) -> tuple[str, str]:
    """What stored findings and decisions are keyed by besides the identity: the rule set's and
    the policies' content and the code that matches and decides (any change is a miss)."""
    import unicodedata

    from apkscan.batch.digest import code_digest, content_digest

    # names are matched after NFKC and case folding: another Python's Unicode tables may match
    # differently, so a store shared between interpreters never serves the other's findings
    return (content_digest(rules) + code_digest("rules", "scan.py", "batch/results.py", "ranks.py")
            + ":unicode-" + unicodedata.unidata_version,
            content_digest(policies) + code_digest("policy", "ranks.py"))


def through_store(identity: ApkIdentity, item: ScanInput, settings: ScanSettings, chain: tuple[str, ...],
                  stored_only: bool) -> AppResult | None:
    """:func:`apkscan.scan.evaluate` without ``--deep``, answered by the store when it holds this identity's
    findings for this rule set (then only decided again) or its decisions for these policies too."""
    assert identity.file is not None and settings.store and settings.result_keys
    hit = store.recall_result(settings.store, identity.file.sha256, settings.sdk_kwargs, *settings.result_keys,
                              tuple(p.name for p in settings.policies))
    app = AppResult(source=item.display, container=item.container, identity=identity, chain=chain)
    if hit is not None and hit.outcomes is not None:
        app.findings = hit.findings
        app.set_outcomes(hit.outcomes)
        return app
    if hit is None and stored_only:
        return None  # matching is a worker's job
    if hit is not None:
        try:  # stored findings of the right type but a damaged inside: match again, never fail the run
            app.findings = hit.findings
            app.set_outcomes(decide_all(identity, app.findings, settings.policies, settings.rules))
        except Exception:  # noqa: BLE001
            hit = None
    matched = None
    if hit is None:
        app.findings = matcher.match_identity(identity, settings.rules)
        matched = pickle.dumps(app.findings, protocol=pickle.HIGHEST_PROTOCOL)  # before deciding sets verdicts
        app.set_outcomes(decide_all(identity, app.findings, settings.policies, settings.rules))
    store.remember_result(settings.store, identity, settings.sdk_kwargs, *settings.result_keys, matched,
                          app.findings, app.verdicts)
    return app
