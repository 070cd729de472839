"""Every verified signing key's name counts, not only the one apksigner prints (review 75 F1, F5).

apksigner prints the newest v3.1/v3 signer only. A v3 block may hold a signer per SDK range
(signer #1 for Android 9 under a Kaspersky-named key, #2 for Android 10+ under a plain one), and a
v3 signer may sit beside a v3.1 signer (v3 for SDK <= 32): each verifiably signed the app, and
Android installs it under that key on those versions. Their names were read as a certificate
merely present (a weak claim, ``review``) where the same key signing directly is ``prohibited``.
A name on such a key counts as a signer's, and the evidence says which signer it is.

The APKs are fixtures/apks/v3-only.apk and rotated-lineage.apk with their v3/v3.1 blocks rebuilt
and signed with the fixture keys (tests/v2_resign.py); apksigner verifies them.
"""

from __future__ import annotations

import csv
import io
import json

from cli_helpers import generate_module, invoke
from v2_resign import apksigner_agrees, v3_attributes, v3_with_keys, v31_rotation, write

ANY = 0x7FFFFFFF


def _app(scan_path, path) -> dict:
    [app] = scan_path(path)["apps"]
    return app


def _names(app: dict) -> list[dict]:
    return [e for f in app["findings"] for e in f["evidence"] if ".subject." in (e.get("field") or "")]


def test_a_v3_signer_for_older_android_versions_is_named_like_the_signer(scan_path, tmp_path):
    two = write(tmp_path, "two.apk", v3_with_keys([("kaspersky-like", 28), ("test-rsa", ANY)]))
    direct = write(tmp_path, "direct.apk", v3_with_keys([("kaspersky-like", ANY)]))
    apksigner_agrees(two, True)
    apksigner_agrees(direct, True)
    app, control = _app(scan_path, two), _app(scan_path, direct)
    assert control["verdict"] == "prohibited"
    assert app["verdict"] == control["verdict"], app["findings"]
    assert {(f["rule"], f["strength"]) for f in app["findings"]} == {(f["rule"], f["strength"]) for f in control["findings"]}
    # apksigner's signer list is unchanged: the newest signer only
    assert [c["subject_attrs"]["O"] for c in app["identity"]["signers"]] == [["Example Corp"]]
    [e] = _names(app)
    assert (e["field"], e["basis"], e["verified"]) == ("v3signer[1].subject.O", "subject", True)
    assert e["location"].startswith("verified v3 signer #1 (SDK "), e["location"]
    assert "28)" in e["location"]
    assert "another verified signer" in next(f["message"] for f in app["findings"])
    # the same bytes changed after signing (a stored entry's data): no signer verifies, none is named as one
    data = bytearray(two.read_bytes())
    at = data.index(b"apkscan fixture res")  # res/raw/notes.txt, stored
    data[at] ^= 1
    bad = write(tmp_path, "bad.apk", bytes(data))
    apksigner_agrees(bad, False)
    tampered = _app(scan_path, bad)
    assert not tampered["identity"]["verified"]
    names = _names(tampered)
    assert names and all(e["field"].startswith("present.") and e["basis"] == "subject-present" for e in names), names


def test_a_v3_signer_beside_a_v31_signer_is_named(scan_path, tmp_path):
    """v1/v2 test-rsa-old, v3 the Kaspersky-named key up to SDK 32, v3.1 test-rsa-new (lineage
    old -> new): apksig links only the v1/v2 signer to the lineage, so the v3 key stands alone."""
    spliced = write(tmp_path, "spliced.apk", v31_rotation(v3_key="kaspersky-like"))
    plain = write(tmp_path, "plain.apk", v31_rotation())
    apksigner_agrees(spliced, True)
    app = _app(scan_path, spliced)
    assert app["identity"]["verified"]
    assert app["verdict"] == "prohibited", app["findings"]
    [e] = _names(app)
    assert (e["field"], e["basis"]) == ("v3signer[1].subject.O", "subject")
    assert e["location"].startswith("verified v3 signer #1 (SDK "), e["location"]
    assert _app(scan_path, plain)["verdict"] == "allowed"  # the same layout with a plain v3 key


def test_a_node_of_the_v3_lineage_beside_a_v31_lineage_is_named(scan_path, tmp_path):
    """v3.1's lineage (old -> new) is the one that counts; the v3 signer (test-rsa-old, SDK <= 32)
    carries a lineage of its own, Kaspersky-named key -> old, signed by apksigner rotate. apksig
    keeps the v3.1 lineage and checks only its root against the v1/v2 signer; the Kaspersky key
    verifiably handed the app on, so its name counts, said as a node of the v3 lineage."""
    g = generate_module()
    unsigned = g.build_unsigned(g.App("com.example.notes", "Secure Notes", min_sdk=28))
    lineage = g.make_lineage(tmp_path, "kaspersky-like", "test-rsa-old")
    rotated = g.sign(unsigned, tmp_path, ["kaspersky-like", "test-rsa-old"], v1=False, v2=True, v3=True,
                     min_sdk=28, lineage=lineage)
    apk = write(tmp_path, "two-lineages.apk", v31_rotation(v3_attrs=v3_attributes(rotated)))
    apksigner_agrees(apk, True)
    app = _app(scan_path, apk)
    assert app["identity"]["verified"]
    assert app["verdict"] == "prohibited", app["findings"]
    [e] = _names(app)
    assert (e["field"], e["basis"]) == ("v3lineage[0].subject.O", "subject")
    assert e["location"].startswith("verified v3 lineage node 0"), e["location"]


def test_a_known_vendor_key_as_a_v3_signer_for_older_android_versions_is_the_vendors(tmp_path):
    """The vendor's key (the test pack's: test-rsa) signs for Android 9, another key from 10 on.
    It verifiably signed the app, so the key is ``confirmed``; it was called a forged certificate
    "in a signature that does not verify", located "(that signature verified)"."""
    from conftest import TEST_VENDOR_RULES

    from apkscan.apk.identify import identify
    from apkscan.policy.loader import load_policy
    from apkscan.rules.loader import load_ruleset
    from apkscan.scan import evaluate

    apk = write(tmp_path, "known.apk", v3_with_keys([("test-rsa", 28), ("test-rsa-new", ANY)]))
    apksigner_agrees(apk, True)
    (tmp_path / "testvendor.yaml").write_text(TEST_VENDOR_RULES)
    rules = load_ruleset([tmp_path / "testvendor.yaml"], builtin=False)
    result = evaluate(identify(str(apk)), rules, load_policy("vendor-watch"), source="x")
    assert [(f.kind, f.strength) for f in result.findings] == [("app", "confirmed")]
    [e] = result.findings[0].evidence
    assert (e.field, e.basis, e.verified) == ("v3signer[1].sha256", "certificate", True)
    assert e.location.startswith("verified v3 signer #1 (SDK ")


def test_a_name_on_a_key_rotated_away_from_marks_no_current_publisher(tmp_path):
    """F5: an app rotated FROM a ByteDance-named key TO Example Corp's: the claim is about the
    lineage node, so the current signer's publisher (the one shown) carries no claim marker,
    and the message and the evidence notes say lineage node."""
    g = generate_module()
    unsigned = g.build_unsigned(g.App("com.example.notes", "Secure Notes", min_sdk=28))
    lineage = g.make_lineage(tmp_path, "bytedance-like", "test-rsa-new")
    apk = tmp_path / "in" / "rot.apk"
    apk.parent.mkdir()
    apk.write_bytes(g.sign(unsigned, tmp_path, ["bytedance-like", "test-rsa-new"], v1=False, v2=True, v3=True,
                           min_sdk=28, lineage=lineage))
    out, html = tmp_path / "scan.json", tmp_path / "scan.html"
    res = invoke("scan", apk, "--no-store", "--json", out, "--csv", tmp_path / "scan.csv", "--html", html, "-q")
    assert res.exit_code in (0, 1), res.output
    [app] = json.loads(out.read_text("utf-8"))["apps"]
    [f] = app["findings"]
    assert [e["field"] for e in f["evidence"]] == ["lineage[0].subject.O"]
    assert "lineage node" in f["message"] and "a verified signer" not in f["message"], f["message"]
    [row] = csv.DictReader(io.StringIO((tmp_path / "scan.csv").read_text("utf-8-sig")))
    assert row["publisher"] == "Example Corp"
    page = html.read_text("utf-8")
    assert "verified lineage node 0, its name only a claim" in page  # the evidence note, not "present only"
    assert "[name only: not a known vendor key]" not in page
