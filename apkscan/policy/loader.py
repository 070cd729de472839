"""Load a policy by name (shipped in ``signatures/policies/``) or by path; bad files say where."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from apkscan.policy.model import AllowEntry, Condition, Decision, Policy, UnverifiedUrl
from apkscan.ranks import STRENGTH_RANK
from apkscan.rules.loader import RulesInvalid, builtin_dir
from apkscan.rules.yamlsrc import (
    Document,
    RuleError,
    check_example_certs,
    normalise_hash,
    read_document,
    read_text,
    shipped_name_taken,
    text_digest,
    validate,
)

DEFAULT_POLICY = "canada-tbs-2023"


def policy_dir() -> Path:
    return builtin_dir() / "policies"


def builtin_policies() -> list[str]:
    return sorted(p.stem for p in policy_dir().glob("*.yaml"))


def is_path_like(name_or_path: str) -> bool:
    """A folder separator or a ``.yaml``/``.yml`` suffix: the user means a file."""
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(s in name_or_path for s in seps) or Path(name_or_path).suffix.lower() in (".yaml", ".yml")


def resolve(name_or_path: str) -> Path:
    """A shipped policy name, or a path to a policy file.

    A bare name means the shipped policy only, never a file of that name in the current
    folder: a pulled device folder or an evidence tree may hold a file called
    ``canada-tbs-2023`` (review 27 F1). Only something path-like opens a file.
    """
    if is_path_like(name_or_path):
        return _policy_file(name_or_path)
    shipped = policy_dir() / f"{name_or_path}.yaml"
    if name_or_path in builtin_policies() and shipped.is_file():
        return shipped
    known = ", ".join(builtin_policies()) or "none"
    hint = (f"; to use the file of that name, pass it as a path: ./{name_or_path}"
            if os.path.lexists(name_or_path) else "")
    raise RulesInvalid([RuleError(name_or_path, None, f"no such policy (shipped: {known}){hint}",
                                  "POLICY_NOT_FOUND")])


def _policy_file(given: str) -> Path:
    """The file a path-like argument names, exactly as the system would open it. ``Path()``
    drops a trailing separator and ``.`` parts, so ``canada-tbs-2023/`` opened the cwd file
    ``canada-tbs-2023`` under the shipped policy's name (review 32 #9): a spelling that names a
    folder, or stops naming a file once normalised, is refused. ``~`` is expanded as a shell
    would (a quoted ``~/x.yaml`` reached us as is)."""
    raw = os.path.expanduser(given) if given.startswith("~") else given
    seps = ("/", os.sep) + ((os.altsep,) if os.altsep else ())
    if os.path.isfile(raw) or not (raw.endswith(seps) or os.path.lexists(raw) or Path(raw).exists()):
        return Path(raw)  # a file, or nothing at all (reading it says "no such file")
    norm = Path(raw)
    hint = "".join([f"; the shipped policy is --policy {norm.name}"] if norm.name in builtin_policies() else [])
    if norm.is_file():
        hint += f"; the file is {norm if norm.parent != Path('.') else './' + norm.name}"
    raise RulesInvalid([RuleError(given, None, f"not a policy file: {given!r} names a folder or is "
                                  f"no file as written (a policy is one file){hint}", "POLICY_NOT_FOUND")])


def load_policy(name_or_path: str = DEFAULT_POLICY, extra_allow: list[AllowEntry] | None = None) -> Policy:
    """Parse and check one policy; raises :class:`RulesInvalid` listing file:line: reason."""
    path = resolve(name_or_path)
    policy, errors = lint_policy(path)
    if errors or policy is None:
        raise RulesInvalid(errors)
    policy.allow.extend(extra_allow or [])
    return policy


def lint_policy(path: str | Path, text: str | None = None) -> tuple[Policy | None, list[RuleError]]:
    try:
        text = read_text(str(path)) if text is None else text
        doc = read_document(path, text)
    except RuleError as exc:
        return None, [exc]
    if not isinstance(doc.data, dict):
        return None, [doc.error((), "a policy file is a mapping with schema, policy, decisions")]
    errors = validate(doc, "policy")
    if errors:
        return None, errors
    try:
        policy = _build(doc)
    except RuleError as exc:
        return None, [exc]
    except (KeyError, TypeError, ValueError) as exc:  # only without jsonschema installed
        return None, [doc.error((), f"malformed policy: {exc}")]
    reserved = shipped_name_taken(policy.name, str(path), text_digest(text), policy_dir(), "policy")
    return (None, [doc.error(("policy",), reserved, "POLICY_NAME_RESERVED")]) if reserved else (policy, [])


def _build(doc: Document) -> Policy:
    d = doc.data
    policy = Policy(name=str(d["policy"]), version=str(d["version"]), title=str(d.get("title", "")),
                    path=doc.path, reviewed=d.get("reviewed"), description=str(d.get("description", "")),
                    default=str(d.get("default", "allowed")), jurisdiction=str(d.get("jurisdiction", "")),
                    effective=d.get("effective"), covers=str(d.get("covers", "")).strip(),
                    uncertain=[str(u) for u in d.get("uncertain", [])], examples=list(d.get("examples") or []))
    seen = set()
    for i, dec in enumerate(d.get("decisions") or []):
        if dec["id"] in seen:
            raise doc.error(("decisions", i, "id"), f"decision id {dec['id']!r} used twice")
        seen.add(dec["id"])
        _check_date(doc, ("decisions", i, "date"), dec.get("date"))
        urls, unverified = _urls(([dec["url"]] if dec.get("url") else []) + list(dec.get("urls", [])))
        policy.decisions.append(Decision(
            id=str(dec["id"]), verdict=str(dec["verdict"]), text=str(dec.get("text", "")),
            authority=str(dec.get("authority", "")), date=dec.get("date"), urls=urls,
            unverified_urls=unverified, uncertain=[str(u) for u in dec.get("uncertain", [])],
            when=condition(doc, ("decisions", i, "when"), dec.get("when"))))
    for i, ex in enumerate(policy.examples):
        check_example_certs(doc, ("examples", i), ex)
        want = (ex.get("expect") or {}).get("decision")
        if want is not None and want not in seen and want != "allow-list":
            raise doc.error(("examples", i, "expect", "decision"), f"example expects unknown decision {want!r}")
        device = [k for k in ("recorded", "origin") if ex.get(k) not in (None, [], "apk")]
        apk = [k for k in ("signers", "present", "lineage", "package_readings", "splits", "dex_classes") if ex.get(k)]
        if device and apk:  # a device record has no APK bytes: these facts would be ignored
            raise doc.error(("examples", i, device[0]),
                            f"a device record ({device[0]}) cannot also have {', '.join(apk)}")
    for i, a in enumerate(d.get("allow") or []):
        policy.allow.append(parse_allow(f"{a['package']}:{a['certificate']}", a.get("reason", ""),
                                        doc, ("allow", i)))
    return policy


WHEN_LISTS = ("rules", "tags", "vendors", "kinds", "basis")


def condition(doc: Document, at: tuple, when: object) -> Condition:
    """A decision's ``when``, checked here whatever validated the file before (review 37 F1: a
    ``kind:`` typo for ``kinds:`` was dropped, leaving a condition on nothing that took every
    finding). ``any`` is the one way to take every finding; a mapping must hold a condition."""
    if when == "any":
        return Condition()
    if not isinstance(when, dict):
        raise doc.error(at, "when: a mapping of conditions, or `any` to take every finding")
    for key, value in when.items():
        if key == "min_strength":
            if value not in STRENGTH_RANK:
                raise doc.error(at + (key,), f"when/min_strength: {value!r} is not one of {', '.join(STRENGTH_RANK)}")
        elif key not in WHEN_LISTS:
            raise doc.error(at + (key,), f"when: unknown condition {key!r} (conditions: "
                            f"{', '.join(WHEN_LISTS)}, min_strength)")
        elif not value or not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise doc.error(at + (key,), f"when/{key}: a non-empty list of text")
    if not when:
        raise doc.error(at, "when: no condition (it would take every finding): write `when: any` if that is meant")
    return Condition(**{k: list(when.get(k, [])) for k in WHEN_LISTS}, min_strength=when.get("min_strength"))


def _check_date(doc: Document, at: tuple, value: object) -> None:
    """A decision date travels into every report: it must be a real calendar date (or month)."""
    if not isinstance(value, str):
        return
    try:
        date.fromisoformat(value if len(value) == 10 else f"{value}-01")
    except ValueError:
        raise doc.error(at, f"date {value!r} is not a calendar date (YYYY-MM-DD or YYYY-MM)") from None


def _urls(entries: list) -> tuple[list[str], list[UnverifiedUrl]]:
    """Split sources into checked URLs and those marked ``verified: false``."""
    urls, unverified = [], []
    for e in entries:
        if isinstance(e, dict):
            if e.get("verified", True):
                urls.append(str(e["url"]))
            else:
                unverified.append(UnverifiedUrl(str(e["url"]), str(e.get("note", ""))))
        else:
            urls.append(str(e))
    return urls, unverified


def parse_allow(spec: str, reason: str = "", doc: Document | None = None, at: tuple = ()) -> AllowEntry:
    """``PACKAGE:SHA256`` (colons inside the digest allowed) as an allow-list entry."""
    package, _, cert = spec.partition(":")
    digest = normalise_hash(cert)
    if not package or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        reason_text = f"allow entry {spec!r} must be PACKAGE:SHA256-of-signing-certificate"
        raise doc.error(at, reason_text) if doc else RuleError("--allow", None, reason_text)
    return AllowEntry(package, digest, reason or "allow-listed by package and signing certificate")
