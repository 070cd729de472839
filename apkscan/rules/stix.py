"""MVT-style STIX2 indicator files, both ways.

MVT (Mobile Verification Toolkit) reads STIX2 bundles whose indicators carry patterns such
as ``[app:id = 'com.example']`` and ``[app:cert.sha256 = '...']``, listed by a ``report`` or tied
by a relationship to a ``malware`` object naming the threat. We read those as rules (one rule
per report or malware object) and export our packs the same way, so MVT users can consume them.
Only equality patterns on ``app:*`` and ``file:hashes.*`` keys are understood (a file digest is
the whole APK file's); other indicators (and digests of no digest's length or alphabet) are left
out with a RULES_IOC_SKIPPED notice (count, one example), as MVT loads the rest of a feed; a file
with none is refused. A digest is matched as the algorithm its length gives, whatever its key
says (RULES_IOC_MISLABELLED).
As in MVT, each indicator stands alone (a package indicator is a hit, a certificate
indicator is a hit); the rule per malware object only groups them for display and never
yields an impersonation claim.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apkscan import jsonbound
from apkscan.rules.loader import SYNTHETIC_SUFFIXES
from apkscan.rules.model import KnownCert, Rule, RuleCert, RulePack, RuleSet
from apkscan.rules.yamlsrc import RuleError, normalise_hash, read_capped

# An indicator bundle per MVT: ~3 objects of ~10 values per indicator. 1M values is ~30,000
# indicators, more than MVT's largest published files, and ~100 MB of parsed objects at most.
MAX_STIX_VALUES = 1 << 20

# One comparison, as MVT reads it (it strips the brackets, splits at '=', strips spaces and quotes,
# and takes ``cert.'SHA-256'``, ``cert.sha-256`` and ``cert.sha256`` as one key): brackets, quotes
# and spaces optional; an unquoted value has no space, quote, bracket or '=' (so 'a OR b' is no value;
# a double-quoted one, which MVT would keep with its quotes and never match, is left out too)
_PATTERN = re.compile(r"^\[?\s*(app:id|app:cert\.'?[a-z0-9-]+'?|file:hashes\.'?[a-z0-9-]+'?)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|([^\s'\x22\[\]=]+))\s*\]?$",
                      re.IGNORECASE)
_NS = uuid.UUID("6c1bb2f2-7d2c-4b8c-9f1e-0a1d3e5b7c90")  # fixed: stable ids across exports
_CERT_KEYS = {"app:cert.sha256": "sha256", "app:cert.sha1": "sha1", "app:cert.md5": "md5",
              "file:hashes.sha256": "sha256", "file:hashes.sha1": "sha1", "file:hashes.md5": "md5"}
_HASH_LEN = {"sha256": 64, "sha1": 40, "md5": 32}
SUPPORTED = "[app:id = '...'], [app:cert.sha256|sha1|md5 = '...'] and [file:hashes.sha256|sha1|md5 = '...'], one comparison"


def load_stix(path: str | Path, taken: Iterable[str] = (), notices: list[RuleError] | None = None) -> RulePack:
    """One STIX2 bundle as a rule pack; raises RuleError (with the file) when unusable.

    ``taken``: pack names already loaded (a second ``indicators.stix2`` becomes ``ioc.indicators-2``);
    ``notices``: gets a RULES_IOC_SKIPPED warning when indicators apkscan cannot read were left out.
    """
    name = str(path)
    p = Path(path)
    data = read_capped(name, "indicator file", "RULES_IOC_TOO_LARGE")
    try:  # each refusal its own code: a script tells a corrupt feed from an empty or a missing one
        jsonbound.check_values(data, MAX_STIX_VALUES)
        bundle = json.loads(data.decode("utf-8"))
    except jsonbound.TooManyValues as exc:
        raise RuleError(name, None, f"not a JSON STIX2 bundle: {exc}", "RULES_IOC_TOO_LARGE") from exc
    except ValueError as exc:  # bad UTF-8 or JSON, a 4,301-digit integer
        line = getattr(exc, "lineno", None)
        raise RuleError(name, line, f"not a JSON STIX2 bundle: {exc}", "RULES_IOC_NOT_JSON") from exc
    except RecursionError:  # "[[[[..." nested past the parser's depth
        raise RuleError(name, None, "not a JSON STIX2 bundle: nested too deeply",
                        "RULES_IOC_NOT_JSON") from None
    objects = bundle.get("objects") if isinstance(bundle, dict) else None
    if not isinstance(objects, list):
        raise RuleError(name, None, "not a STIX2 bundle: no 'objects' list", "RULES_IOC_NOT_BUNDLE")
    taken = set(taken)
    # the file's name without what prints as nothing or reorders text (a bidi override in the pack
    # and every rule id: review 46 #9): letters, digits, "_", "." and "-" are kept, the rest is "_"
    base = re.sub(r"[^\w.\-]", "_", p.stem) or "indicators"
    stem, n = base, 2
    while f"ioc.{stem}" in taken:
        stem, n = f"{base}-{n}", n + 1
    pack, skipped, mislabelled = _pack_from_objects(objects, stem, name)
    pack.version = f"stix2 {hashlib.sha256(data).hexdigest()[:12]}"  # a changed feed is another version (diff)
    if mislabelled:
        said = (f"{len(mislabelled)} digest indicator{'s' if len(mislabelled) != 1 else ''} whose digest is "
                f"another algorithm's than its key says, e.g. {_short(mislabelled[0])!r}: matched as the "
                "algorithm its length gives (64 hex SHA-256, 40 SHA-1, 32 MD5)")
        pack.notices.append(f"RULES_IOC_MISLABELLED: {said}")
        if notices is not None:
            notices.append(RuleError(name, None, said, "RULES_IOC_MISLABELLED"))
    if skipped and pack.rules:
        said = f"{_skip_text(skipped)}; the other indicators are used"
        pack.notices.append(f"RULES_IOC_SKIPPED: {said}")
        if notices is not None:
            notices.append(RuleError(name, None, said, "RULES_IOC_SKIPPED"))
    elif not pack.rules:  # the user would believe a feed is in use when nothing of it is
        what = _skip_text(skipped) if skipped else "the bundle has no indicator"
        raise RuleError(name, None, f"no indicator apkscan can match: {what}", "RULES_IOC_EMPTY")
    return pack


def _short(pattern: str) -> str:
    return pattern if len(pattern) <= 120 else pattern[:117] + "..."


def _skip_text(skipped: list[str]) -> str:
    example = _short(skipped[0])
    return (f"{len(skipped)} indicator{'s' if len(skipped) != 1 else ''} left out, e.g. {example!r} "
            f"(apkscan reads only {SUPPORTED})")


def _pack_from_objects(objects: list[Any], stem: str, name: str) -> tuple[RulePack, list[str], list[str]]:
    malware, owner = _owners(objects)
    vendor = f"IOC {stem}"
    pack = RulePack(name=f"ioc.{stem}", vendor=vendor, version="stix2", reviewed="", path=name)  # load_stix adds the digest
    rules: dict[str, Rule] = {}
    taken: dict[str, int] = {}  # rule id -> how many objects asked for it (its next suffix)
    skipped: list[str] = []
    mislabelled: list[str] = []
    for o in objects:
        if not isinstance(o, dict) or o.get("type") != "indicator":
            continue
        pattern = str(o.get("pattern", "")).strip()
        m = _PATTERN.match(pattern)
        key, value = _key_value(m) if m else ("", "")
        named = _CERT_KEYS.get(key)
        digest = normalise_hash(value.replace("-", "")) if named else ""  # AB:CD, ab cd, ab-cd
        algo = _algo_of(digest) if named else None
        if not (value if key == "app:id" else algo):
            skipped.append(pattern)  # another key, no package, or a certificate digest of no digest's form
            continue
        if algo != named and key != "app:id":
            mislabelled.append(pattern)  # a SHA-1 under sha256: matched as the SHA-1 it is
        mal_id = owner.get(o["id"], "") if isinstance(o.get("id"), str) else ""
        mal = malware.get(mal_id, {})
        title = _text(mal.get("name"))
        rule = rules.get(mal_id)  # one rule per malware object (MVT: one collection per id)
        if rule is None:
            rid = _rule_id(stem, title, mal_id, taken)
            rule = rules[mal_id] = Rule(id=rid, vendor=vendor, app=title or stem,
                                     pack=pack.name, description=_text(mal.get("description")),
                                     indicator=True,
                                     references=[f"{name} (STIX2 {mal_id or 'indicators'})"])
        if key == "app:id":
            rule.packages.append(value)
            continue
        if key.startswith("file:"):  # the whole APK file's digest (MVT: package file hashes)
            rule.file_hashes.append((algo, digest))
            continue
        rule.certificates.append(RuleCert(_known(pack, rule, algo, digest)))
    pack.rules = list(rules.values())
    return pack, skipped, mislabelled


def _owners(objects: list[Any]) -> tuple[dict[str, dict], dict[str, str]]:
    """(the objects indicators are filed under, by id; indicator id -> its object's id), as MVT
    files them (review 90 F4): under a ``report`` whose ``object_refs`` lists it (the last such
    report, as MVT's loop leaves it), else under the ``malware`` object of the first relationship
    of any type from it (``indicates``, ``related-to`` ...). Ids, references, names and
    descriptions are strings in STIX2; any other JSON value counts as absent, never hashed or
    lower-cased (a crash)."""
    def typed(kind: str) -> list[dict]:
        return [o for o in objects if isinstance(o, dict) and o.get("type") == kind and isinstance(o.get("id"), str)]

    reports = typed("report")
    groups = {o["id"]: o for o in reports}
    groups.update({o["id"]: o for o in typed("malware")})  # MVT looks malware collections up first
    owner: dict[str, str] = {}
    for report in reports:
        refs = report.get("object_refs")
        for ref in refs if isinstance(refs, list) else ():
            if isinstance(ref, str):
                owner[ref] = report["id"]
    for o in objects:
        if (isinstance(o, dict) and o.get("type") == "relationship" and isinstance(o.get("source_ref"), str)
                and isinstance(o.get("target_ref"), str) and groups.get(o["target_ref"], {}).get("type") == "malware"):
            owner.setdefault(o["source_ref"], o["target_ref"])  # MVT files it under the first (review 82 F4)
    return groups, owner


def _algo_of(digest: str) -> str | None:
    """The digest's algorithm by its length (64 hex SHA-256, 40 SHA-1, 32 MD5), whatever key it
    came under: MVT compares a certificate indicator with all three (review 90 F3)."""
    if re.fullmatch("[0-9a-f]+", digest):
        return next((a for a, n in _HASH_LEN.items() if len(digest) == n), None)
    return None


def _key_value(m: re.Match) -> tuple[str, str]:
    """``app:id`` or ``app:cert.<algo>`` (quotes and dashes out of the algorithm, lower case), and
    the value with its surrounding spaces stripped, as MVT keeps it."""
    key = m.group(1).lower().replace("'", "")
    for head in ("app:cert.", "file:hashes."):
        if key.startswith(head):
            key = head + key[len(head):].replace("-", "")
    value = m.group(2).replace("\\'", "'") if m.group(2) is not None else m.group(3)
    return key, value.strip()


def _text(value: Any) -> str:
    """A STIX2 string property; any other JSON value counts as absent."""
    return value if isinstance(value, str) else ""


def _known(pack: RulePack, rule: Rule, algo: str, digest: str) -> KnownCert:
    """The indicator's certificate, also registered as one of the pack's known certificates:
    a copy present in an APK but not verified (pasted into a signature that fails, or riding
    along in a valid one) is then a forged/planted finding, as for the shipped packs, not
    dropped (review 38 F1: the full scan reported nothing where ``--quick`` reported it)."""
    kid = f"{rule.id}:{digest[:12]}"
    held = pack.certificates.get(kid)
    if held is not None and getattr(held, algo) != digest:  # another digest with the same first 12 digits
        kid = f"{rule.id}:{digest}"
    kc = pack.certificates.setdefault(kid, KnownCert(id=kid, references=list(rule.references), **{algo: digest}))
    return kc


def _rule_id(stem: str, title: str, mal_id: str, taken: dict[str, int]) -> str:
    """``ioc.<stem>.<slug of the malware's name>``; a name with no ASCII letter or digit (微信)
    is named by its object's id, and two objects whose names slug alike (``WeChat``, ``wechat!``)
    get ``-2``, ``-3``: a finding never names another object's threat (review 38 R2-4).
    ``taken``: id -> next suffix to try, so 40,000 alike names cost linear time (review 39 #1)."""
    base = f"ioc.{stem}.{_slug(title if re.search('[A-Za-z0-9]', title) else mal_id or 'indicators')}"
    rid, n = base, taken.get(base, 1)
    while rid in taken:  # a suffixed id may be some object's own slug ('x-2'): step past it
        n += 1
        rid = f"{base}-{n}"
    taken[base] = n
    taken.setdefault(rid, 1)
    return rid


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "indicators"
    # "vendor" etc. name the findings apkscan makes for a pack (ioc.<stem>.vendor): never a rule's id
    return f"{slug}-indicators" if slug in SYNTHETIC_SUFFIXES else slug


def export_stix(rules: RuleSet, *, created: datetime | None = None) -> dict[str, Any]:
    """A STIX 2.1 bundle MVT can load: one malware object per app rule, one indicator per fact.

    MVT reads each indicator alone and splits a pattern at its one ``=`` (no ``AND``), so a
    certificate a rule marks ``shared`` (it confirms the app only together with the package)
    is left out: alone it would name every app of that key as this one (review 27 F12).
    So are labels, globs, regexes, subject/issuer patterns and source stamps (MVT matches exact
    packages and digests only): the malware object's description says what of its rule was left
    out, and :func:`left_out` counts it all for the command to say (review 64 F11).
    """
    when = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    objects: list[dict[str, Any]] = []
    for rule in rules.rules:
        own = [rc for rc in rule.certificates if not rc.shared]
        shared = len(rule.certificates) - len(own)
        if rule.kind != "app" or not (rule.packages or own or rule.file_hashes):
            continue  # MVT indicators are exact packages and certificate digests only
        mal_id = f"malware--{uuid.uuid5(_NS, rule.id)}"
        note = (f"; {shared} certificate{'s' if shared > 1 else ''} shared with other apps left out "
                "(it identifies this app only together with its package, and MVT reads each "
                "indicator alone)") if shared else ""
        if others := {k: n for k, n in _rule_left_out(rule).items() if k != "shared certificate"}:
            note += (f"; not exported, since MVT matches only exact packages and certificate digests: "
                     f"{_counted(others)} (apkscan's own scans still match them)")
        objects.append({"type": "malware", "spec_version": "2.1", "id": mal_id, "created": when,
                        "modified": when, "name": f"{rule.vendor}: {rule.app}", "is_family": False,
                        "description": f"apkscan rule {rule.id} (pack {rule.pack}); "
                                       f"references: {', '.join(rule.references)}{note}"})
        patterns = [f"[app:id = '{p}']" for p in rule.packages]
        for rc in own:
            algo = next(a for a in ("sha256", "sha1", "md5") if getattr(rc.cert, a))
            patterns.append(f"[app:cert.{algo} = '{getattr(rc.cert, algo)}']")
        patterns += [f"[file:hashes.{algo} = '{digest}']" for algo, digest in rule.file_hashes]
        for pattern in dict.fromkeys(patterns):
            objects += _indicator(rule, pattern, mal_id, when)
    return {"type": "bundle", "id": f"bundle--{uuid.uuid5(_NS, when)}", "objects": objects}


def _rule_left_out(rule: Rule) -> dict[str, int]:
    """What of an app rule no MVT indicator can say, by kind (only the kinds it has)."""
    kinds = (("label pattern", len(rule.labels)), ("package glob", len(rule.package_globs)),
             ("package regex", len(rule.package_regexes)), ("subject pattern", len(rule.subjects)),
             ("issuer pattern", len(rule.issuers)), ("source stamp", len(rule.source_stamps)),
             ("shared certificate", sum(rc.shared for rc in rule.certificates)))
    return {k: n for k, n in kinds if n}


def left_out(rules: RuleSet) -> tuple[dict[str, int], list[str]]:
    """(count by kind of what :func:`export_stix` leaves out, ids of the rules it leaves out
    whole): SDK rules (class prefixes), app rules with no exact package or own certificate
    (``bytedance.namespace``, ``kaspersky.label``), the parts of the others no indicator can
    say, and the packs' publisher patterns and names."""
    counts: dict[str, int] = {}
    whole: list[str] = []

    def add(kind: str, n: int) -> None:
        if n:
            counts[kind] = counts.get(kind, 0) + n

    for rule in rules.rules:
        if rule.kind != "app":
            add("SDK rule" if rule.kind == "sdk" else f"{rule.kind} rule", 1)
            continue
        if not (rule.packages or rule.file_hashes or any(not rc.shared for rc in rule.certificates)):
            whole.append(rule.id)
        for kind, n in _rule_left_out(rule).items():
            add(kind, n)
    for pack in rules.packs:
        add("publisher pattern", len(pack.publishers))
        add("publisher name", len(pack.publisher_names))
    return counts, whole


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}{'es' if n > 1 and kind.endswith(('s', 'x')) else 's' if n > 1 else ''}"
                     for kind, n in counts.items())


def left_out_text(rules: RuleSet) -> str | None:
    """The export's RULES_EXPORT_PARTIAL warning, or None when nothing is left out."""
    counts, whole = left_out(rules)
    if not counts and not whole:
        return None
    parts = [_counted(counts)] if counts else []
    if whole:
        shown = ", ".join(whole[:6]) + (f" and {len(whole) - 6} more" if len(whole) > 6 else "")
        parts.append(f"{len(whole)} app rule{'s' if len(whole) > 1 else ''} with nothing else, not exported ({shown})")
    return ("left out what MVT indicators cannot say (they match exact packages and certificate digests "
            f"only): {'; '.join(parts)}")


def _indicator(rule: Rule, pattern: str, mal_id: str, when: str) -> list[dict[str, Any]]:
    """One indicator and its ``indicates`` relationship to the rule's malware object."""
    ind_id = f"indicator--{uuid.uuid5(_NS, rule.id + pattern)}"
    return [{"type": "indicator", "spec_version": "2.1", "id": ind_id, "created": when,
             "modified": when, "valid_from": when, "pattern_type": "stix",
             "pattern": pattern, "indicator_types": ["attribution"], "name": rule.app},
            {"type": "relationship", "spec_version": "2.1",
             "id": f"relationship--{uuid.uuid5(_NS, ind_id + mal_id)}",
             "created": when, "modified": when, "relationship_type": "indicates",
             "source_ref": ind_id, "target_ref": mal_id}]
