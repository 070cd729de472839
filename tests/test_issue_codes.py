"""One registry of issue codes (apkscan/issue_codes.py): every code the source can emit,
every code a test asserts and every code README names is defined there, once, with its
severity; and nothing stale is left in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from apkscan.issue_codes import CODES
from apkscan.issues import Severity

ROOT = Path(__file__).resolve().parents[1]
CODE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")
PREFIXES = ("INPUT_", "ZIP_", "MANIFEST_", "TAMPER_", "CONTAINER_", "BACKUP_", "JAR_SIG_", "V2_SIG_", "V3_SIG_",
            "V31_", "V4_SIG_", "SOURCE_STAMP_", "DIFF_", "DOCUMENT_", "RULES_", "POLICY_", "INTERNAL_", "ANDROIDQF_", "BATCH_", "STORE_", "TEXT_")
HELPERS = {"error": Severity.ERROR, "warning": Severity.WARNING, "tamper": Severity.TAMPER, "_tamper": Severity.TAMPER}
SCHEME_PREFIXED = ("_err", "_warn")  # v2/v3 signer helpers: the code is V2_SIG_/V3_SIG_ + name unless raw=True
NOT_CODES = {"APKSCAN_BACKUP_PASSWORD", "NO_COLOR"}  # environment variables README names


def _source_trees():
    for path in sorted((ROOT / "apkscan").rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def _call_codes() -> dict[str, set[Severity]]:
    """Codes passed literally (or as a module constant) to the issue helpers, with the helper's severity."""
    out: dict[str, set[Severity]] = {}
    for _path, tree in _source_trees():
        consts = {t.id: n.value.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                  and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str) for t in n.targets
                  if isinstance(t, ast.Name)}
        for n in ast.walk(tree):
            if not isinstance(n, ast.Call) or not n.args:
                continue
            name = getattr(n.func, "id", None) or getattr(n.func, "attr", None)
            arg = n.args[2] if name in SCHEME_PREFIXED and len(n.args) > 2 else n.args[0]
            code = arg.value if isinstance(arg, ast.Constant) else consts.get(getattr(arg, "id", ""))
            if not isinstance(code, str) or not CODE.match(code):
                continue
            if name in SCHEME_PREFIXED and not any(k.arg == "raw" for k in n.keywords):
                for prefix in ("V2_SIG_", "V3_SIG_"):
                    out.setdefault(prefix + code, set()).add(Severity.ERROR if name == "_err" else Severity.WARNING)
            elif name in HELPERS:
                out.setdefault(code, set()).add(HELPERS[name])
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
    calls = _call_codes()
    assert sorted(set(calls) - set(CODES)) == []
    assert sorted(_literal_codes((ROOT / "apkscan").rglob("*.py")) - set(CODES)) == []
    # a code emitted only as errors is not registered as a warning, and so on
    wrong = {c: (CODES[c][0], s) for c, s in calls.items() if CODES[c][0] not in s and len(s) == 1}
    assert wrong == {}


def test_every_code_a_test_asserts_exists():
    """A test asserting a code no code path writes can never fail for the right reason."""
    assert sorted(_literal_codes((ROOT / "tests").glob("*.py")) - set(CODES)) == []


def test_every_code_readme_names_is_registered():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`", readme)) - NOT_CODES
    assert sorted(named - set(CODES)) == []


def test_no_stale_codes_and_every_meaning_is_written():
    emitted = set(_call_codes()) | _literal_codes((ROOT / "apkscan").rglob("*.py"))
    unprefixed = {c for c in CODES if not c.startswith(PREFIXES)}  # apksig names (MIN_SDK_UNKNOWN, ...)
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "apkscan").rglob("*.py") if p.name != "issue_codes.py")
    assert sorted(c for c in unprefixed if f'"{c}"' not in source and c not in emitted) == []
    assert sorted(set(CODES) - emitted - unprefixed) == []
    assert all(meaning.strip() for _sev, meaning in CODES.values())
