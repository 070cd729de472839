"""Subject/issuer/publisher pattern keys are the attribute names certificates are read with
(review 64 F10).

The reader names attributes ``CN``, ``O``, ``OU`` ... (else the dotted OID). A pattern keyed ``o``
or ``organizationName`` never matched, yet ``rules lint`` passed it and ``rules test`` PASSed an
example written with the same key. Keys are now mapped (any case, long names, dotted OIDs) for
patterns and examples alike, and a key naming no attribute is refused. The APK is the signed
fixture ``clean-v1v2v3.apk`` (``O=Example Corp``).
"""

from __future__ import annotations

import pytest

from apkscan.apk.identify import identify
from apkscan.rules.loader import lint_file, load_ruleset
from apkscan.rules.matcher import match_identity
from apkscan.rules.selftest import run_examples
from cli_helpers import fixture

HEAD = """schema: apkscan-rules/1
pack: myorg
vendor: MyOrg
version: "1"
reviewed: "2026-11-28"
sources: {S: "x"}
"""


def _rule(rid: str, key: str, example_key: str = "O") -> str:
    return f"""  - id: myorg.{rid}
    app: {rid}
    match:
      subject: [{{{key}: "^Example Corp"}}]
    references: [S]
    examples:
      - {{package: com.example.clean, expect: {{strength: strong}},
         signers: [{{sha256: 3400f8cb881670708bd665c5ae32ae27bb3a1bac6b3f0dc572c6c1b2b796ba81, subject: {{{example_key}: Example Corp}}}}]}}
"""


KEYS = {"lower": "o", "long": "organizationName", "oid": "2.5.4.10", "upper": "O", "mixed": "ORGANIZATIONNAME"}


def test_common_spellings_match_a_real_certificate(tmp_path):
    path = tmp_path / "myorg.yaml"
    path.write_text(HEAD + "publisher:\n  - subject: {o: \"^Example Corp\"}\n    references: [S]\nrules:\n"
                    + "".join(_rule(r, k) for r, k in KEYS.items()))
    pack, errors = lint_file(path)
    assert errors == [] and pack is not None
    assert [list(r.subjects[0].attrs) for r in pack.rules] == [["O"]] * len(KEYS)
    assert list(pack.publishers[0].attrs) == ["O"]
    found = match_identity(identify(str(fixture("clean-v1v2v3.apk"))), load_ruleset([path]))
    assert sorted(f.rule for f in found if f.pack == "myorg") == sorted(f"myorg.{r}" for r in KEYS)


@pytest.mark.parametrize("where", ["rule", "publisher", "issuer", "example"])
def test_a_key_naming_no_attribute_is_refused(tmp_path, where):
    body = {"rule": "rules:\n" + _rule("x", "orgName"),
            "publisher": "publisher:\n  - subject: {Organisation: \"^Example\"}\n    references: [S]\nrules:\n" + _rule("x", "O"),
            "issuer": "rules:\n" + _rule("x", "O").replace("subject: [", "issuer: [{CN: x}]\n      subject: ["),
            "example": "rules:\n" + _rule("x", "O", example_key="orgname")}[where]
    if where == "issuer":
        body = body.replace("{CN: x}", "{cname: x}")
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + body)
    pack, errors = lint_file(path)
    assert pack is None and len(errors) == 1
    assert "names no certificate name attribute" in errors[0].message and errors[0].code == "RULES_INVALID"


def test_one_attribute_twice_in_a_pattern_is_refused(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(HEAD + "rules:\n" + _rule("x", "O").replace('{O: "^Example Corp"}', '{O: "^A", organizationName: "^B"}'))
    pack, errors = lint_file(path)
    assert pack is None and "already given in this pattern" in errors[0].message


def test_examples_are_read_as_certificates_are(tmp_path):
    """A lower-case example key is the same attribute as the pattern's: the example speaks about
    the certificate a scan reads, so a pattern that matches it matches the real one."""
    path = tmp_path / "ex.yaml"
    path.write_text(HEAD + "rules:\n" + _rule("upper", "O", example_key="o") + _rule("long", "organizationName", "commonName"))
    results = {r.rule: r for r in run_examples(load_ruleset([path], builtin=False))}
    assert results["myorg.upper"].passed, results["myorg.upper"].detail
    assert not results["myorg.long"].passed  # the example's Example Corp is a CN, not an O
