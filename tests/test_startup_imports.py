"""Start-up stays small (issue 11): a command imports only what it uses.

A structural check, not a timing: each case runs a real command in a fresh interpreter
and lists which heavy modules were imported by the time it exited. A module-level import
added in the wrong place (the CLI package, the sources registry, the signing verifier, the
rule loader) puts one of these back and fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import APKS, CORPUS, needs_corpus

APK = str(APKS / "clean-v1v2v3.apk")

# never needed to inspect or scan one plain APK
HEAVY = ("jinja2", "jsonschema", "yaml", "apkscan.report.html",
         "apkscan.report.sarif", "apkscan.report.csv_report", "apkscan.diff", "apkscan.cli.diff_cmd",
         "apkscan.cli.report_cmd", "apkscan.cli.rules_cmd", "apkscan.cli.policies_cmd",
         "apkscan.sources.adb_backup", "apkscan.sources.androidqf", "apkscan.sources.neo_backup",
         "apkscan.sources.swift_titanium", "apkscan.sources.tar_archive", "apkscan.sources.text_evidence", "apkscan.sources.text_detect",
         "apkscan.rules.stix", "apkscan.apk.signing.v4.verifier", "apkscan.apk.signing.stamp.verifier",
         "apkscan.issue_codes",  # the registry: loaded for a problem's code only
         "apkscan.sources.data_in_place")  # the data look in place: ZIPs under data names, polyglots
# inspect has no rules, policies, reports or store either, nor the scan command, and a plain
# APK needs no decompressor, tar reader or temporary folder
INSPECT_ONLY = ("apkscan.scan", "apkscan.evaluate", "apkscan.rules.loader", "apkscan.policy.loader", "apkscan.report.view",
                "apkscan.report.terminal", "apkscan.batch.store", "apkscan.batch.pool", "sqlite3",
                "apkscan.cli.scan_cmd", "apkscan.cli.batch_opts", "tarfile", "gzip", "bz2", "lzma", "tempfile",
                "shutil")
# one input without a store is scanned in this process: no pool workers, no SQLite
ONE_INPUT_NO_STORE = ("multiprocessing", "sqlite3", "apkscan.batch.store", "tarfile")
# a scan of one APK builds no example identity (policy self-tests), no bundle, and its JSON
# report is written from its own dict: no typed document
SCAN_UNUSED = ("apkscan.rules.selftest", "apkscan.splits", "apkscan.document", "apkscan.report.view")

_PROBE = """
import atexit, json, sys
atexit.register(lambda: print("MODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr))
from apkscan.cli import main
main(sys.argv[1:], prog_name="apkscan")
"""


def _modules_after(*args: str) -> tuple[int, set[str]]:
    """Exit code and sys.modules at exit of ``apkscan ARGS`` in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=os.environ,
                          timeout=120)
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES "))
    return proc.returncode, set(json.loads(line[len("MODULES "):]))


def test_inspect_imports_no_report_rule_batch_or_container_code():
    code, modules = _modules_after("inspect", APK)
    assert code == 0
    assert {"apkscan.apk.identify", "apkscan.cli.inspect_cmd", "apkscan.apk.crypto.x509_fast"} <= modules  # it did the work
    assert sorted(m for m in HEAVY + INSPECT_ONLY if m in modules) == []


def test_inspect_quick_json_imports_no_more():
    code, modules = _modules_after("inspect", "--quick", APK, "--json", "-")
    assert code == 1  # --quick never counts as verified
    assert sorted(m for m in HEAVY + INSPECT_ONLY if m in modules) == []


def test_a_second_scan_imports_neither_yaml_nor_jsonschema_nor_the_unused_readers(tmp_path):
    out = tmp_path / "scan.json"
    first_code, first = _modules_after("scan", "--no-store", APK, "--json", str(out), "-q")
    assert first_code == 0 and {"yaml", "jsonschema"} <= first  # the first run parses and validates the packs
    code, modules = _modules_after("scan", "--no-store", APK, "--json", str(out), "-q")
    assert code == 0 and json.loads(out.read_text())["apps"][0]["package"] == "com.example.clean"
    assert {"apkscan.scan", "apkscan.evaluate", "apkscan.rules.loader", "apkscan.policy.loader"} <= modules
    assert sorted(m for m in HEAVY + ONE_INPUT_NO_STORE + SCAN_UNUSED if m in modules) == []


# certificate parsers for what the strict reader (apk/crypto/x509_fast) declines, and the DER key
# loader's package (SSH keys, ciphers) for keys the numbers API does not take: not on a normal APK
CERT_FALLBACKS = ("cryptography.x509", "asn1crypto", "cryptography.hazmat.primitives.serialization")


def _fallbacks(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.startswith(CERT_FALLBACKS))


def test_inspect_and_scan_of_a_normal_apk_import_no_certificate_parser():
    for apk in (APK, str(APKS / "ec-v2v3.apk")):  # RSA (v1+v2+v3) and EC P-256 signers
        code, modules = _modules_after("inspect", apk, "--json", "-")
        assert code == 0 and "apkscan.apk.crypto.certificates" in modules
        assert _fallbacks(modules) == [], apk
    code, modules = _modules_after("scan", "--no-store", APK, "-q")
    assert code == 0 and "apkscan.apk.crypto.certificates" in modules
    assert _fallbacks(modules) == []


@needs_corpus
def test_a_certificate_outside_der_still_reaches_the_fallback_parsers():
    """The other side of the guard above: BER certificates are still read (leniently)."""
    code, modules = _modules_after("inspect", str(CORPUS / "apksig" / "v1-only-with-rsa-1024-cert-not-der.apk"))
    assert "cryptography.x509" in modules and "asn1crypto.x509" in modules


def test_help_still_lists_every_command():
    proc = subprocess.run([sys.executable, "-m", "apkscan", "--help"], capture_output=True, text=True, timeout=120)
    listed = [ln.split()[0] for ln in proc.stdout.split("Commands:")[1].strip().splitlines()[:6]]
    assert sorted(listed) == ["diff", "inspect", "policies", "report", "rules", "scan"]


def _said(setup: str, label: str, said: str, *args: str, env=None, imported: str = "") -> list[str]:
    """What a probe says at exit: ``setup`` runs first, then ``apkscan.cli`` is imported and
    ``imported`` runs, then ``apkscan ARGS`` as its console script runs it (``cli.run``); an exit
    hook prints ``label`` and ``said`` (an expression). The words after the label; exit 0 asserted."""
    probe = (f"import atexit, sys\n{setup}\n"
             f"atexit.register(lambda: print({label!r}, {said}, file=sys.stderr))\n"
             f"from apkscan.cli import run\n{imported}\n"
             "sys.argv = ['apkscan', *sys.argv[1:]]\n"
             "run()\n")
    proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    return next(ln for ln in proc.stderr.splitlines() if ln.startswith(label + " ")).split()[1:]


def test_the_program_exits_without_walking_its_objects_again(tmp_path):
    """``apkscan`` (console script and ``python -m``) freezes the collector once the command is
    done, so the interpreter's final collections skip what the run left (~10 ms of `inspect`).
    The command's own cleanup has run by then: its report is whole, its temporary folder gone."""
    out = tmp_path / "scan.json"
    frozen = _said("import gc", "FROZEN", "gc.get_freeze_count()", "scan", "--no-store", APK, "--json", str(out), "-q",
                   env={**os.environ, "TMPDIR": str(tmp_path)})
    assert int(frozen[0]) > 10_000
    assert json.loads(out.read_text())["apps"][0]["package"] == "com.example.clean"
    assert [p.name for p in tmp_path.iterdir()] == ["scan.json"]


def test_the_program_starts_without_a_collection_and_collects_as_before_after():
    """``run`` lets the collector's first young collection wait while the command starts: a scan of
    one APK (~30,000 new objects) runs without a collection (~50 before, ~6 ms), and once one has
    run the interpreter's own thresholds are back (a batch, a worker collect as before)."""
    counted = ("gc.callbacks.append(lambda phase, info: seen.append(info['generation']) if phase == 'stop' else None)\n"
               "default = gc.get_threshold()")  # from the command's start: not apkscan.cli's own import
    said = _said("import gc\nseen = []", "COLLECTIONS", "len(seen), default == gc.get_threshold()",
                 "scan", "--no-store", APK, "-q", imported=counted)
    assert said == ["0", "False"]  # none while the command ran; the start-up threshold still set

    import gc

    from apkscan.cli import STARTUP_GEN0, _startup_collector

    default, callbacks = gc.get_threshold(), list(gc.callbacks)
    try:
        _startup_collector(gc)
        assert gc.get_threshold() == (STARTUP_GEN0, *default[1:])
        gc.collect(0)  # the first collection, however it comes
        assert gc.get_threshold() == default
        gc.set_threshold(1234)
        gc.collect(0)  # a later one changes nothing
        assert gc.get_threshold()[0] == 1234
    finally:
        gc.callbacks[:] = callbacks
        gc.set_threshold(*default)


def test_no_dataclass_of_a_scan_is_described_by_its_signature():
    """``@dataclass`` writes a class without a docstring one from ``inspect.signature`` (~0.1 ms a class,
    24 classes of a one-APK scan): each of them says why it exists instead."""
    setup = ("import inspect\n"
             "described, signature = [], inspect.signature\n"
             "def spy(obj, *a, **k):\n"
             "    described.append(f'{obj.__module__}.{obj.__qualname__}')\n"
             "    return signature(obj, *a, **k)\n"
             "inspect.signature = spy")
    said = _said(setup, "DESCRIBED", "*described", "scan", "--no-store", APK, "-q")
    assert [n for n in said if n.startswith("apkscan.")] == []
