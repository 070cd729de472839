"""Issue 10 item 4: every row says which file it is and what kind of finding made the verdict."""

from __future__ import annotations

import csv
import io

import pytest
from cli_helpers import FIXTURES, copy, evidence_unchanged, fixture, generate_module, invoke  # noqa: F401

from apkscan.document import App
from apkscan.report import terminal, view

pytestmark = pytest.mark.usefixtures("evidence_unchanged")


def _csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_identical_apps_from_different_folders_are_told_apart(tmp_path):
    """Why #5: five identical "WeChat com.tencent.mm" rows, no way to tell which file."""
    for n in range(1, 6):
        copy("wechat-tencent-subject.apk", tmp_path / f"device-{n}" / "apps" / "base.apk")
    res = invoke("scan", tmp_path, "--no-color")
    assert res.exit_code == 1
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("prohibited")]
    assert len(lines) == 5
    shown = [next(w for w in ln.split() if w.endswith("base.apk")) for ln in lines]
    assert sorted(shown) == [f"device-{n}/apps/base.apk" for n in range(1, 6)]
    res = invoke("scan", tmp_path, "--csv", "-", "-q")
    rows = _csv_rows(res.stdout)
    assert sorted(r["file"] for r in rows) == sorted(shown)
    assert all(r["source"].endswith(r["file"]) and r["source"] != r["file"] for r in rows)  # full path kept
    # a self-made key with Tencent's subject on WeChat's package is an impersonation (keys over
    # names): that finding is the strongest, its basis the package and a key that is not Tencent's
    assert {r["kinds"] for r in rows} == {"impersonation app"}
    assert {r["basis"] for r in rows} == {"package; certificate (not the vendor's)"}
    assert {r["strength"] for r in rows} == {"strong"}


def test_short_names_are_unique_suffixes():
    names = view.short_names(["a/x/base.apk", "b/x/base.apk", "c/y.apk", "y.apk", "z.apk",
                              "dev.ab ▸ apps/com.tencent.mm/base.apk"])
    assert names["a/x/base.apk"] == "a/x/base.apk" and names["b/x/base.apk"] == "b/x/base.apk"
    assert names["c/y.apk"] == "c/y.apk" and names["y.apk"] == "y.apk" and names["z.apk"] == "z.apk"
    assert names["dev.ab ▸ apps/com.tencent.mm/base.apk"] == "com.tencent.mm/base.apk"
    assert len(set(names.values())) == len(names)


def _build_debug_signed_wechat(dest) -> None:
    generate = generate_module()
    work = dest.parent / "work"
    work.mkdir()
    unsigned = generate.build_unsigned(generate.App("com.tencent.mm", "WeChat"))
    dest.write_bytes(generate.sign(unsigned, work, ["android-debug"], v1=True, v2=True, v3=False, min_sdk=21))


def test_debug_signed_impostor_does_not_read_like_a_genuine_match(tmp_path):
    """Why #5: the debug-signed impostor read `prohibited strong ... Android`, like WeChat itself."""
    impostor = tmp_path / "in" / "wechat.apk"
    impostor.parent.mkdir()
    _build_debug_signed_wechat(impostor)
    genuine_like = copy("wechat-tencent-subject.apk", tmp_path / "in" / "wechat-tencent.apk")
    res = invoke("scan", impostor, genuine_like, "--no-color")
    rows = {name: ln for ln in res.stdout.splitlines() if ln.startswith("prohibited")
            for name in ("wechat.apk", "wechat-tencent.apk") if f" {name} " in ln}
    fake = rows["wechat.apk"]
    assert fake.split()[:3] == ["prohibited", "impersonation+app", "strong"], fake
    # the basis, as CSV and HTML say it (review 55 F10: a claim and a verified key read the same)
    assert " strong (package, certificate (not the vendor's)) " in fake
    assert "com.tencent.mm Android [debug key] " in fake and fake.rstrip().endswith("WeChat")
    # the Tencent-named self-made key is no excuse either: impersonation too, but not a debug key
    assert rows["wechat-tencent.apk"].split()[:3] == ["prohibited", "impersonation+app", "strong"]
    assert "[debug key]" not in rows["wechat-tencent.apk"]
    # a Tencent name on a key that is not Tencent's: marked, never like a genuine vendor key's
    assert "Tencent Technology(Shenzhen) Company Limited [name only: not a known vendor key]" in rows["wechat-tencent.apk"]
    rows = {r["file"]: r for r in _csv_rows(invoke("scan", impostor, genuine_like, "--csv", "-", "-q").stdout)}
    assert rows["wechat.apk"]["kinds"] == "impersonation app" and rows["wechat.apk"]["signer_debug"] == "yes"
    assert rows["wechat.apk"]["basis"] == "package; certificate (not the vendor's)"
    assert rows["wechat-tencent.apk"]["signer_debug"] == "no"
    html = tmp_path / "r.html"
    invoke("scan", impostor, "--html", html, "-q")
    text = html.read_text(encoding="utf-8")
    assert "[debug key]" in text and "impersonation, app" in text and "<code>wechat.apk</code>" in text


def test_csv_cells_count_repeated_codes():
    bomb = FIXTURES / "hostile" / "cases" / "zip-bomb-overlapping.apk"
    if not bomb.is_file():
        pytest.skip("hostile corpus not generated")
    res = invoke("scan", bomb, "--csv", "-", "-q")
    (row,) = _csv_rows(res.stdout)
    assert "TAMPER_OVERLAPPING_ENTRIES×21" in row["tamper"]
    assert row["tamper"].count("TAMPER_OVERLAPPING_ENTRIES") == 1


def test_narrow_terminal_never_cuts_verdict_kind_or_strength(tmp_path):
    copy("wechat-forged-cert.apk", tmp_path / "a-very-long-folder-name-for-the-evidence" / "base.apk")
    res = invoke("scan", tmp_path, "--json", "-", "-q")
    import json

    doc = json.loads(res.stdout)
    doc["apps"].append(dict(doc["apps"][0], source={"path": str(tmp_path / "other" / "base.apk")}))
    out = io.StringIO()
    terminal.render(doc, out, columns=60)
    lines = out.getvalue().splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.startswith("prohibited"))
    assert lines[i].split()[:3] == ["prohibited", "app+impersonation+forged-certificate", "weak"]
    assert lines[i].split()[-1].startswith("…") and lines[i].rstrip().endswith("/base.apk")  # cut from the left
    assert lines[i + 1].startswith("  com.tencent.mm · unverified: ")  # the label (free text) comes last


def test_basis_label_comes_from_the_basis_field_not_from_text():
    """Adversary: free text (a matched pattern, a location) starting with "not" must not relabel
    a vendor certificate; only the structured basis ``certificate-unknown`` reads "not the vendor's"."""
    def row(*evidence):
        f = {"rule": "tencent.wechat", "vendor": "Tencent", "app": "WeChat", "strength": "strong",
             "kind": "app", "evidence": list(evidence)}
        ident = {"path": "x.apk", "verified": False, "schemes": {}, "signers": [], "certificates_present": [],
                 "tamper": [], "errors": []}
        return view.app_row(0, App.from_json({"source": "x.apk", "verdict": "prohibited", "findings": [f],
                                              "identity": ident}))
    known = {"field": "signer.sha256", "value": "ab" * 32, "basis": "certificate", "matched": "not me",
             "verified": True}
    assert row(known).basis == ["certificate"]
    unknown = {"field": "signer.sha256", "value": "cd" * 32, "basis": "certificate-unknown",
               "matched": "TENCENT_WECHAT", "verified": True}
    assert row(unknown).basis == ["certificate (not the vendor's)"]


def test_the_file_column_tells_two_devices_base_apk_apart(tmp_path):
    """Review 55 F5: dev1/pull.zip and dev2/pull.zip each holding data/app/base.apk gave two rows
    reading ``base.apk``; the container's path takes part in the shortest unique suffix."""
    import zipfile

    for dev, apk in (("dev1", "wechat-impostor.apk"), ("dev2", "tiktok-bytedance-subject.apk")):
        (tmp_path / dev).mkdir()
        with zipfile.ZipFile(tmp_path / dev / "pull.zip", "w") as z:
            z.write(fixture(apk), "data/app/base.apk")
    pulls = [tmp_path / "dev1" / "pull.zip", tmp_path / "dev2" / "pull.zip"]
    rows = _csv_rows(invoke("scan", *pulls, "--csv", "-", "-q", "--no-store").stdout)
    assert sorted(r["file"] for r in rows) == ["dev1/pull.zip ▸ data/app/base.apk", "dev2/pull.zip ▸ data/app/base.apk"]
    out = invoke("scan", *pulls, "--no-color", "--no-store").stdout
    assert "dev1/pull.zip ▸ data/app/base.apk" in out and "dev2/pull.zip ▸ data/app/base.apk" in out


def test_only_a_claim_about_the_signer_marks_its_name(tmp_path):
    """Final read R1: the marker was set by any ``subject-present`` note, so a certificate merely
    present that names the vendor (its issuing CA in the PKCS#7 bag) marked a genuine vendor
    signer's name too. Read from the typed evidence: only a claim about the signer marks it."""
    import json

    from apkscan.document import ScanDocument
    from apkscan.report import view

    copy("wechat-tencent-subject.apk", tmp_path / "in" / "wechat-tencent.apk")
    out = tmp_path / "scan.json"
    res = invoke("scan", tmp_path / "in", "--json", out, "-q")
    assert res.exit_code == 1, res.output
    doc = json.loads(out.read_text("utf-8"))

    def shown(d: dict) -> str:
        (app,) = view.apps(ScanDocument.of(d))
        return app.publisher_shown

    assert shown(doc).endswith("[name only: not a known vendor key]")  # the signer's own name: a claim
    signer_claims = [e for a in doc["apps"] for f in a["findings"] for e in f["evidence"]
                     if e["basis"] == "subject-present" and e["field"].startswith("signer.")]
    assert signer_claims
    for e in signer_claims:  # the same name, but on a certificate only present beside the signer
        e["field"] = "present" + e["field"].removeprefix("signer")
    assert shown(doc) == "Tencent Technology(Shenzhen) Company Limited"
