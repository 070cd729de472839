"""Review 65 M2: a Kaspersky legal name as a verified signer's ``O=`` is prohibited by choice,
and every report says the name is self-asserted.

No Kaspersky key is known, so the shipped policies let the name stand in for one (README "How
verdicts are decided"): a self-made key with ``O=Kaspersky Lab ZAO`` on a clean app is
``prohibited`` under the three Kaspersky measures. That stays; but the finding read "signed with
or carrying a known Kaspersky identity" and its basis plain ``subject``, the word a verified fact
gets. The message now says the name is self-asserted and no Kaspersky key is known, and the
reports show the basis as ``self-asserted subject``.
"""

from __future__ import annotations

from cli_helpers import run
from test_label_names import POLICIES
from test_match_strength import _apk, _app, _scan, gen  # noqa: F401

P, R, A = "prohibited", "review", "allowed"
KASPERSKY = dict(zip(POLICIES, [P, A, A, A, A, P, P, R]))


def test_a_kaspersky_name_on_a_self_made_key_is_prohibited_and_said_to_be_self_asserted(gen, tmp_path):  # noqa: F811
    """Real APKs signed by fixtures/keys/kaspersky-like (O=Kaspersky Lab ZAO, a test key): a
    clean package (the vendor finding) and a Kaspersky package (the app's own rule)."""
    _apk(gen, tmp_path, "clean.apk", "com.example.security", "Security", "kaspersky-like")
    _apk(gen, tmp_path, "kms.apk", "com.kms.free", "Security", "kaspersky-like")
    _, doc = _scan(tmp_path, tmp_path / "in", *[a for p in POLICIES for a in ("--policy", p)])
    for name, rule in [("clean.apk", "kaspersky.vendor"), ("kms.apk", None)]:
        app = _app(doc, name)
        assert {p: v["verdict"] for p, v in app["verdicts"].items()} == KASPERSKY, name  # the choice is kept
        (f,) = [f for f in app["findings"] if any(e["basis"] == "subject" for e in f["evidence"])]
        assert f["strength"] == "strong" and (rule is None or f["rule"] == rule)
        assert "self-asserted" in f["message"] and "no Kaspersky signing key is known" in f["message"], f["message"]
    # the terminal summary and the CSV show the basis as a name, not as a verified fact
    res = run("scan", "--no-store", "--csv", tmp_path / "k.csv", tmp_path / "in" / "clean.apk")
    assert res.returncode == 1, res.stderr
    assert "strong (self-asserted subject)" in res.stdout
    assert "self-asserted subject" in (tmp_path / "k.csv").read_text(encoding="utf-8-sig")
