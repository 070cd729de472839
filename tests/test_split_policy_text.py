"""Review 32 #6: the ``split-mismatch`` decision text of every shipped policy is true for every
reason the finding covers (another package, versionCode, a split name twice, a second base,
signers compared verified or, under ``--quick``, only as certificates present)."""

from __future__ import annotations

import pytest
from test_split_sets import CLEAN, apk, bundle_app, folder, mismatches  # noqa: F401

from apkscan.policy.loader import builtin_policies, load_policy
from apkscan.scan import scan
from apkscan.sources.files import FileSource
from apkscan.sources.walker import WalkOptions


def _text(name: str) -> str:
    (d,) = [d for d in load_policy(name).decisions if d.id == "split-mismatch"]
    return " ".join(d.text.split())


@pytest.mark.parametrize("name", builtin_policies())
def test_every_policy_names_every_reason_and_never_claims_a_verification(name):
    text = _text(name)
    assert "verified signers or names another package" not in text  # the old, narrower claim
    for reason in ("another package", "versionCode", "split name", "second base", "signers"):
        assert reason in text, (name, reason)
    assert "--quick only as certificates present, not verified" in text


def test_quick_and_duplicate_name_mismatches_carry_the_text(rules, tmp_path, apk):  # noqa: F811
    """Real bundles: a split signed by another key under --quick (nothing verified) and a split
    name given twice; under each shipped policy the verdict is review and its text is the one
    that names both cases."""
    planted = folder(tmp_path / "planted", {"base.apk": apk("com.example.notes", "test-rsa"),
                                            "split_config.en.apk": apk("com.example.notes", "impostor", "config.en")})
    dup = folder(tmp_path / "dup", {"base.apk": apk("com.example.notes", "test-rsa"),
                                    "split_config.en.apk": apk("com.example.notes", "test-rsa", "config.en"),
                                    "split_config.en2.apk": apk("com.example.notes", "test-rsa", "config.en", name="2")})
    policies = [load_policy(n) for n in builtin_policies()]
    for target, quick in ((planted, True), (dup, False)):
        opts = WalkOptions(tmp_dir=str(tmp_path / "spool"))
        result = scan([FileSource([str(target), str(CLEAN)], opts)], rules, policies[0], more_policies=policies[1:],
                      identify_options={"quick": True} if quick else None)
        doc = result.to_dict()
        app = bundle_app(doc)
        assert len(mismatches(app)) == 1
        for p in policies:
            v = app["verdicts"][p.name]
            assert (v["verdict"], v["decision"]) == ("review", "split-mismatch"), p.name
            assert " ".join(v["text"].split()) == _text(p.name)
