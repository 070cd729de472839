"""Review 50 F3: stored findings are keyed by a digest of the code that matches and decides
(``results.result_keys``) and identities by the apk layer's (``store.parser_version``). A module
outside those that matching imports (``ignorable.py``, moved out of ``rules/``) changed findings
without changing any key, so stale findings were served. Every apkscan module the rules and
policy packages import must be keyed, or be named here as not shaping a result."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "apkscan"
NOT_SHAPING = {"folders.py"}  # where the rule cache lives (private folders): no finding depends on it


def _keyed() -> set[str]:
    """The modules and packages the two keys digest, from the code that computes them."""
    names: set[str] = set()
    for module in (ROOT / "batch" / "results.py", ROOT / "batch" / "store.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "code_digest":
                names |= {a.value for a in node.args if isinstance(a, ast.Constant)}
    return names


def _imported_by(package: str) -> set[str]:
    out: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        if path.name == "selftest.py":  # the packs' and policies' own examples, run by `rules test`: no result
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("apkscan."):
                parts = node.module.split(".")[1:]
                out.add(parts[0] if (ROOT / parts[0]).is_dir() else parts[0] + ".py")
    return out


def test_every_module_matching_and_deciding_import_is_in_a_store_key():
    keyed = _keyed()
    assert {"rules", "apk", "ignorable.py", "ranks.py", "issue_codes.py"} <= keyed
    for package in ("rules", "policy"):
        loose = _imported_by(package) - keyed - NOT_SHAPING - {package}
        assert loose == set(), (package, loose)
