"""A user pack listing keys under a shipped vendor's name (review 64 F2).

Kaspersky lists no public key, so the shipped pack identifies a Kaspersky app by a verified
signer's legal ``O=``. A shared rule file of ``vendor: Kaspersky`` listing one certificate for an
unrelated package made every Kaspersky signer "not a known vendor key" (a claim): ``prohibited``
fell to ``review`` with no word. Whether a vendor's name is only a claim on another key is now the
publishing pack's to say (it lists keys or not), both index paths of the matcher agree, the
prefilter lets the app through, and the added keys are announced with ``RULES_VENDOR_KEYS_ADDED``
on lint, on scan and in the scan document. The APK is the signed fixture (``O=Kaspersky Lab ZAO``).
"""

from __future__ import annotations

from pathlib import Path

from apkscan.apk.identify import identify
from apkscan.policy.loader import load_policy
from apkscan.rules.loader import load_ruleset
from apkscan.rules.matcher import match_identity
from apkscan.rules.prefilter import facts_of, prefilter_of
from cli_helpers import fixture, run

MYK = """schema: apkscan-rules/1
pack: myk
vendor: Kaspersky
version: "1"
reviewed: "2026-11-28"
sources: {S: "a Kaspersky key from a blog post"}
certificates:
  - id: MYK_KEY
    sha256: "a111111111111111111111111111111111111111111111111111111111111111"
    references: [S]
rules:
  - id: myk.internal
    app: Kaspersky Internal Tool
    match:
      package: [com.example.kaspersky.tool]
      certificates: [MYK_KEY]
    references: [S]
"""


def _pack(tmp_path: Path) -> Path:
    path = tmp_path / "myk.yaml"
    path.write_text(MYK)
    return path


def _vendor(findings) -> list[tuple[str, str]]:
    return [(f.rule, f.strength) for f in findings if f.pack == "kaspersky"]


def test_user_keys_do_not_demote_the_shipped_publisher(tmp_path):
    identity = identify(str(fixture("kaspersky-subject-notes.apk")))
    shipped, mixed = load_ruleset(), load_ruleset([_pack(tmp_path)])
    want = _vendor(match_identity(identity, shipped))
    assert want == [("kaspersky.vendor", "strong")]
    assert prefilter_of(mixed).could_match(facts_of(identity))
    for indexed in (True, False):  # rules.index.vendor_index and matcher's by_vendor
        found = match_identity(identity, mixed, indexed=indexed)
        assert _vendor(found) == want, indexed
        [e] = [e for f in found if f.pack == "kaspersky" for e in f.evidence if e.field == "signer.subject.O"]
        assert e.basis == "subject"  # not "subject-present": the verified signer's legal name
    from apkscan.evaluate import evaluate

    app = evaluate(identity, mixed, [load_policy("us-dhs-bod-17-01")], source="notes.apk")
    assert app.verdict == "prohibited"


def test_added_keys_are_announced(tmp_path):
    path = _pack(tmp_path)
    rules = load_ruleset([path])
    [note] = rules.notices
    assert note.code == "RULES_VENDOR_KEYS_ADDED" and "'myk'" in note.message and "kaspersky" in note.message
    [pack] = [p for p in rules.packs if p.name == "myk"]
    assert pack.meta()["notices"] == [f"RULES_VENDOR_KEYS_ADDED: {note.reason}"]  # in the scan document
    assert load_ruleset().notices == []  # the shipped packs alone: nothing to say
    lint = run("rules", "lint", path)
    assert lint.returncode == 0 and "warning: RULES_VENDOR_KEYS_ADDED:" in lint.stderr, lint.stderr
    scan = run("scan", fixture("kaspersky-subject-notes.apk"), "--rules", path, "--policy", "us-dhs-bod-17-01",
               "--no-store", "-q", "--fail-on", "prohibited")
    assert scan.returncode == 1 and "warning: RULES_VENDOR_KEYS_ADDED:" in scan.stderr, scan.stderr


MYBD = """schema: apkscan-rules/1
pack: mybd
vendor: ByteDance
version: "1"
reviewed: "2026-11-28"
sources: {S: "our org's ByteDance list"}
publisher:
  - subject: {O: '^musical\\.ly Inc\\.$'}
    references: [S]
rules:
  - id: mybd.lark
    app: Lark (internal note)
    match:
      package: [com.ss.android.lark]
    references: [S]
"""


def _subject_bases(found, pack: str) -> list[tuple[str, str, bool]]:
    return [(f.strength, e.basis, e.verified) for f in found if f.pack == pack
            for e in f.evidence if e.field == "signer.subject.O"]


def test_a_user_pack_without_keys_does_not_make_a_self_signed_name_the_vendors(tmp_path):
    """The mirror of F2 (final review 5 F1): a user pack of ``vendor: ByteDance`` with a publisher
    pattern and no key made ``O=musical.ly Inc.`` on a test key (listed by no pack) a verified,
    ``strong`` ``subject`` match, while the shipped pack called the same name a claim. ByteDance's
    shipped packs list keys, so the name on any other key is a claim in every pack."""
    from test_policy_resolution import signed_apk

    path = tmp_path / "mybd.yaml"
    path.write_text(MYBD)
    apk = signed_apk(tmp_path / "notes.apk", "com.example.notes", "Notes", "bytedance-like")
    identity = identify(str(apk))
    rules = load_ruleset([path])
    for indexed in (True, False):
        found = match_identity(identity, rules, indexed=indexed)
        shipped = _subject_bases(found, "bytedance")
        assert shipped == [("weak", "subject-present", False)], indexed
        assert _subject_bases(found, "mybd") == shipped, indexed
    # a user pack trusts every pack: another user file listing the vendor's keys makes the name a claim too
    keys, acme = tmp_path / "keys.yaml", tmp_path / "acme.yaml"
    keys.write_text(MYK.replace("pack: myk", "pack: keys").replace("Kaspersky", "Acme").replace("myk.", "keys."))
    acme.write_text(MYBD.replace("pack: mybd", "pack: acme").replace("ByteDance", "Acme").replace("mybd.", "acme."))
    both = match_identity(identity, load_ruleset([keys, acme], builtin=False))
    assert _subject_bases(both, "acme") == [("weak", "subject-present", False)]
    alone = match_identity(identity, load_ruleset([acme], builtin=False))
    assert [b for _, b, _ in _subject_bases(alone, "acme")] == ["subject"]  # no pack lists an Acme key: by name
