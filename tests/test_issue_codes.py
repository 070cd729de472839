"""One registry of issue codes (apkscan/issue_codes.py): every code the source can emit,
every code a test asserts and every code README.md and docs/*.md name is defined there, once,
with its severity; and nothing stale is left in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from apkscan.issue_codes import ALSO_AT, CODES
from apkscan.issues import Severity

ROOT = Path(__file__).resolve().parents[1]
CODE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")
PREFIXES = ("INPUT_", "ZIP_", "MANIFEST_", "TAMPER_", "CONTAINER_", "BACKUP_", "JAR_SIG_", "V2_SIG_", "V3_SIG_",
            "V31_", "V4_SIG_", "SOURCE_STAMP_", "DIFF_", "DOCUMENT_", "RULES_", "POLICY_", "INTERNAL_", "ANDROIDQF_", "BATCH_", "STORE_", "TEXT_", "USAGE_")
HELPERS = {"error": Severity.ERROR, "warning": Severity.WARNING, "tamper": Severity.TAMPER, "_tamper": Severity.TAMPER}
SCHEME_PREFIXED = ("_err", "_warn")  # v2/v3 signer helpers: the code is V2_SIG_/V3_SIG_ + name unless raw=True
RAISED = ("ApkScanError", "ApkFormatError", "LimitExceeded", "Issue")  # codes checked for being built, not for severity
BUILDER = "scheme_code"  # issue_codes.scheme_code(scheme, "NAME"): V2_SIG_NAME and V3_SIG_NAME
NOT_CODES = {"APKSCAN_BACKUP_PASSWORD", "NO_COLOR"}  # environment variables README and docs/ name


def _source_trees():
    for path in sorted((ROOT / "apkscan").rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def _strings(node, consts) -> list[str] | None:
    """The code strings an expression can be: a literal, a constant's name, either branch of a
    conditional, ``scheme_code(_, "NAME")``; None when it is something else (a code passed on)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in consts:
        return consts[node.id]
    if isinstance(node, ast.IfExp):
        a, b = _strings(node.body, consts), _strings(node.orelse, consts)
        return a + b if a is not None and b is not None else None
    if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == BUILDER:
        names = _strings(node.args[1], consts) if len(node.args) > 1 else None
        return [p + n for n in names for p in ("V2_SIG_", "V3_SIG_")] if names is not None else None
    return None


def _built(node) -> bool:
    """A string made at run time: an f-string, or ``+`` with a string literal in it."""
    if isinstance(node, ast.BinOp):
        return _built(node.left) or _built(node.right)
    return isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(node.value, str)


def _consts(tree) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Assign):
            values = _strings(n.value, {})
            for t in n.targets:
                if isinstance(t, ast.Name) and values is not None:
                    out.setdefault(t.id, []).extend(values)
    return out


def _call_codes(built: list[str] | None = None) -> dict[str, set[Severity]]:
    """Codes passed literally (or as a module constant, a conditional of them, the scheme builder)
    to the issue helpers, with the helper's severity. ``built`` collects the calls whose code is
    made by concatenation or an f-string, which this walk could not see (review 37 R2-2)."""
    out: dict[str, set[Severity]] = {}
    for path, tree in _source_trees():
        consts = _consts(tree)
        for n in ast.walk(tree):
            if not isinstance(n, ast.Call) or not n.args:
                continue
            name = getattr(n.func, "id", None) or getattr(n.func, "attr", None)
            if name not in HELPERS and name not in SCHEME_PREFIXED and name not in RAISED:
                continue
            arg = n.args[2] if name in SCHEME_PREFIXED and len(n.args) > 2 else n.args[0]
            if isinstance(arg, (ast.BinOp, ast.JoinedStr)) and _built(arg) and built is not None:
                built.append(f"{path.relative_to(ROOT)}:{n.lineno}: {ast.unparse(arg)}")
            found = _strings(arg, consts) or []
            for code in (c for c in found if CODE.match(c)):
                if name in SCHEME_PREFIXED and not any(k.arg == "raw" for k in n.keywords):
                    for prefix in ("V2_SIG_", "V3_SIG_"):
                        out.setdefault(prefix + code, set()).add(Severity.ERROR if name == "_err" else Severity.WARNING)
                elif name in SCHEME_PREFIXED:
                    out.setdefault(code, set()).add(Severity.ERROR if name == "_err" else Severity.WARNING)
                elif name in HELPERS:
                    out.setdefault(code, set()).add(HELPERS[name])
                else:
                    out.setdefault(code, set())
    return out


def _literal_codes(paths) -> set[str]:
    """Every string literal (and 'CODE:' inside f-strings) that looks like an issue code."""
    found: set[str] = set()
    for path in paths:
        for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and CODE.match(n.value) and n.value.startswith(PREFIXES):
                found.add(n.value)
            elif isinstance(n, ast.Constant) and isinstance(n.value, str):
                found |= set(re.findall(r"\b((?:%s)[A-Z0-9_]+):" % "|".join(PREFIXES), n.value))
    return found


def test_every_code_the_source_emits_is_registered_with_its_severity():
    built: list[str] = []
    calls = _call_codes(built)
    assert built == []  # a code made by concatenation is invisible here: use issue_codes.scheme_code
    assert sorted(set(calls) - set(CODES)) == []
    assert sorted(_literal_codes((ROOT / "apkscan").rglob("*.py")) - set(CODES)) == []
    # every code is emitted at its registered severity only; apksig's names it uses at two levels
    # are registered as such (issue_codes.ALSO_AT)
    wrong = {c: (CODES[c][0], s) for c, s in calls.items() if s - {CODES[c][0], *ALSO_AT.get(c, ())}}
    assert wrong == {}
    assert all(c in calls and ALSO_AT[c] and CODES[c][0] not in ALSO_AT[c] for c in ALSO_AT)


def test_every_code_a_test_asserts_exists():
    """A test asserting a code no code path writes can never fail for the right reason."""
    assert sorted(_literal_codes((ROOT / "tests").glob("*.py")) - set(CODES)) == []


def test_every_code_readme_and_docs_name_is_registered():
    """README.md and each page of docs/ (the depth README links to) name registered codes only."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(pages) > 1, pages  # the docs pages are read, not silently none
    unknown = []
    for page in pages:
        named = set(re.findall(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`", page.read_text(encoding="utf-8"))) - NOT_CODES
        unknown += [(page.name, code) for code in sorted(named - set(CODES))]
    assert unknown == []


def test_no_stale_codes_and_every_meaning_is_written():
    emitted = set(_call_codes()) | _literal_codes((ROOT / "apkscan").rglob("*.py"))
    unprefixed = {c for c in CODES if not c.startswith(PREFIXES)}  # apksig names (MIN_SDK_UNKNOWN, ...)
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "apkscan").rglob("*.py") if p.name != "issue_codes.py")
    assert sorted(c for c in unprefixed if f'"{c}"' not in source and c not in emitted) == []
    assert sorted(set(CODES) - emitted - unprefixed) == []
    assert all(meaning.strip() for _sev, meaning in CODES.values())


def _issues(doc: dict, where: str = ""):
    """(list name, issue) of every errors/warnings list in an identity document, schemes and signers too."""
    for key in ("errors", "warnings"):
        for issue in doc.get(key, []):
            yield where + key, issue
    for name, scheme in doc.get("schemes", {}).items():
        yield from _issues(scheme, f"{where}schemes.{name}.")
        for i, signer in enumerate(scheme.get("signers", [])):
            yield from _issues(signer, f"{where}schemes.{name}.signers[{i}].")


def test_every_issue_identify_reports_is_registered_at_its_severity_and_filed_by_it():
    """Review 37 R2-2: V2_SIG_MALFORMED_SIGNER(S) were unregistered, an entry-digest mismatch was an
    error under a warning's code, MANIFEST_ARSC_MISSING (a warning) sat in ``errors`` and
    ZIP_ENTRY_TOO_LARGE (an error) in ``warnings``. Over the hostile and fixture APKs: every issue
    is registered, at its registered severity (or apksig's other level), in the list it names."""
    from apkscan.apk.identify import identify

    paths = sorted((ROOT / "fixtures" / "hostile" / "cases").iterdir()) + sorted((ROOT / "fixtures" / "apks").glob("*.apk"))
    seen: set[str] = set()
    for path in paths:
        for where, issue in _issues(identify(path).to_dict()):
            code, sev = issue["code"], Severity(issue["severity"])
            seen.add(code)
            assert code in CODES, (path.name, code)
            assert sev in {CODES[code][0], *ALSO_AT.get(code, ())}, (path.name, code, sev)
            listed = Severity.WARNING if where.endswith("warnings") else Severity.ERROR
            assert sev is listed or (sev is Severity.TAMPER and listed is Severity.ERROR), (path.name, where, code)
    assert {"V2_SIG_MALFORMED_SIGNER", "V2_SIG_MALFORMED_SIGNERS", "JAR_SIG_ZIP_ENTRY_DIGEST_DID_NOT_VERIFY"} <= seen
