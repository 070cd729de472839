"""``apkscan diff`` sees every key a scan document holds (review 64 F3, F4, F8): a device record's
recorded certificate, a ``--quick`` scan's signature-checked signers, and an app renamed under
its key. Each test scans real bytes (APKs signed by apksigner, adb backups written by the
fixture writer) with the CLI and diffs the two documents it wrote."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from apkscan.cli import main
from backup_helpers import build_ab, manifest, pem_der, pem_sha256
from cli_helpers import generate_module

APKS = Path(__file__).resolve().parents[1] / "fixtures" / "apks"


def _apk(gen, work: Path, package: str, key: str, label: str = "Notes", version_code: int = 1) -> bytes:
    """An APK of ``package`` signed (v1, v2, v3) by ``key`` with apksigner."""
    work.mkdir(parents=True, exist_ok=True)
    app = gen.App(package, label, min_sdk=24, version_code=version_code)
    return gen.sign(gen.build_unsigned(app), work, [key], v1=True, v2=True, v3=True, min_sdk=24)


def _scan(inputs: list[Path], out: Path, *extra: str) -> dict:
    res = CliRunner().invoke(main, ["scan", *map(str, inputs), "--no-store", "--json", str(out), "--quiet", *extra])
    assert res.exit_code in (0, 1), res.output
    return json.loads(out.read_text())


def _diff(old: Path, new: Path, tmp_path: Path, *extra: str) -> tuple[int, dict, str]:
    out = tmp_path / "diff.json"
    res = CliRunner().invoke(main, ["diff", str(old), str(new), "--json", str(out), *extra])
    assert res.exit_code in (0, 1, 3), res.output
    return res.exit_code, json.loads(out.read_text()), res.output


def _changes(d: dict) -> dict[str, dict]:
    return {c["package"]: c for s in d["sources"] for c in s["changes"]}


def _record_backup(path: Path, bank_key: str, apk: bytes | None = None) -> Path:
    """An adb backup whose ``_manifest`` records com.example.bank's certificate (and its APK when given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [("apps/com.example.bank/_manifest", manifest("com.example.bank", 1, [pem_der(bank_key)], apk is not None))]
    if apk is not None:
        entries.append(("apps/com.example.bank/a/base.apk", apk))
    entries.append(("apps/com.example.bank/f/x.bin", b"x" * 10))
    path.write_bytes(build_ab(entries))
    return path


def test_a_device_record_re_signed_between_audits_is_worse(tmp_path):
    """F3: a record whose certificate changed (test-rsa -> impostor) was "unchanged", exit 0."""
    jan = _record_backup(tmp_path / "jan" / "backup.ab", "test-rsa")
    feb = _record_backup(tmp_path / "feb" / "backup.ab", "impostor")
    old, new = tmp_path / "jan.json", tmp_path / "feb.json"
    assert _scan([jan], old)["apps"][0]["identity"]["origin"] == "recorded"
    _scan([feb], new)
    rc, d, text = _diff(old, new, tmp_path, "--source-by-name")
    bank = _changes(d)["com.example.bank"]
    assert rc == 1 and bank["worse"] and bank["reasons"] == ["recorded signer"]
    assert bank["old"]["recorded_signers"] == [pem_sha256("test-rsa")]
    assert bank["new"]["recorded_signers"] == [pem_sha256("impostor")]
    assert d["counts"]["recorded_signer"] == 1 and d["counts"]["signer"] == 1
    assert f"recorded signer {pem_sha256('test-rsa')[:12]} (recorded) -> {pem_sha256('impostor')[:12]} (recorded)" in text
    same_rc, same, _ = _diff(old, old, tmp_path)
    assert same_rc == 0 and _changes(same) == {}


def test_a_record_replaced_by_an_apk_compares_the_recorded_key_with_the_verified_one(tmp_path):
    """F3: the record (test-rsa) then the APK signed by another key: worse; by the recorded key: not."""
    gen = generate_module()
    impostor = _apk(gen, tmp_path / "w1", "com.example.bank", "impostor")
    genuine = _apk(gen, tmp_path / "w2", "com.example.bank", "test-rsa")
    jan = _record_backup(tmp_path / "jan" / "backup.ab", "test-rsa")
    _scan([jan], tmp_path / "jan.json")
    for name, apk, key, worse in (("bad", impostor, "impostor", True), ("good", genuine, "test-rsa", False)):
        feb = _record_backup(tmp_path / name / "backup.ab", key, apk)
        _scan([feb], tmp_path / f"{name}.json")
        rc, d, _ = _diff(tmp_path / "jan.json", tmp_path / f"{name}.json", tmp_path, "--source-by-name")
        bank = _changes(d)["com.example.bank"]
        assert bank["worse"] is worse and rc == (1 if worse else 0), (name, bank)
        assert ("recorded signer" in bank["reasons"]) is worse
        assert bank["new"]["signers"] == [pem_sha256(key)]


def test_two_quick_audits_compare_the_signature_checked_signers(tmp_path):
    """F4: under --quick nothing verifies; the re-signed app read "1 unchanged", exit 0, no note."""
    gen = generate_module()
    jan, feb, same = tmp_path / "jan", tmp_path / "feb", tmp_path / "same"
    for folder, key in ((jan, "test-rsa"), (feb, "impostor"), (same, "test-rsa")):
        folder.mkdir()
        (folder / "bank.apk").write_bytes(_apk(gen, tmp_path / f"w-{folder.name}", "com.example.bank", key))
    for folder in (jan, feb, same):
        _scan([folder], tmp_path / f"{folder.name}.json", "--quick")
    rc, d, text = _diff(tmp_path / "jan.json", tmp_path / "feb.json", tmp_path)
    bank = _changes(d)["com.example.bank"]
    assert rc == 1 and bank["worse"] and bank["reasons"] == ["signer (signature only)"]
    assert bank["old"]["signature_only_signers"] == [pem_sha256("test-rsa")]
    assert bank["new"]["signature_only_signers"] == [pem_sha256("impostor")]
    assert [n["code"] for n in d["notes"] if n["code"] != "DIFF_POLICY_UNCERTAIN"] == ["DIFF_QUICK_SCAN", "DIFF_QUICK_SCAN"]
    assert d["content_checked"] is False and "signer (signature only)" in text
    page = tmp_path / "diff.html"
    CliRunner().invoke(main, ["diff", str(tmp_path / "jan.json"), str(tmp_path / "feb.json"), "--html", str(page)])
    assert "a scan was made with --quick" in page.read_text() and "signature only <code" in page.read_text()
    # the same key again (other bytes: apksigner signs anew): nothing worse, but never exit 0 for --quick
    rc, d, text = _diff(tmp_path / "jan.json", tmp_path / "same.json", tmp_path)
    assert rc == 3 and not d["worse"] and "INCOMPLETE: a --quick scan did not check content" in text


def test_a_banned_app_renamed_under_its_key_is_paired_and_worse(tmp_path):
    """F8: TikTok's package renamed (same key, same label): "removed + added review", exit 0."""
    gen = generate_module()
    jan, feb = tmp_path / "jan", tmp_path / "feb"
    jan.mkdir(), feb.mkdir()
    (jan / "t.apk").write_bytes(_apk(gen, tmp_path / "w1", "com.zhiliaoapp.musically", "bytedance-like", "TikTok"))
    (feb / "t.apk").write_bytes(_apk(gen, tmp_path / "w2", "com.zhiliaoapp.musicaIly", "bytedance-like", "TikTok"))
    for folder in (jan, feb):
        shutil.copy(APKS / "clean-v1v2v3.apk", folder / "clean.apk")
        _scan([folder], tmp_path / f"{folder.name}.json")
    rc, d, text = _diff(tmp_path / "jan.json", tmp_path / "feb.json", tmp_path)
    [renamed] = _changes(d).values()
    assert rc == 1 and renamed["change"] == "renamed" and renamed["worse"]
    assert renamed["package"] == "com.zhiliaoapp.musicaIly" and renamed["old_package"] == "com.zhiliaoapp.musically"
    assert renamed["old"]["verdict"] == "prohibited" and renamed["new"]["verdict"] == "review"
    assert d["counts"]["renamed"] == 1 and d["counts"]["added"] == d["counts"]["removed"] == 0
    assert "renamed from com.zhiliaoapp.musically (same key)" in text
    page = tmp_path / "diff.html"
    res = CliRunner().invoke(main, ["diff", str(tmp_path / "jan.json"), str(tmp_path / "feb.json"), "--html", str(page)])
    assert res.exit_code == 1 and "renamed from <code>com.zhiliaoapp.musically</code> (same key)" in page.read_text()


def test_a_key_shared_by_several_apps_or_candidates_never_pairs(tmp_path):
    """F8: a key signing several packages of the source (a platform/vendor key) identifies no app:
    the removed app and the added apps stay removed and added."""
    gen = generate_module()
    jan, feb = tmp_path / "jan", tmp_path / "feb"
    jan.mkdir(), feb.mkdir()
    (jan / "a.apk").write_bytes(_apk(gen, tmp_path / "w1", "com.example.alpha", "test-rsa"))
    (feb / "b.apk").write_bytes(_apk(gen, tmp_path / "w2", "com.example.beta", "test-rsa"))
    (feb / "c.apk").write_bytes(_apk(gen, tmp_path / "w3", "com.example.gamma", "test-rsa"))
    for folder in (jan, feb):
        _scan([folder], tmp_path / f"{folder.name}.json")
    rc, d, _ = _diff(tmp_path / "jan.json", tmp_path / "feb.json", tmp_path)
    assert {p: c["change"] for p, c in _changes(d).items()} == {
        "com.example.alpha": "removed", "com.example.beta": "added", "com.example.gamma": "added"}
    assert rc == 0 and d["counts"]["renamed"] == 0


def test_the_android_debug_key_never_pairs(tmp_path):
    """F8: every developer's debug builds share the Android debug key: never one app's identity."""
    gen = generate_module()
    jan, feb = tmp_path / "jan", tmp_path / "feb"
    jan.mkdir(), feb.mkdir()
    (jan / "a.apk").write_bytes(_apk(gen, tmp_path / "w1", "com.example.alpha", "android-debug"))
    (feb / "b.apk").write_bytes(_apk(gen, tmp_path / "w2", "com.example.beta", "android-debug"))
    for folder in (jan, feb):
        doc = _scan([folder], tmp_path / f"{folder.name}.json")
        assert doc["apps"][0]["identity"]["signers"][0]["is_android_debug"]
    _, d, _ = _diff(tmp_path / "jan.json", tmp_path / "feb.json", tmp_path)
    assert sorted(c["change"] for c in _changes(d).values()) == ["added", "removed"]
    assert d["counts"]["renamed"] == 0


def test_a_renamed_record_pairs_by_its_recorded_certificate(tmp_path):
    """F8 for device records: the recorded certificate is the key that pairs."""
    def backup(path: Path, package: str) -> Path:
        path.parent.mkdir(parents=True)
        path.write_bytes(build_ab([(f"apps/{package}/_manifest", manifest(package, 1, [pem_der("test-rsa")], False)),
                                   (f"apps/{package}/f/x.bin", b"x")]))
        return path

    _scan([backup(tmp_path / "jan" / "backup.ab", "com.example.bank")], tmp_path / "jan.json")
    _scan([backup(tmp_path / "feb" / "backup.ab", "com.example.bank2")], tmp_path / "feb.json")
    _, d, _ = _diff(tmp_path / "jan.json", tmp_path / "feb.json", tmp_path, "--source-by-name")
    [c] = _changes(d).values()
    assert c["change"] == "renamed" and c["old_package"] == "com.example.bank" and not c["worse"]
