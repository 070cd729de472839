"""Split sets as Android installs them (review 30 findings 3, 6, 7, 9; review 27 F11).

Android installs a split set only with one base (``split`` absent or empty), every split of
the base's package, signer and versionCode, and distinct split names. Every APK here is
built in the test and signed with the test keys; each case also scans an unrelated APK in
the same run, to show the batch goes on.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import zipfile
from pathlib import Path

import pytest

from apkscan.report import csv_report, html, sarif, terminal
from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CLEAN = FIXTURES / "apks" / "clean-v1v2v3.apk"  # another app in the same run: the batch goes on


def _generate():
    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))
    import axml_writer
    import generate

    return generate, axml_writer


@pytest.fixture(scope="module")
def apk(tmp_path_factory):
    """``apk(package, key, split=None, vc=1, name="1.0")`` -> signed APK bytes (cached)."""
    work = tmp_path_factory.mktemp("sign")
    cache: dict[tuple, bytes] = {}

    def build(package: str, key: str, split: str | None = None, vc: int = 1, name: str = "1.0") -> bytes:
        k = (package, key, split, vc, name)
        if k not in cache:
            g, ax = _generate()
            attrs = [ax.Attr("package", package, android=False)]
            if split is not None:
                attrs.append(ax.Attr("split", split, android=False))
            app = g.App(package, None, version_code=vc, version_name=name, package_attrs=attrs)
            cache[k] = g.sign(g.build_unsigned(app), work, [key], v1=True, v2=True, v3=True, min_sdk=21)
        return cache[k]
    return build


def folder(root: Path, members: dict[str, bytes]) -> Path:
    root.mkdir(parents=True)
    for name, data in members.items():
        (root / name).write_bytes(data)
    return root


def run(rules, policy, tmp_path, *paths, **identify) -> dict:
    opts = WalkOptions(tmp_dir=str(tmp_path / "spool"))
    result = scan([FileSource([str(p) for p in (*paths, CLEAN)], opts)], rules, policy,
                  identify_options=identify or None)
    doc = result.to_dict()
    assert doc["apps"][-1]["package"] == "com.example.clean"  # the next input was scanned
    return doc


def bundle_app(doc: dict, package: str = "com.example.notes") -> dict:
    found = [a for a in doc["apps"] if a["package"] == package and a["source"]["chain"][0] != str(CLEAN)]
    assert len(found) == 1, [a["package"] for a in doc["apps"]]
    return found[0]


def mismatches(app: dict) -> list[dict]:
    return [f for f in app["findings"] if f["kind"] == "split-mismatch"]


# --- R30-3: --quick compares the signer certificates present, never claims an unchecked failure

def test_quick_consistent_bundle_has_no_mismatch(rules, policy, tmp_path, apk):
    d = folder(tmp_path / "good", {"base.apk": apk("com.example.notes", "test-rsa"),
                                   "split_config.en.apk": apk("com.example.notes", "test-rsa", "config.en")})
    app = bundle_app(run(rules, policy, tmp_path, d, quick=True))
    assert app["verdict"] == "allowed" and mismatches(app) == []
    assert [s["mismatch"] for s in app["splits"]] == [[]]


def test_quick_planted_split_is_a_weak_unverified_mismatch(rules, policy, tmp_path, apk):
    d = folder(tmp_path / "planted", {"base.apk": apk("com.example.notes", "test-rsa"),
                                      "split_config.en.apk": apk("com.example.notes", "impostor", "config.en")})
    app = bundle_app(run(rules, policy, tmp_path, d, quick=True))
    [f] = mismatches(app)
    assert f["strength"] == "weak" and "does not verify" not in f["message"]
    assert "signer certificates present differ" in f["message"] and "not verified" in f["message"]
    assert app["verdict"] == "review"


# --- R27-F11: a bundle fact is never "confirmed"

def test_full_scan_mismatch_is_strong_not_confirmed(rules, policy, tmp_path, apk):
    d = folder(tmp_path / "planted", {"base.apk": apk("com.example.notes", "test-rsa"),
                                      "split_config.en.apk": apk("com.example.notes", "impostor", "config.en")})
    app = bundle_app(run(rules, policy, tmp_path, d))
    [f] = mismatches(app)
    assert f["strength"] == "strong" and "verified signers differ" in f["message"]
    assert app["verdict"] == "review"


# --- R30-7: split="" is a base to Android

@pytest.mark.parametrize("as_zip", [False, True])
def test_empty_split_name_is_the_base(rules, policy, tmp_path, apk, as_zip):
    members = {"base.apk": apk("com.example.notes", "test-rsa", ""),
               "split_config.en.apk": apk("com.example.notes", "impostor", "config.en")}
    if as_zip:
        target = tmp_path / "empty.apks"
        with zipfile.ZipFile(target, "w") as z:
            for n, b in members.items():
                z.writestr(n, b)
    else:
        target = folder(tmp_path / "empty", members)
    doc = run(rules, policy, tmp_path, target)
    app = bundle_app(doc)
    assert app["source"]["chain"][-1].endswith("base.apk") and len(app["splits"]) == 1
    assert not any(w["code"] == "CONTAINER_BUNDLE_NO_BASE" for w in app["warnings"])
    assert len(mismatches(app)) == 1 and app["verdict"] == "review"


# --- R30-9: what Android refuses in a split set

def test_version_code_mismatch(rules, policy, tmp_path, apk):
    d = folder(tmp_path / "vc", {"base.apk": apk("com.example.notes", "test-rsa"),
                                 "split_config.en.apk": apk("com.example.notes", "test-rsa", "config.en", vc=2)})
    app = bundle_app(run(rules, policy, tmp_path, d))
    [f] = mismatches(app)
    assert "versionCode 2 differs from the base's 1" in f["message"] and app["verdict"] == "review"


def test_duplicate_split_name(rules, policy, tmp_path, apk):
    d = folder(tmp_path / "dup", {"base.apk": apk("com.example.notes", "test-rsa"),
                                  "split_config.en.apk": apk("com.example.notes", "test-rsa", "config.en"),
                                  "split_config.en2.apk": apk("com.example.notes", "test-rsa", "config.en", name="2")})
    app = bundle_app(run(rules, policy, tmp_path, d))
    [f] = mismatches(app)
    assert "split name 'config.en' already given by" in f["message"] and app["verdict"] == "review"
    assert [s["mismatch"] == [] for s in app["splits"]] == [True, False]


def test_whole_other_app_in_a_pulled_folder(rules, policy, tmp_path, apk):
    d = folder(tmp_path / "other", {"base.apk": apk("com.example.notes", "test-rsa"),
                                    "split_game.apk": apk("com.example.game", "test-ec")})
    doc = run(rules, policy, tmp_path, d)
    app = bundle_app(doc)
    [f] = mismatches(app)
    assert "a whole other app ('com.example.game'" in f["message"] and app["verdict"] == "review"
    assert bundle_app(doc, "com.example.game")["verdict"] == "allowed"  # still its own app


def test_second_base_of_the_same_package(rules, policy, tmp_path, apk):
    d = folder(tmp_path / "two", {"base.apk": apk("com.example.notes", "test-rsa"),
                                  "split_config.en.apk": apk("com.example.notes", "test-rsa", name="2")})
    doc = run(rules, policy, tmp_path, d)
    first = next(a for a in doc["apps"] if a["source"]["chain"][-1].endswith("base.apk"))
    assert any("a second base APK of 'com.example.notes'" in f["message"] for f in mismatches(first))


def test_bundletool_standalones_are_not_a_second_base(rules, policy, tmp_path, apk):
    target = tmp_path / "bt.apks"
    with zipfile.ZipFile(target, "w") as z:
        z.writestr("splits/base-master.apk", apk("com.example.notes", "test-rsa"))
        z.writestr("splits/base-en.apk", apk("com.example.notes", "test-rsa", "config.en"))
        z.writestr("splits/base-master_2.apk", apk("com.example.notes", "test-rsa", name="2"))  # another variant
        z.writestr("splits/base-en_2.apk", apk("com.example.notes", "test-rsa", "config.en", name="2"))
        z.writestr("standalones/standalone-hdpi.apk", apk("com.example.notes", "test-rsa", name="3"))
    doc = run(rules, policy, tmp_path, target)
    notes = [a for a in doc["apps"] if a["package"] == "com.example.notes"]
    assert len(notes) == 3 and all(a["verdict"] == "allowed" and mismatches(a) == [] for a in notes)


# --- R30-6: a split's vendor findings are named by every report, marked as the split's

def test_wechat_split_is_named_in_every_report(rules, policy, tmp_path, apk):
    d = folder(tmp_path / "wx", {"base.apk": apk("com.example.notes", "test-rsa"),
                                 "split_config.en.apk": apk("com.example.notes", "test-rsa", "config.en"),
                                 "split_config.arm64_v8a.apk": apk("com.tencent.mm", "tencent-like", "config.arm64_v8a")})
    doc = run(rules, policy, tmp_path, d)
    app = bundle_app(doc)
    assert app["verdict"] == "prohibited"
    wechat_rules = {f["rule"] for s in app["splits"] for f in s["findings"] if f["verdict"] == "prohibited"}
    assert wechat_rules and all(r.startswith("tencent") for r in wechat_rules)
    out = io.StringIO()
    csv_report.render(doc, out)
    row = next(r for r in csv.DictReader(io.StringIO(out.getvalue())) if r["package"] == "com.example.notes")
    assert "Tencent" in row["vendors"] and wechat_rules <= set(row["rules"].split("; "))
    assert row["kinds"].split()[0] != "split-mismatch" and row["strength"] != "confirmed"
    log = sarif.document(doc)
    results = [r for r in log["runs"][0]["results"] if r["ruleId"] in wechat_rules]
    assert results and all(r["properties"]["split"].endswith("split_config.arm64_v8a.apk") for r in results)
    assert all("found in split APK" in r["message"]["text"] and r["partialFingerprints"]["split/v1"] for r in results)
    page = io.StringIO()
    html.render(doc, page)
    assert "in split APK" in page.getvalue() and next(iter(wechat_rules)) in page.getvalue()
    text = io.StringIO()
    terminal.render(doc, text, color=False)
    line = next(x for x in text.getvalue().splitlines() if "com.example.notes" in x)
    assert "prohibited" in line and not line.split("prohibited", 1)[1].strip().startswith("split-mismatch")
    json.dumps(doc)


# --- R30-8: split sets inside backups are one install, compared like a pulled install folder

def _neo(root: Path, base: bytes, split: bytes) -> Path:
    inst = "2024-05-01-10-00-00-000-user_0"
    (root / "com.example.notes" / inst).mkdir(parents=True)
    (root / "com.example.notes" / f"{inst}.properties").write_text(json.dumps({"packageName": "com.example.notes", "versionCode": 1}))
    (root / "com.example.notes" / inst / "base.apk").write_bytes(base)
    (root / "com.example.notes" / inst / "split_config.en.apk").write_bytes(split)
    return root


def _swift(root: Path, base: bytes, split: bytes) -> Path:
    root.mkdir()
    (root / "com.example.notes.app").write_bytes(base)
    with zipfile.ZipFile(root / "com.example.notes.splits", "w", zipfile.ZIP_STORED) as z:
        z.writestr("split_config.en.apk", split)
    (root / "com.example.notes.xml").write_bytes(b"x")
    return root


def _adb(root: Path, base: bytes, split: bytes) -> Path:
    if str(FIXTURES / "backups") not in sys.path:
        sys.path.insert(0, str(FIXTURES / "backups"))
    from adb_writer import AbWriter, manifest

    root.mkdir()
    target = root / "device.ab"
    with target.open("wb") as out, AbWriter(out) as w:
        w.add("apps/com.example.notes/_manifest", manifest("com.example.notes", 1, [], True))
        w.add("apps/com.example.notes/a/base.apk", base)
        w.add("apps/com.example.notes/a/split_config.en.apk", split)
    return target


@pytest.mark.parametrize("layout", [_neo, _swift, _adb], ids=["neo", "swift", "adb"])
def test_planted_split_in_a_backup_is_compared_with_its_base(rules, policy, tmp_path, apk, layout):
    target = layout(tmp_path / "backup", apk("com.example.notes", "test-rsa"),
                    apk("com.example.notes", "impostor", "config.en"))
    doc = run(rules, policy, tmp_path, target)
    app = bundle_app(doc)  # one app, not the base and the split as two allowed "apps"
    assert [s["split"] for s in app["splits"]] == ["config.en"]
    assert len(mismatches(app)) == 1 and app["verdict"] == "review"


@pytest.mark.parametrize("layout", [_neo, _swift, _adb], ids=["neo", "swift", "adb"])
def test_consistent_split_in_a_backup_is_one_allowed_app(rules, policy, tmp_path, apk, layout):
    target = layout(tmp_path / "backup", apk("com.example.notes", "test-rsa"),
                    apk("com.example.notes", "test-rsa", "config.en"))
    app = bundle_app(run(rules, policy, tmp_path, target))
    assert app["verdict"] == "allowed" and mismatches(app) == [] and len(app["splits"]) == 1


# --- review 32 #8: a member *named* like bundletool output does not switch the set checks off

def test_a_bundletool_name_does_not_hide_a_second_base_of_another_key(rules, policy, tmp_path, apk):
    target = tmp_path / "secondbase-universal.apkm"
    with zipfile.ZipFile(target, "w") as z:
        z.writestr("info.json", b"{}")
        z.writestr("base.apk", apk("com.example.notes", "test-rsa"))
        z.writestr("split_config.en.apk", apk("com.example.notes", "impostor", name="trojan"))  # a second base
        z.writestr("universal.apk", apk("com.example.notes", "test-rsa", name="universal"))
    doc = run(rules, policy, tmp_path, target)
    first = next(a for a in doc["apps"] if a["source"]["chain"][-1] == "base.apk")
    found = mismatches(first)
    assert any("a second base APK of 'com.example.notes'" in f["message"]
               and "verified signers differ" in f["message"] and f["strength"] == "strong" for f in found)
    assert first["verdict"] == "review"


def test_a_bundletool_name_does_not_hide_a_split_name_given_twice_by_another_key(rules, policy, tmp_path, apk):
    target = tmp_path / "dup.apks"
    with zipfile.ZipFile(target, "w") as z:
        z.writestr("splits/base-master.apk", apk("com.example.notes", "test-rsa"))
        z.writestr("splits/base-master_2.apk", apk("com.example.notes", "impostor", name="2"))
        z.writestr("splits/base-en.apk", apk("com.example.notes", "test-rsa", "config.en"))
        z.writestr("splits/base-en_2.apk", apk("com.example.notes", "test-rsa", "config.en", name="2"))
    doc = run(rules, policy, tmp_path, target)
    first = next(a for a in doc["apps"] if a["source"]["chain"][-1] == "splits/base-master.apk")
    messages = " | ".join(f["message"] for f in mismatches(first))
    assert "a second base APK" in messages and "split name 'config.en' already given by" in messages
    assert first["verdict"] == "review"


@pytest.mark.parametrize("other", ["m.apk", "config.apk", "a.apk"])
def test_another_apk_sorting_between_base_and_splits_does_not_break_the_set(rules, policy, tmp_path, apk, other):
    """Review 48 F1: in a pulled folder, an APK named between ``base.apk`` and ``split_*`` closed
    the set: the base, the APK and the planted split were three allowed apps, the mismatch gone.
    Since review 90 F2 the other APK is a member of the set too (Android reads every ``*.apk`` of the
    folder): a whole other app in it, listed as its own app as well."""
    d = folder(tmp_path / "pull", {"base.apk": apk("com.example.notes", "test-rsa"),
                                   "split_config.en.apk": apk("com.example.notes", "impostor", "config.en"),
                                   other: apk("com.example.other", "test-rsa")})
    doc = run(rules, policy, tmp_path, d)
    app = bundle_app(doc)
    [f] = [f for f in mismatches(app) if "signers differ" in f["message"]]
    assert f["strength"] == "strong" and app["verdict"] == "review" and len(app["splits"]) == 1
    assert [a["package"] for a in doc["apps"]].count("com.example.other") == 1
