"""A split set stays open while the walk is inside its container (review 90 F1).

Android and SAI install every ``*.apk`` of a bundle wherever it lies in the ZIP. An APK of no set
(a ``.bin``, an APK in an OBB, a backup's ``f/`` file) or a bundle nested between the base and a
planted split closed the set: the split became a base-less group, base and split both allowed.
Every APK and container here is built in the test and signed with the test keys.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

import test_split_sets
from backup_helpers import AbWriter, manifest
from test_split_sets import bundle_app, folder, mismatches, run

apk = test_split_sets.apk  # the signed-APK builder fixture, shared


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def _planted(doc: dict) -> None:
    """One com.example.notes app: its base, the planted split compared with it (review)."""
    app = bundle_app(doc)
    assert [s["split"] for s in app["splits"]] == ["config.en"]
    [f] = [f for f in mismatches(app) if "signers differ" in f["message"]]
    assert app["verdict"] == "review" and f["strength"] == "strong"
    assert not any(w["code"] == "CONTAINER_BUNDLE_NO_BASE" for a in doc["apps"] for w in a.get("warnings", []))


def test_an_apk_of_no_set_between_base_and_split_keeps_the_set(rules, policy, tmp_path, apk):
    """t1 A: ``evil.bin`` (an APK by its bytes) between base.apk and the planted split of a SAI .apks."""
    target = tmp_path / "a.apks"
    target.write_bytes(_zip({"base.apk": apk("com.example.notes", "test-rsa"),
                             "evil.bin": apk("com.example.other", "test-rsa"),
                             "split_config.en.apk": apk("com.example.notes", "impostor", "config.en")}))
    doc = run(rules, policy, tmp_path, target)
    _planted(doc)
    assert [a["package"] for a in doc["apps"]].count("com.example.other") == 1  # scanned, as its own app


@pytest.mark.parametrize("middle", ["nested-apks", "obb"])
def test_a_container_between_base_and_split_keeps_the_set(rules, policy, tmp_path, apk, middle):
    """t2 C, D: a nested .apks (a set of its own, inside the outer one) or an OBB that is a ZIP of APKs."""
    inner = _zip({"base.apk" if middle == "nested-apks" else "a.apk": apk("com.example.other", "test-rsa")})
    name = "extra.apks" if middle == "nested-apks" else "Android/obb/com.example.notes/main.1.com.example.notes.obb"
    target = tmp_path / "c.xapk"
    target.write_bytes(_zip({"manifest.json": json.dumps({"package_name": "com.example.notes"}).encode(),
                             "com.example.notes.apk": apk("com.example.notes", "test-rsa"),
                             name: inner,
                             "config.en.apk": apk("com.example.notes", "impostor", "config.en")}))
    doc = run(rules, policy, tmp_path, target)
    _planted(doc)
    [other] = [a for a in doc["apps"] if a["package"] == "com.example.other"]
    assert other["verdict"] == "allowed" and not other["splits"]


def test_an_adb_backup_file_between_base_and_split_keeps_the_set(rules, policy, tmp_path, apk):
    """t4: an APK under ``apps/<pkg>/f/`` (no install set) streamed between ``a/base.apk`` and the split."""
    target = tmp_path / "device.ab"
    with target.open("wb") as out, AbWriter(out) as w:
        w.add("apps/com.example.notes/_manifest", manifest("com.example.notes", 1, [], True))
        w.add("apps/com.example.notes/a/base.apk", apk("com.example.notes", "test-rsa"))
        w.add("apps/com.example.notes/f/evil.apk", apk("com.example.other", "test-rsa"))
        w.add("apps/com.example.notes/a/split_config.en.apk", apk("com.example.notes", "impostor", "config.en"))
    _planted(run(rules, policy, Path(tmp_path), target))


def test_installs_interleaved_in_an_adb_backup_are_each_one_set(rules, policy, tmp_path, apk):
    """A set stays open beside another of the same container: an adb backup streaming another
    install's base between a base and its planted split still compares that split with its base."""
    target = tmp_path / "device.ab"
    with target.open("wb") as out, AbWriter(out) as w:
        w.add("apps/com.example.notes/_manifest", manifest("com.example.notes", 1, [], True))
        w.add("apps/com.example.notes/a/base.apk", apk("com.example.notes", "test-rsa"))
        w.add("apps/com.example.other/_manifest", manifest("com.example.other", 1, [], True))
        w.add("apps/com.example.other/a/base.apk", apk("com.example.other", "test-rsa"))
        w.add("apps/com.example.notes/a/split_config.en.apk", apk("com.example.notes", "impostor", "config.en"))
    doc = run(rules, policy, tmp_path, target)
    _planted(doc)
    other = bundle_app(doc, "com.example.other")
    assert other["verdict"] == "allowed" and not other["splits"]


def test_two_bundles_one_after_the_other_are_two_sets(rules, policy, tmp_path, apk):
    """The walk leaving a bundle still closes its set: the next bundle's planted split is its own set's."""
    first, second = tmp_path / "a.apks", tmp_path / "b.apks"
    first.write_bytes(_zip({"base.apk": apk("com.example.notes", "test-rsa"),
                            "split_config.en.apk": apk("com.example.notes", "test-rsa", "config.en")}))
    second.write_bytes(_zip({"base.apk": apk("com.example.other", "test-rsa"),
                             "split_config.en.apk": apk("com.example.other", "impostor", "config.en")}))
    doc = run(rules, policy, tmp_path, first, second)
    notes, other = bundle_app(doc), bundle_app(doc, "com.example.other")
    assert notes["verdict"] == "allowed" and mismatches(notes) == []
    assert other["verdict"] == "review" and len(mismatches(other)) == 1


# --- review 90 F2: a pulled install folder is every *.apk beside base.apk, whatever its name

@pytest.mark.parametrize("with_named_split", [True, False], ids=["beside-split_", "base-only"])
def test_an_odd_name_in_a_pulled_folder_is_compared_with_the_base(rules, policy, tmp_path, apk, with_named_split):
    """t6: ``extra.apk`` (split="config.fr", another key) was scanned as an allowed app of its own."""
    members = {"base.apk": apk("com.example.notes", "test-rsa"),
               "extra.apk": apk("com.example.notes", "impostor", "config.fr")}
    if with_named_split:
        members["split_config.en.apk"] = apk("com.example.notes", "test-rsa", "config.en")
    doc = run(rules, policy, tmp_path, folder(tmp_path / "pull", members))
    app = bundle_app(doc)
    assert sorted(s["split"] for s in app["splits"]) == (["config.en", "config.fr"] if with_named_split else ["config.fr"])
    [f] = mismatches(app)
    assert "extra.apk" in f["message"] and "signers differ" in f["message"] and app["verdict"] == "review"


def test_a_split_apk_in_no_set_is_said(rules, policy, tmp_path, apk):
    """A split APK outside any set (no base.apk beside it) is compared with no base: a warning says so."""
    d = folder(tmp_path / "loose", {"extra.apk": apk("com.example.notes", "impostor", "config.fr")})
    app = bundle_app(run(rules, policy, tmp_path, d))
    assert [w["code"] for w in app["warnings"]] == ["CONTAINER_BUNDLE_NO_BASE"]
    assert "in no split set" in app["warnings"][0]["message"]


# --- review 90 F4: a set is capped as AndroidQF's are

def test_a_set_past_256_apks_gives_the_rest_as_apps_of_their_own(rules, policy, tmp_path, apk):
    """Review 90 F4: a ZIP bundle's set had no cap (40,000 splits held whole: 567 MB). Past 256 APKs the
    rest are apps of their own, each said; none is dropped."""
    g, ax = test_split_sets._generate()
    target, total = tmp_path / "huge.apks", 260
    with zipfile.ZipFile(target, "w") as z:
        z.writestr("base.apk", apk("com.example.notes", "test-rsa"))
        for i in range(total - 1):
            attrs = [ax.Attr("package", "com.example.notes", android=False),
                     ax.Attr("split", f"config.s{i}", android=False)]
            z.writestr(f"split_config.s{i}.apk", g.build_unsigned(g.App("com.example.notes", None, package_attrs=attrs)))
    doc = run(rules, policy, tmp_path, target)
    notes = [a for a in doc["apps"] if a["package"] == "com.example.notes"]
    [base] = [a for a in notes if a["splits"]]
    own = [a for a in notes if a is not base]
    assert len(base["splits"]) == 255 and len(own) == total - 256  # 256 in the set, the rest listed
    assert all([w["code"] for w in a["warnings"]] == ["CONTAINER_BUNDLE_TOO_LARGE"] for a in own)
    assert {a["source"]["chain"][-1] for a in own} == {f"split_config.s{i}.apk" for i in range(255, total - 1)}
