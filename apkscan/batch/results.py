"""What matching and deciding made of a stored identity: the scan store's result keys and the
store-backed form of :func:`apkscan.scan.evaluate` (without ``--deep``).

A warm rescan (same rule set, same policies, same code) takes the findings and verdicts from
the store; after a policy change it takes the findings and decides again; otherwise it
matches. Keys: :func:`result_keys`; rows: the ``matches`` and ``decisions`` tables of
:mod:`apkscan.batch.store`, read (:func:`recall`, shape-checked) and written (:func:`remember`) here.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
    return (content_digest(rules) + code_digest("rules", "scan.py", "evaluate.py", "batch/results.py", "ranks.py",
                                                 "ignorable.py", "key_fields.py")
            + ":unicode-" + unicodedata.unidata_version,
            content_digest(policies) + code_digest("policy", "ranks.py"))


def through_store(identity: ApkIdentity, item: ScanInput, settings: ScanSettings, chain: tuple[str, ...],
                  stored_only: bool, facts: dict[str, Any] | None = None) -> AppResult | None:
    """:func:`apkscan.scan.evaluate` without ``--deep``, answered by the store when it holds this identity's
    findings for this rule set (then only decided again) or its decisions for these policies too.
    ``facts``: the identity's match facts, when the store just computed them to keep them."""
    assert identity.file is not None and settings.store and settings.result_keys
    hit = recall(settings.store, identity.file.sha256, settings.sdk_kwargs, *settings.result_keys,
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
        app.findings = matcher.match_identity(identity, settings.rules, facts=facts)
        matched = pickle.dumps(app.findings, protocol=pickle.HIGHEST_PROTOCOL)  # before deciding sets verdicts
        app.set_outcomes(decide_all(identity, app.findings, settings.policies, settings.rules))
    remember(settings.store, identity, settings.sdk_kwargs, *settings.result_keys, matched,
                          app.findings, app.verdicts)
    return app


# --- rows (tables matches and decisions of apkscan.batch.store) ----------------------------------


@dataclass(slots=True)
class StoredResult:
    """Findings of a stored identity under this rule set: decided (``outcomes`` set) under
    these policies, or only matched (``outcomes`` None: decide them again)."""

    findings: list[Any]
    outcomes: dict[str, Any] | None


def recall(path: str, sha: str, sdk: dict[str, Any], rules_key: str, policies_key: str,
                  policy_names: tuple[str, ...] = ()) -> StoredResult | None:
    """What matching (and deciding) made of the identity with SHA-256 ``sha`` before; None = match it.
    A row of the wrong shape (damaged, or planted with the right types in the wrong places) is a
    miss, never a crash: findings must be findings, and outcomes one per policy of this run, in order."""
    conn = store.connection(path)
    if conn is None:
        return None
    where = (sha, store.parser_version(), store.options_key(sdk), rules_key)
    try:  # both rows in one statement (a miss of both is the usual case after a rule change)
        decided, decided_seal, matched, matched_seal = conn.execute(_BOTH, (*where, policies_key, *where)).fetchone()
    except sqlite3.Error:
        return None
    if decided is not None and not _sealed(decided, decided_seal, "decisions", *where, policies_key):
        store.ignored(f"a decisions row for {sha} does not hold what its seal was taken of")
        decided = None
    if matched is not None and not _sealed(matched, matched_seal, "matches", *where):
        store.ignored(f"a matches row for {sha} does not hold what its seal was taken of")
        matched = None
    got = store.loads_or_none(decided) if decided is not None else None
    if isinstance(got, tuple) and len(got) == 2 and _findings(got[0]) and _outcomes(got[1], policy_names):
        return StoredResult(got[0], got[1])
    if decided is not None:
        store.ignored(f"a decisions row for {sha} is not findings and one outcome per policy")
    got = ([] if matched == _NONE else store.loads_or_none(matched)) if matched is not None else None
    if not _findings(got):
        if matched is not None:
            store.ignored(f"a matches row for {sha} is not a list of findings")
        return None
    return StoredResult(got, None)


_NONE = pickle.dumps([], protocol=pickle.HIGHEST_PROTOCOL)  # no findings (most apps): read without an unpickler


_BOTH = ("SELECT d.decided, d.seal, m.findings, m.seal FROM (SELECT 1) "
         "LEFT JOIN decisions d ON d.sha256=? AND d.parser=? AND d.options=? AND d.rules=? AND d.policies=? "
         "LEFT JOIN matches m ON m.sha256=? AND m.parser=? AND m.options=? AND m.rules=?")


def row_seal(blob: bytes, table: str, *key: str) -> str:
    """The seal a ``matches`` or ``decisions`` row is written with: a SHA-256 (128 bits kept) of its
    table, its key (SHA-256, parser, options, rules, and for a decision policies) and its pickle.
    The key is sealed too (review 89 F2): a clean APK's row copied, seal and all, onto a banned
    one's SHA-256 was served as the banned APK's verdict; now it is a miss. A checksum against
    damage below SQL and rows moved onto other keys, not an authenticator (docs/batch.md)."""
    head = json.dumps([table, *key]).encode("utf-8", "surrogatepass")
    return hashlib.sha256(head + b"\n" + blob).hexdigest()[:32]


def _sealed(blob: Any, seal: Any, table: str, *key: str) -> bool:
    return isinstance(blob, bytes) and isinstance(seal, str) and row_seal(blob, table, *key) == seal


def _findings(value: Any) -> bool:
    from apkscan.rules.model import Finding

    if not (isinstance(value, list) and all(isinstance(f, Finding) for f in value)):
        return False
    try:  # right type, damaged inside (a field of another type): would fail in matching or a report
        for f in value:  # (to_dict reads every field: findings stored as matched have no verdicts yet)
            if not all(isinstance(x, str) for x in (f.rule, f.vendor, f.app, f.strength, f.kind, f.message, f.pack)):
                return False
            _ = f.bases, f.to_dict()
    except Exception:  # noqa: BLE001 - a planted or damaged row is a miss
        return False
    return True


def _outcomes(value: Any, policy_names: tuple[str, ...]) -> bool:
    from apkscan.policy.decide import Outcome
    from apkscan.ranks import VERDICTS

    return (isinstance(value, dict) and tuple(value) == policy_names and bool(policy_names)
            and all(isinstance(o, Outcome) and o.verdict in VERDICTS and (o.policy is None or isinstance(o.policy, dict))
                    for o in value.values()))


def remember(path: str, identity: Any, sdk: dict[str, Any], rules_key: str, policies_key: str,
                    matched: bytes | None, findings: list[Any], outcomes: dict[str, Any]) -> None:
    """Store the findings as matched (``matched``: their pickle before deciding) and as decided."""
    if store.storable(identity):
        remember_decided(path, identity.file.sha256, sdk, rules_key, policies_key, matched, findings, outcomes)


def remember_decided(path: str, sha: str, sdk: dict[str, Any], rules_key: str, policies_key: str,
                     matched: bytes | None, findings: list[Any], outcomes: dict[str, Any]) -> None:
    """:func:`remember` by SHA-256."""
    conn = store.connection(path)
    if conn is None:
        return
    where = (sha, store.parser_version(), store.options_key(sdk), rules_key)
    try:
        decided = pickle.dumps((findings, outcomes), protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError):
        return
    remember_matched(path, sha, sdk, rules_key, matched)
    store.buffered_write(conn, "INSERT OR REPLACE INTO decisions VALUES (?,?,?,?,?,?,?)",
                         (*where, policies_key, decided, row_seal(decided, "decisions", *where, policies_key)))


def remember_matched(path: str, sha: str, sdk: dict[str, Any], rules_key: str, matched: bytes | None) -> None:
    """Store the findings the stored identity of ``sha`` matched (``matched``: their pickle before
    deciding; None: nothing to store), stored only for a storable identity (the warm lane matching
    it again: :mod:`apkscan.batch.known`). Committed with the lane's rows (:meth:`KnownFiles.flush`)."""
    conn = store.connection(path) if matched is not None else None
    if conn is not None:
        where = (sha, store.parser_version(), store.options_key(sdk), rules_key)
        store.buffered_write(conn, "INSERT OR REPLACE INTO matches VALUES (?,?,?,?,?,?)",
                             (*where, matched, row_seal(matched, "matches", *where)))
