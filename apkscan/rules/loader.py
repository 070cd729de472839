"""Load rule packs: the built-in vendor packs, user files and folders, MVT STIX2 indicators.

A bad file is rejected whole with every problem as file:line: reason, so a typo in a
hash never silently turns a rule off. Built-in packs ship inside the wheel as package
data of ``apkscan.signatures`` (mapped from the repository's top-level ``signatures/``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from apkscan.rules import regex_book
from apkscan.rules.attrs import attribute_name, unknown_attribute
from apkscan.rules.model import (
    KnownCert,
    NamePattern,
    Rule,
    RuleCert,
    RulePack,
    RuleSet,
)
from apkscan.rules.normalise import publisher_key, skeleton_side
from apkscan.rules.pack_set import duplicates, shipped_names_taken, vendor_keys_added
from apkscan.rules.regex_safety import simple, unsafe
from apkscan.rules.yamlsrc import (
    HASH_LEN,
    Document,
    RuleError,
    check_example_certs,
    normalise_hash,
    read_document,
    read_text,
    text_digest,
    validate,
)

RULE_SUFFIXES = (".yaml", ".yml")
# ids apkscan gives findings no rule wrote (``<pack>.vendor``, ``<pack>.forged-certificate``,
# ..., ``apkscan.manifest-ambiguity``) and its indicator packs (``ioc.<file>``): a rule
# taking one would lend its tags to those findings (review 27 F7), so none may
SYNTHETIC_SUFFIXES = ("vendor", "forged-certificate", "planted-certificate", "counterfeit-certificate")
RESERVED_PREFIXES = ("apkscan.", "ioc.")


class RulesInvalid(Exception):
    """One or more rule files are unusable; ``errors`` lists each with file and line."""

    def __init__(self, errors: list[RuleError]):
        super().__init__("\n".join(e.message for e in errors))
        self.errors = errors


def builtin_dir() -> Path:
    """Folder of the shipped packs: ``apkscan/signatures`` when installed from a wheel,
    the repository's top-level ``signatures/`` in a checkout or editable install."""
    package_root = Path(__file__).resolve().parents[1]
    for candidate in (package_root / "signatures", package_root.parent / "signatures"):
        if candidate.is_dir():
            return candidate
    return package_root / "signatures"


def builtin_files() -> list[Path]:
    return sorted(p for p in builtin_dir().glob("*.y*ml") if p.suffix in RULE_SUFFIXES)


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders to their ``*.yaml``/``*.yml`` files, any case (``ORG.YAML``), not recursing
    (a pack layout's ``policies/`` is not rules). A folder with none stays in the list as itself:
    :func:`lint_file` refuses it, as a run must not go on with a rule set silently smaller than asked
    (review 82 F1: a mistyped folder loaded nothing, exit 0)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in RULE_SUFFIXES)
            out += found or [p]
        else:
            out.append(p)
    return out


def _empty_folder(path: Path) -> RuleError:
    """Why a folder given for rules loaded nothing: what it holds, and that subfolders are not read."""
    try:
        names = sorted(f.name + ("/" if f.is_dir() else "") for f in path.iterdir())
    except OSError as exc:
        return RuleError(str(path), None, f"cannot list this folder: {exc.strerror or exc}")
    held = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "") if names else "nothing"
    return RuleError(str(path), None, f"no rule file (*.yaml, *.yml) in this folder (it holds {held}; "
                                      "subfolders are not read): give the files or the folder that holds them")


def load_iocs(iocs: Iterable[str | Path], taken: set[str],
              notices: list[RuleError]) -> tuple[list[RulePack], list[RuleError]]:
    """The packs of STIX2 indicator files (``ioc.<stem>``, a name in ``taken`` gets ``-2``) and the
    errors; a feed with nothing apkscan matches beside others that have some is a notice (review 90
    F6). Shared by a run and ``rules lint --iocs``, so both load a feed alike."""
    packs: list[RulePack] = []
    errors: list[RuleError] = []
    given: set[str] = set()
    empty: list[RuleError] = []
    taken = set(taken)
    for f in iocs:
        from apkscan.rules.stix import load_stix  # local: stix imports this module; only with --iocs

        if os.path.realpath(f) in given:  # its indicators would count twice
            errors.append(RuleError(str(f), None, "indicator file given twice"))
            continue
        given.add(os.path.realpath(f))
        try:  # two files of one name in two folders: the second pack is ioc.<stem>-2
            pack = load_stix(f, taken, notices)
        except RuleError as exc:
            (empty if exc.code == "RULES_IOC_EMPTY" else errors).append(exc)
            continue
        packs.append(pack)
        taken.add(pack.name)
    errors += [] if packs else empty
    notices += [RuleError(e.file, None, f"{e.reason}; the other --iocs files are used", "RULES_IOC_FILE_EMPTY")
                for e in empty if packs]
    return packs, errors


def load_ruleset(paths: Iterable[str | Path] = (), *, builtin: bool = True,
                 iocs: Iterable[str | Path] = ()) -> RuleSet:
    """Built-in packs (unless ``builtin=False``) plus user rule files and STIX2 indicator files."""
    files = (builtin_files() if builtin else []) + rule_files(paths)
    packs: list[RulePack] = []
    errors: list[RuleError] = []
    notices: list[RuleError] = []
    for f in files:
        pack, errs = lint_file(f)
        errors += errs
        if pack is not None:
            packs.append(pack)
    fed, errs = load_iocs(iocs, {p.name for p in packs}, notices)
    packs += fed
    errors += errs
    errors += duplicates(packs) + ([] if builtin else shipped_names_taken(packs))
    if errors:
        raise RulesInvalid(errors)
    shipped = {str(f) for f in builtin_files()} if builtin else set()
    for pack in packs:
        pack.shipped = pack.path in shipped
    for note in vendor_keys_added(packs, shipped):
        notices.append(note)
        next(p for p in packs if p.path == note.file).notices.append(f"{note.code}: {note.reason}")
    regex_book.save()  # what this run compiled and found safe, for the next (a no-op when nothing was new)
    return RuleSet(packs, notices=notices)


def reserved_id(rule_id: str) -> str | None:
    """Why ``rule_id`` may not be a rule's id, or None."""
    head, _, last = rule_id.rpartition(".")
    if rule_id.startswith(RESERVED_PREFIXES):
        return (f"rule id {rule_id!r} is reserved: ids starting {' or '.join(RESERVED_PREFIXES)} name "
                "apkscan's own findings and indicator files")
    if head and last in SYNTHETIC_SUFFIXES:
        return (f"rule id {rule_id!r} is reserved: '<pack>.{last}' is the id of the {last} findings "
                "apkscan makes for a pack; choose another id")
    return None


def lint_file(path: str | Path, text: str | None = None) -> tuple[RulePack | None, list[RuleError]]:
    """Parse and check one rule file: (pack, []) when good, (None, errors) when not."""
    if text is None and Path(path).is_dir():  # a folder that gave no rule file (rule_files)
        return None, [_empty_folder(Path(path))]
    try:  # read once: every later check of the file's bytes uses this text (review 91 F2)
        text = read_text(str(path)) if text is None else text
        doc = read_document(path, text)
    except RuleError as exc:
        return None, [exc]
    if not isinstance(doc.data, dict):
        return None, [doc.error((), "a rule file is a mapping with schema, pack, vendor, rules")]
    errors = validate(doc, "rules")
    pack, semantic = _collect_pack(doc, schema_valid=not errors)
    errors += semantic  # every problem of the file in one run, not one per run
    if errors or pack is None:
        return None, errors
    pack.text_sha256 = text_digest(text)
    return pack, []


def build_pack(doc: Document) -> RulePack:
    """Turn a validated document into a :class:`RulePack`; raises the first semantic RuleError."""
    pack, errors = _collect_pack(doc)
    if errors:
        raise errors[0]
    assert pack is not None
    return pack


def _collect_pack(doc: Document, schema_valid: bool = True) -> tuple[RulePack | None, list[RuleError]]:
    """Build item by item, collecting each semantic error instead of stopping at the first.

    On a schema-invalid document, items that are malformed (already reported by the schema)
    are skipped silently; the others still get their semantic checks.
    """
    d = doc.data
    errors: list[RuleError] = []
    try:
        pack = RulePack(name=str(d["pack"]), vendor=str(d["vendor"]), version=str(d["version"]),
                        reviewed=str(d["reviewed"]), path=doc.path,
                        description=str(d.get("description", "")),
                        sources={str(k): str(v) for k, v in (d.get("sources") or {}).items()})
    except (KeyError, TypeError, ValueError, AttributeError):
        if schema_valid:
            raise
        return None, errors
    if pack.name == "apkscan" or pack.name.startswith(RESERVED_PREFIXES):
        errors.append(doc.error(("pack",), f"pack name {pack.name!r} is reserved (apkscan's own findings "
                                           "and indicator files): choose another", "RULES_ID_RESERVED"))

    def each(key: str, add) -> None:
        items = d.get(key) or []
        for i, item in enumerate(items if isinstance(items, list) else []):
            try:
                add(i, item)
            except RuleError as exc:
                errors.append(exc)
            except (KeyError, TypeError, ValueError, AttributeError):
                if schema_valid:
                    raise

    def add_cert(i: int, c) -> None:
        kc = _known_cert(doc, ("certificates", i), c, pack)
        if kc.id in pack.certificates:
            raise doc.error(("certificates", i, "id"), f"certificate id {kc.id!r} defined twice")
        pack.certificates[kc.id] = kc

    def add_publisher(i: int, p) -> None:
        at = ("publisher", i)
        _check_refs(doc, at + ("references",), p.get("references", []), pack)
        if p.get("subject"):
            pack.publishers.append(_name_pattern(doc, at + ("subject",), p["subject"],
                                                 list(p.get("references", []))))
        for j, name in enumerate(p.get("names") or []):
            if not publisher_key(str(name)):
                raise doc.error(at + ("names", j), f"publisher name {name!r} is only legal-form words")
            pack.publisher_names.append(str(name))

    each("certificates", add_cert)
    each("publisher", add_publisher)
    each("rules", lambda i, r: pack.rules.append(_rule(doc, ("rules", i), r, pack)))
    return pack, errors


def _check_refs(doc: Document, at: tuple, refs: list[str], pack: RulePack) -> None:
    if not pack.sources:
        return
    for j, ref in enumerate(refs):
        key = str(ref).split()[0] if str(ref).startswith("S_") else None
        if key is not None and key not in pack.sources:
            raise doc.error(at + (j,), f"reference {ref!r} is not a key of sources")


def _known_cert(doc: Document, at: tuple, c: dict[str, Any], pack: RulePack) -> KnownCert:
    hashes = {}
    for algo, length in HASH_LEN.items():
        if c.get(algo):
            value = normalise_hash(c[algo])
            if not re.fullmatch(f"[0-9a-f]{{{length}}}", value):
                raise doc.error(at + (algo,), f"{algo} must be {length} hex digits, got {c[algo]!r}")
            hashes[algo] = value
    if not hashes:
        raise doc.error(at, "a certificate needs sha256, sha1 or md5")
    _check_refs(doc, at + ("references",), c.get("references", []), pack)
    return KnownCert(id=str(c.get("id") or c.get("ref") or next(iter(hashes.values()))),
                     confidence=str(c.get("confidence", "high")), subject=c.get("subject"),
                     label=c.get("label"), references=list(c.get("references", [])),
                     serial=c.get("serial"), not_before=c.get("not_before"),
                     not_after=c.get("not_after"), **hashes)


def _regex(doc: Document, at: tuple, text: str) -> re.Pattern[str]:
    """A rule's pattern, compiled; refused when matching it could hang a scan (``re`` cannot be
    interrupted: :mod:`apkscan.rules.regex_safety`), as written or as its skeleton side reads it."""
    try:
        compiled = regex_book.compile(text)
    except re.error as exc:
        raise doc.error(at, f"bad regular expression {text!r}: {exc}") from exc
    if simple(text) or regex_book.known_safe(text):  # its skeleton side is no less simple
        return compiled
    why = unsafe(text)
    mapped = skeleton_side(compiled) if why is None else None
    if mapped is not None and (why := unsafe(mapped.pattern, mapped.flags)) is not None:
        why += f" (as its non-ASCII letters read on the skeleton side: {mapped.pattern!r})"
    if why is not None:
        raise doc.error(at, f"regular expression {text!r} refused: {why}", "RULES_REGEX_UNSAFE")
    regex_book.remember_safe(text)
    return compiled


def _name_pattern(doc: Document, at: tuple, spec: dict[str, str], refs: list[str]) -> NamePattern:
    """Keys as the certificate reader names attributes (:mod:`apkscan.rules.attrs`): ``o`` and
    ``organizationName`` are ``O``; a key naming no attribute could never match, so it is refused."""
    attrs: dict[str, re.Pattern[str]] = {}
    for k, v in spec.items():
        name = attribute_name(str(k))
        if name is None:
            raise doc.error(at + (k,), unknown_attribute(k))
        if name in attrs:
            raise doc.error(at + (k,), f"{k!r} is the attribute {name}, already given in this pattern")
        attrs[name] = _regex(doc, at + (k,), str(v))
    return NamePattern(attrs, refs)


def _cert_use(doc: Document, at: tuple, use: Any, pack: RulePack, register: bool = True) -> RuleCert:
    """A rule's certificate: a ``ref`` to the pack's, or written inline. An inline signing
    certificate is the vendor's key as much as a listed one, so it is ``register``-ed among the
    pack's certificates (the vendor-key, impersonation, planted and counterfeit checks read only
    those: review 53 F4); a source stamp's is not (a store's stamp key signs every vendor's apps)."""
    if isinstance(use, str):
        use = {"ref": use}
    if "ref" in use:
        kc = pack.certificates.get(str(use["ref"]))
        if kc is None:
            raise doc.error(at, f"unknown certificate {use['ref']!r} (define it under certificates)")
        return RuleCert(kc, bool(use.get("shared", False)))
    kc = _known_cert(doc, at, use, pack)
    if register:
        held = pack.certificates.setdefault(kc.id, kc)
        if (held.sha256, held.sha1, held.md5) != (kc.sha256, kc.sha1, kc.md5):
            raise doc.error(at, f"inline certificate id {kc.id!r} is already a certificate of this pack "
                                "with other digests (give it another id)")
        kc = held
    return RuleCert(kc, bool(use.get("shared", False)))


def _rule(doc: Document, at: tuple, r: dict[str, Any], pack: RulePack) -> Rule:
    m = r.get("match") or {}
    _check_refs(doc, at + ("references",), r.get("references", []), pack)
    rule = Rule(id=str(r["id"]), vendor=pack.vendor, app=str(r["app"]), pack=pack.name,
                kind=str(r.get("kind", "app")), description=str(r.get("description", "")),
                tags=list(r.get("tags", [])), references=list(r.get("references", [])),
                examples=list(r.get("examples", [])), line=doc.line(at))
    for j, example in enumerate(rule.examples):
        check_example_certs(doc, at + ("examples", j), example)
    reserved = reserved_id(rule.id)
    if reserved:
        raise doc.error(at + ("id",), reserved, "RULES_ID_RESERVED")
    mat = at + ("match",)
    rule.packages = [str(p) for p in m.get("package", [])]
    rule.package_globs = [str(p) for p in m.get("package_glob", [])]
    rule.package_regexes = [_regex(doc, mat + ("package_regex", i), p)
                            for i, p in enumerate(m.get("package_regex", []))]
    rule.package_exclude = [str(p) for p in m.get("package_exclude", [])]
    rule.labels = [_regex(doc, mat + ("label", i), p) for i, p in enumerate(m.get("label", []))]
    rule.certificates = [_cert_use(doc, mat + ("certificates", i), u, pack)
                         for i, u in enumerate(m.get("certificates", []))]
    rule.subjects = [_name_pattern(doc, mat + ("subject", i), s, rule.references)
                     for i, s in enumerate(m.get("subject", []))]
    rule.issuers = [_name_pattern(doc, mat + ("issuer", i), s, rule.references)
                    for i, s in enumerate(m.get("issuer", []))]
    rule.source_stamps = [_cert_use(doc, mat + ("source_stamp", i), u, pack, register=False).cert
                          for i, u in enumerate(m.get("source_stamp", []))]
    rule.dex_prefixes = [str(p) for p in m.get("dex_prefix", [])]
    rule.dex_exclude = [str(p) for p in m.get("dex_exclude", [])]
    if rule.kind == "sdk" and not rule.dex_prefixes:
        raise doc.error(at, f"sdk rule {rule.id!r} needs match.dex_prefix")
    if rule.kind == "app" and rule.dex_prefixes:
        raise doc.error(mat + ("dex_prefix",), "dex_prefix belongs in a rule with kind: sdk")
    if rule.kind == "app" and not (rule.packages or rule.package_globs or rule.package_regexes
                                   or rule.labels or rule.certificates or rule.subjects
                                   or rule.issuers or rule.source_stamps):
        raise doc.error(mat, f"rule {rule.id!r} matches nothing")
    return rule
